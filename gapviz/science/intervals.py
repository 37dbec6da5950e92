"""Calibrated 95% intervals: the gap's U-statistic (score and unified intervals) and Wilson intervals of proportions.

The squared gap θ = ‖μ_X − μ_Y‖² ≥ 0 is estimated without bias by the U-statistic U = mean_{i≠j}⟨d_i, d_j⟩,
d_i = x_i − ȳ_i (an image minus the mean of its captions). Its variance at θ follows Hoeffding's
decomposition, Var(U | θ) = 4θσ_u²/n + 2 tr(Σ²)/(n(n−1)), with σ_u² the variance of d along the gap and
tr(Σ²) estimated without bias from a Gram matrix. A percentile bootstrap is not used here: it triples the
variance of a degenerate U-statistic near θ = 0 and over-covers. Two intervals invert that variance:

- the *score* interval {θ : |U − θ| ≤ z·sd(θ)}, which may reach below 0 and always contains the signed U;
- the *unified* interval (Feldman & Cousins 1998): θ ≥ 0, likelihood-ratio ordering, never empty, one-sided
  (an upper bound) when U is near or below 0 and two-sided when it is far above it.

Coverage of both is measured by simulation (tests/science/test_calibration.py; the table in docs/science.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from gapviz.science.linalg import mm

LEVEL = 0.95
Z95 = 1.959963984540054
"""The two-sided 95% normal quantile."""
MOMENT_MAX_ROWS = 1024
"""Rows of d whose Gram matrix estimates tr(Σ²): unbiased on any subsample, O(rows²·D)."""
UNIFIED_M_MAX = 6.0
"""Beyond this many standard deviations from 0 the unified acceptance region is the central one."""
_GRID = 4001


@functools.lru_cache(maxsize=4)
def unified_bands(level: float = LEVEL, points: int = 1201) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feldman–Cousins acceptance regions [x1(m), x2(m)] of x ~ N(m, 1), m ≥ 0, on a grid of m in [0, UNIFIED_M_MAX].

    Ordering by R = p(x | m) / p(x | max(0, x)): log R = −(x − m)²/2 for x ≥ 0 and m·x − m²/2 below 0, so the
    region of threshold c is x2 = m + √(−2c) and x1 = m − √(−2c) or, on the linear branch, (c + m²/2)/m.
    c is found by bisection so the region holds ``level`` of the probability.
    """
    m = np.linspace(0.0, UNIFIED_M_MAX, points)
    lo, hi = np.full(points, -60.0), np.full(points, -1e-12)
    for _ in range(80):
        c = (lo + hi) / 2.0
        x1, x2 = _region(m, c)
        too_much = ndtr(x2 - m) - ndtr(x1 - m) > level
        lo = np.where(too_much, c, lo)
        hi = np.where(too_much, hi, c)
    x1, x2 = _region(m, (lo + hi) / 2.0)
    return m, x1, x2


def _region(m: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    half = np.sqrt(-2.0 * c)
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = np.where(m > 0, (c + m * m / 2.0) / np.where(m > 0, m, 1.0), -np.inf)
    return np.where(m - half >= 0, m - half, linear), m + half


@dataclass(frozen=True)
class UStatVariance:
    """Var(U | θ) = slope·θ + floor: slope = 4σ_u²/n, floor = 2 tr(Σ²)/(n(n−1))."""

    slope: float
    floor: float

    def sd(self, theta: np.ndarray | float) -> np.ndarray:
        """Standard deviation of U when the squared gap is θ (θ below 0 is read as 0)."""
        return np.sqrt(self.slope * np.maximum(theta, 0.0) + self.floor)


def offdiag_moments(kernel: np.ndarray) -> tuple[float, float, float]:
    """(A, B, C): the distinct-index means of h_ij², h_ij·h_ik and h_ij·h_kl of a symmetric kernel matrix.

    Unbiased for E h², E[h(z₁,z₂)h(z₁,z₃)] and (E h)², the moments of a U-statistic's variance (Hoeffding 1948).
    """
    g = np.array(kernel, dtype=np.float64)
    n = len(g)
    np.fill_diagonal(g, 0.0)
    total, row, sq = g.sum(), g.sum(axis=1), g * g
    sq_total, sq_row = sq.sum(), sq.sum(axis=1)
    triples = float((row * row - sq_row).sum())
    a = sq_total / (n * (n - 1))
    b = triples / (n * (n - 1) * (n - 2))
    c = (total * total - 2.0 * sq_total - 4.0 * triples) / (n * (n - 1) * (n - 2) * (n - 3))
    return float(a), float(b), float(c)


def trace_sigma_squared(d: np.ndarray) -> float:
    """Unbiased tr(Σ²) of the rows' covariance: A − 2B + C of their Gram matrix (offdiag_moments)."""
    if len(d) < 4:
        return float("nan")
    a, b, c = offdiag_moments(mm(d, d.T))
    return a - 2.0 * b + c


def moment_rows(n: int, seed: int = 0, max_rows: int = MOMENT_MAX_ROWS) -> np.ndarray:
    """The seeded rows of d whose Gram matrix estimates tr(Σ²) (every row up to ``max_rows``)."""
    return np.arange(n) if n <= max_rows else np.random.default_rng(seed + 11).choice(n, max_rows, replace=False)


def along_variance(d: np.ndarray, mean: np.ndarray) -> float:
    """σ_u²: the variance (ddof 1) of the rows of d along the direction of ``mean`` (the first axis when 0)."""
    norm = float(np.linalg.norm(mean))
    u = mean / norm if norm > 0 else np.eye(len(mean))[0]
    return float((np.asarray(d, dtype=np.float64) @ u).var(ddof=1)) if len(d) > 1 else float("nan")


def u_variance(d: np.ndarray, seed: int = 0, max_rows: int = MOMENT_MAX_ROWS) -> UStatVariance:
    """The variance model of U over the n rows of d: tr(Σ²) on a seeded subsample, σ_u² on every row."""
    d64 = np.asarray(d, dtype=np.float64)
    return variance_model(
        len(d), along_variance(d64 - d64.mean(axis=0), d64.mean(axis=0)), d[moment_rows(len(d), seed, max_rows)]
    )


def variance_model(n: int, sigma_u2: float, d_rows: np.ndarray) -> UStatVariance:
    """Var(U | θ) for n rows from σ_u² and the rows ``d_rows`` (moment_rows of d) that estimate tr(Σ²)."""
    tr2 = trace_sigma_squared(np.ascontiguousarray(d_rows, dtype=np.float32 if d_rows.dtype != np.float64 else None))
    if not np.isfinite(tr2) or tr2 <= 0:
        rows64 = np.asarray(d_rows, dtype=np.float64)
        centred = rows64 - rows64.mean(axis=0)
        tr2 = float(np.sum(mm(centred.T, centred) ** 2)) / max(len(rows64) - 1, 1) ** 2
    return UStatVariance(slope=4.0 * sigma_u2 / n, floor=2.0 * tr2 / (n * (n - 1)))


def score_interval(u: float, var: UStatVariance, z: float = Z95) -> list[float]:
    """{θ : |u − θ| ≤ z·sd(θ)}: the signed U's interval (Wilson-style, the variance taken at θ); contains u."""
    root_floor = z * np.sqrt(var.floor)
    disc = z * z * var.slope * u + (z * z * var.slope) ** 2 / 4.0 + z * z * var.floor
    centre = u + z * z * var.slope / 2.0
    hi = centre + np.sqrt(disc) if disc >= 0 and centre + np.sqrt(disc) >= 0 else u + root_floor
    lo = u - root_floor if u - root_floor <= 0 else centre - np.sqrt(max(disc, 0.0))
    return [float(lo), float(hi)]


def unified_interval(u: float, var: UStatVariance, level: float = LEVEL) -> list[float]:
    """Feldman–Cousins interval of θ ≥ 0 from u, the variance taken at each θ; never empty, contains max(0, u)."""
    if not (np.isfinite(u) and np.isfinite(var.slope) and np.isfinite(var.floor)) or var.floor <= 0:
        return [float("nan"), float("nan")]
    m_grid, x1, x2 = unified_bands(level)
    s_point = float(var.sd(max(u, 0.0)))
    s_wide = float(var.sd(max(u, 0.0) + 12.0 * s_point))
    theta = np.linspace(max(0.0, u - 14.0 * s_wide), max(u, 0.0) + 14.0 * s_wide, _GRID)
    sd = var.sd(theta)
    m = theta / sd
    central = m >= UNIFIED_M_MAX
    x_lo = np.where(central, m - Z95, np.interp(np.minimum(m, UNIFIED_M_MAX), m_grid, np.maximum(x1, -1e12)))
    x_hi = np.where(central, m + Z95, np.interp(np.minimum(m, UNIFIED_M_MAX), m_grid, x2))
    accepted = theta[(u / sd >= x_lo) & (u / sd <= x_hi)]
    if not len(accepted):
        return [0.0, float(theta[1])]
    lo, hi = float(accepted.min()), float(accepted.max())
    return [min(lo, max(u, 0.0)), max(hi, max(u, 0.0))]


def wilson_interval(proportion: float, n: float, z: float = Z95) -> list[float]:
    """Wilson's score interval of a proportion over n independent units: inside [0, 1], never zero-width."""
    if not (np.isfinite(proportion) and n >= 1):
        return [float("nan"), float("nan")]
    p = min(max(float(proportion), 0.0), 1.0)
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denom
    half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    lo = 0.0 if p == 0.0 else max(0.0, centre - half)
    hi = 1.0 if p == 1.0 else min(1.0, centre + half)
    return [float(lo), float(hi)]
