"""Fits of a gap curve over time (Yaras et al.'s bound, exponential, power law): RMSE and AIC, no winner forced.

Pure: numpy and scipy; no IO.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import curve_fit


@dataclass(frozen=True)
class Fit:
    """A least-squares fit of a gap curve; ``predict`` evaluates it at any t >= 0."""

    name: str
    """The formula, e.g. "a·t^(−p) + c"."""
    params: dict[str, float]
    r2: float
    rmse: float
    function: Callable[..., np.ndarray] = field(repr=False, compare=False)
    points: int = 0
    errors: dict[str, float] = field(default_factory=dict)
    """Standard errors of ``params`` from the fit's covariance (empty when the fit gives none)."""

    @property
    def aic(self) -> float:
        """Akaike's criterion for Gaussian residuals, n·ln(RSS/n) + 2k (lower is better; compare on the same points)."""
        if self.points <= 0:
            return math.nan
        rss = max(self.rmse**2 * self.points, 1e-300)
        return self.points * math.log(rss / self.points) + 2 * len(self.params)

    def predict(self, t: np.ndarray | float) -> np.ndarray:
        return self.function(np.asarray(t, dtype=float), *self.params.values())


def fit_exponential(t: Sequence[float] | np.ndarray, gap: Sequence[float] | np.ndarray, *, offset: bool = False) -> Fit:
    """Fit gap ≈ a·exp(−b·t) (+ c with ``offset``: the plateau it would settle at), a, b, c ≥ 0."""
    t, gap = _clean(t, gap)
    names = ("a", "b", "c") if offset else ("a", "b")
    bounds = ([0.0] * len(names), [np.inf] * len(names))
    span = float(t[-1] - t[0]) or 1.0
    starts = []
    for b0 in np.logspace(-3, 2, 6) / span:
        if offset:
            starts.append(
                [max(float(gap[0] - gap[-1]), 1e-6) * math.exp(min(b0 * t[0], 50.0)), b0, max(float(gap.min()), 0.0)]
            )
        else:
            starts.append([max(float(gap[0]), 1e-6) * math.exp(min(b0 * t[0], 50.0)), b0])
    return _best_fit("a·exp(−b·t)" + (" + c" if offset else ""), names, _exponential, t, gap, starts, bounds)


def fit_power_law(t: Sequence[float] | np.ndarray, gap: Sequence[float] | np.ndarray) -> Fit:
    """Fit gap ≈ a·t^(−p) + c, a, p, c ≥ 0 (t > 0 only): a slow algebraic closing to a plateau c."""
    t, gap = _clean(t, gap)
    keep = t > 0
    t, gap = t[keep], gap[keep]
    names = ("a", "p", "c")
    starts = [
        [max(float(gap[0] - gap[-1]), 1e-6) * float(t[0]) ** p0, p0, max(float(gap.min()) * f, 0.0)]
        for p0 in (0.1, 0.5, 1.0, 2.0)
        for f in (0.0, 0.9)
    ]
    return _best_fit("a·t^(−p) + c", names, _power_law, t, gap, starts, ([0.0, 0.0, 0.0], [np.inf, 20.0, np.inf]))


def fit_log_bound(t: Sequence[float] | np.ndarray, gap: Sequence[float] | np.ndarray) -> Fit:
    """Fit gap ≈ a / log²t (t > 1 only), the shape of Yaras et al.'s bound: one parameter, closed-form least squares."""
    t, gap = _clean(t, gap)
    keep = t > 1.0
    t, gap = t[keep], gap[keep]
    if t.size < 3:
        raise ValueError("a / log²t needs at least 3 points with t > 1")
    u = 1.0 / np.log(t) ** 2
    a = float(max(np.sum(gap * u) / np.sum(u * u), 0.0))
    residual = gap - a * u
    rmse = float(np.sqrt(np.mean(residual**2)))
    total = float(np.sum((gap - gap.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total > 0 else float(rmse == 0.0)
    return Fit("a / log²t", {"a": a}, r2, rmse, _log_bound, int(t.size))


def fit_log_bound_offset(t: Sequence[float] | np.ndarray, gap: Sequence[float] | np.ndarray) -> Fit:
    """Fit gap ≈ a / log²t + c (t > 1 only), a, c ≥ 0: the bound's shape over a plateau."""
    t, gap = _clean(t, gap)
    keep = t > 1.0
    t, gap = t[keep], gap[keep]
    if t.size < 3:
        raise ValueError("a / log²t + c needs at least 3 points with t > 1")
    starts = [
        [max(float(gap[0] - gap[-1]), 1e-6) * float(np.log(t[0]) ** 2), max(float(gap.min()) * f, 0.0)]
        for f in (0.0, 0.9)
    ]
    return _best_fit("a / log²t + c", ("a", "c"), _log_bound, t, gap, starts, ([0.0, 0.0], [np.inf, np.inf]))


CANDIDATE_FITS: dict[str, Callable[..., Fit]] = {
    "a / log²t": fit_log_bound,
    "a / log²t + c": fit_log_bound_offset,
    "a·exp(−b·t) + c": lambda t, gap: fit_exponential(t, gap, offset=True),
    "a·t^(−p) + c": fit_power_law,
}
"""The three shapes compared on the slow phase, by RMSE and AIC, with no winner forced."""


def candidate_fits(t: Sequence[float] | np.ndarray, gap: Sequence[float] | np.ndarray) -> dict[str, Fit]:
    """Every candidate fit that converges on (t, gap), by formula."""
    fits = {}
    for name, fit_fn in CANDIDATE_FITS.items():
        try:
            fits[name] = fit_fn(t, gap)
        except ValueError:
            continue
    return fits


def _log_bound(t: np.ndarray, a: float, c: float = 0.0) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / np.log(t) ** 2 + c


def _power_law(t: np.ndarray, a: float, p: float, c: float) -> np.ndarray:
    with np.errstate(divide="ignore", over="ignore"):
        return a * np.power(t, -p) + c


def _exponential(t: np.ndarray, a: float, b: float, c: float = 0.0) -> np.ndarray:
    return a * np.exp(-b * t) + c


def _best_fit(name, names, function, t, gap, starts, bounds) -> Fit:
    """The lowest-RMSE fit over several starting points (curve_fit only finds a local optimum)."""
    best = None
    for p0 in starts:
        p0 = np.clip(np.asarray(p0, dtype=float), bounds[0], bounds[1])
        try:
            with np.errstate(all="ignore"):
                params, covariance = curve_fit(function, t, gap, p0=p0, bounds=bounds, maxfev=20_000)
        except (RuntimeError, ValueError, FloatingPointError):
            continue
        residual = gap - function(t, *params)
        rmse = float(np.sqrt(np.mean(residual**2)))
        if not math.isfinite(rmse) or (best is not None and rmse >= best.rmse):
            continue
        total = float(np.sum((gap - gap.mean()) ** 2))
        r2 = 1.0 - float(np.sum(residual**2)) / total if total > 0 else float(rmse == 0.0)
        with np.errstate(invalid="ignore"):
            errors = np.sqrt(np.diag(covariance))
        best = Fit(
            name,
            {k: float(v) for k, v in zip(names, params, strict=True)},
            r2,
            rmse,
            function,
            int(t.size),
            {k: float(e) for k, e in zip(names, errors, strict=True)},
        )
    if best is None:
        raise ValueError(f"could not fit {name} to the curve")
    return best


def _clean(t, gap) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t, dtype=float).ravel()
    gap = np.asarray(gap, dtype=float).ravel()
    if t.shape != gap.shape:
        raise ValueError(f"t and gap must have the same length, got {t.size} and {gap.size}")
    keep = np.isfinite(t) & np.isfinite(gap)
    t, gap = t[keep], gap[keep]
    if t.size < 3:
        raise ValueError(f"need at least 3 finite points to fit, got {t.size}")
    if np.any(t < 0):
        raise ValueError("t must be >= 0")
    order = np.argsort(t)
    return t[order], gap[order]
