"""Kernel U-statistics on seeded subsamples, each with an interval: uniformity and the distribution gap.

Both need all pairs of rows, so on large sets they are computed on at most UNIFORMITY_MAX_ROWS rows
per modality (DISTRIBUTION_MAX_PAIRS pairs for the distribution gap). Uniformity's interval is the
percentile bootstrap of the subsampled estimate; the distribution gap's is normal with a half-sample
variance (half_sample_variance), since centring each modality on its own mean defeats the bootstrap.
Its ~300 subset estimates (jackknife halves within variance halves) are one batch of matrix products
(_PairKernels.plains); _PairKernels.plain is the one-subset definition they are tested against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp

from gapviz.science.estimators import percentile_interval, resample_counts
from gapviz.science.intervals import Z95
from gapviz.science.linalg import mm

UNIFORMITY_MAX_ROWS = 1024
DISTRIBUTION_MAX_PAIRS = 1024
MIN_PAIRS_FOR_INTERVAL = 16


def subsample(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``limit`` of ``n`` rows (all of them when n ≤ limit)."""
    return np.arange(n) if n <= limit else np.sort(rng.choice(n, limit, replace=False))


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a32, b32 = np.asarray(a, np.float32), np.asarray(b, np.float32)
    twice = mm(a32, b32.T)
    twice *= 2.0
    sq = (a32 * a32).sum(1)[:, None] + (b32 * b32).sum(1)[None, :]
    sq -= twice
    out = sq.astype(np.float64)
    return np.maximum(out, 0.0, out=out)


def _log_weighted_sum(logits: np.ndarray, wa: np.ndarray, wb: np.ndarray, same: bool) -> np.ndarray:
    """log Σ_{i,j} wa_i wb_j exp(logits_ij) per resample row, skipping i == j when ``same``; shifted to stay finite."""
    keep = ~np.eye(len(logits), dtype=bool) if same else np.ones(logits.shape, dtype=bool)
    shift = float(logits[keep].max()) if keep.any() else 0.0
    k = np.exp(np.where(keep, logits - shift, -np.inf)).astype(np.float32)
    weighted = (mm(np.asarray(wa, np.float32), k).astype(np.float64) * wb).sum(axis=1)
    with np.errstate(divide="ignore"):
        return shift + np.log(weighted)


def _log_means(logits: dict[str, np.ndarray], weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """log of the (weighted, i≠j within a modality) mean of exp(logits) per modality and for the union."""
    wx, wy = weights["x"], weights["y"]
    l_xx = _log_weighted_sum(logits["xx"], wx, wx, True)
    l_yy = _log_weighted_sum(logits["yy"], wy, wy, True)
    l_xy = _log_weighted_sum(logits["xy"], wx, wy, False)
    p_xx, p_yy = wx.sum(1) ** 2 - (wx * wx).sum(1), wy.sum(1) ** 2 - (wy * wy).sum(1)
    p_xy = wx.sum(1) * wy.sum(1)
    joint = logsumexp(np.stack([l_xx, l_yy, l_xy + np.log(2.0)]), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "uniformity_image": l_xx - np.log(p_xx),
            "uniformity_text": l_yy - np.log(p_yy),
            "uniformity_joint": joint - np.log(p_xx + p_yy + 2.0 * p_xy),
        }


def uniformities(
    x: np.ndarray,
    y: np.ndarray,
    *,
    t: float = 2.0,
    n_resamples: int = 0,
    seed: int = 0,
    max_rows: int = UNIFORMITY_MAX_ROWS,
) -> dict[str, Any]:
    """Wang & Isola uniformity of images, captions and their union, with ``<key>_ci95`` when resampling.

    ``uniformity_n`` is the image rows used (at most ``max_rows``; captions are capped alike).
    """
    rng = np.random.default_rng(seed + 2)
    xs, ys = x[subsample(len(x), max_rows, rng)], y[subsample(len(y), max_rows, rng)]
    if len(xs) < 2 or len(ys) < 2:
        keys = ("uniformity_image", "uniformity_text", "uniformity_joint")
        return {**{k: float("nan") for k in keys}, "uniformity_n": float(len(xs))}
    logits = {"xx": -t * _sq_dists(xs, xs), "yy": -t * _sq_dists(ys, ys), "xy": -t * _sq_dists(xs, ys)}
    point = _log_means(logits, {"x": np.ones((1, len(xs))), "y": np.ones((1, len(ys)))})
    out: dict[str, Any] = {k: float(v[0]) for k, v in point.items()}
    out["uniformity_n"] = float(len(xs))
    if n_resamples > 0:
        parts: dict[str, list[np.ndarray]] = {k: [] for k in point}
        draws = zip(
            resample_counts(len(xs), n_resamples, seed + 3),
            resample_counts(len(ys), n_resamples, seed + 4),
            strict=True,
        )
        for wx, wy in draws:
            for key, values in _log_means(logits, {"x": wx.astype(np.float64), "y": wy.astype(np.float64)}).items():
                parts[key].append(values)
        out.update({f"{k}_ci95": percentile_interval(np.concatenate(v)) for k, v in parts.items()})
    return out


JACKKNIFE_SPLITS = 4
"""Random half-splits whose half-sample estimates give the distribution gap's 1/n bias (Quenouille's jackknife)."""
VARIANCE_SPLITS = 16
"""Random half-splits whose two disjoint halves give the distribution gap's variance at n/2."""


_CLAMP_MARGIN = 1e-9
"""Pairs whose centred distance can get this close to 0 in some subset are checked for plain's clamp one by one."""
_CLAMP_CHUNK = 4096


@dataclass(frozen=True)
class _PairKernels:
    """What every subset's distribution gap is built from: the raw distance blocks, the cross block centred on all
    rows (``cross``, its kernel ``cross_kernel``; ``gap`` is the mean gap used), and one shared RBF bandwidth.

    The kernel blocks have a zero diagonal: the U-statistic sums pairs i ≠ j only."""

    x: np.ndarray
    y: np.ndarray
    within: np.ndarray
    d_xy: np.ndarray
    cross: np.ndarray
    cross_kernel: np.ndarray
    gap: np.ndarray
    bandwidth: float

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> _PairKernels:
        """RBF blocks with the median pooled squared distance (within each modality and across, once centred)."""
        d_xx, d_yy, d_xy = _sq_dists(x, x), _sq_dists(y, y), _sq_dists(x, y)
        cross = _centred_cross(x, y, d_xy, np.arange(len(x)))
        upper = np.triu_indices(len(x), 1)
        pooled = np.concatenate([d_xx[upper], d_yy[upper], cross.ravel()])
        positive = pooled[pooled > 0]
        bandwidth = float(np.median(positive)) if len(positive) else 1.0
        within = np.exp(np.divide(d_xx, -bandwidth, out=d_xx), out=d_xx)
        within += np.exp(np.divide(d_yy, -bandwidth, out=d_yy), out=d_yy)
        cross_kernel = np.divide(cross, -bandwidth)
        np.exp(cross_kernel, out=cross_kernel)
        np.fill_diagonal(within, 0.0)
        np.fill_diagonal(cross_kernel, 0.0)
        return cls(x, y, within, d_xy, cross, cross_kernel, _mean_gap(x, y), bandwidth)

    def plain(self, rows: np.ndarray) -> float:
        """The U-statistic over ``rows`` with each modality centred on those rows' mean: H_ij = k(x_i,x_j) +
        k(y_i,y_j) − k(x_i,y_j) − k(x_j,y_i), pairs i ≠ j (the centred distance clamped at 0 against round-off)."""
        k_xy = np.exp(-np.maximum(_centred_cross(self.x, self.y, self.d_xy, rows), 0.0) / self.bandwidth)
        h = self.within[np.ix_(rows, rows)] - k_xy - k_xy.T
        m = len(rows)
        return float((h.sum() - np.trace(h)) / (m * (m - 1)))

    def plains(self, subsets: list[np.ndarray]) -> np.ndarray:
        """``plain`` of every subset at once, as bilinear forms of the all-rows blocks: no exp or gather per subset.

        Centring on a subset instead of all rows moves c_ij by −h·(α_i + β_j + γ), so its cross kernel is
        cross_kernel_ij·e^α_i·e^β_j·e^γ; with the subsets' 0/1 columns w, the sums are wᵀ·within·w and
        (w e^α)ᵀ·cross_kernel·(w e^β)·e^γ, two matrix products for all subsets."""
        w = np.zeros((len(self.x), len(subsets)))
        for t, rows in enumerate(subsets):
            w[rows, t] = 1.0
        m = w.sum(axis=0)
        alpha, beta, gamma = self._exponents(w, m)
        within = (w * mm(self.within, w)).sum(axis=0)
        cross = (w * np.exp(alpha) * mm(self.cross_kernel, w * np.exp(beta))).sum(axis=0) * np.exp(gamma)
        cross += self._clamp_correction(w, alpha, beta, gamma)
        return (within - 2.0 * cross) / (m * (m - 1))

    def _exponents(self, w: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """α, β (rows × subsets) and γ (subsets): centring on each subset moves c_ij by −h·(α_i + β_j + γ)."""
        x, y = self.x.astype(np.float64), self.y.astype(np.float64)
        gap = mm((x - y).T, w) / m
        both = mm(np.concatenate([x, y]), gap - self.gap[:, None]) * (2.0 / self.bandwidth)
        gamma = -((gap * gap).sum(axis=0) - float(self.gap @ self.gap)) / self.bandwidth
        return both[: len(x)], -both[len(x) :], gamma

    def _clamp_correction(self, w: np.ndarray, alpha: np.ndarray, beta: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """What plain's clamp adds to each subset's cross sum: 1 − e^(−c/h) for pairs i ≠ j centred below 0.

        Only pairs within _CLAMP_MARGIN of 0 under the subsets' largest shifts can be clamped (none, on most data)."""
        h = self.bandwidth
        floor = -h * np.log(self.cross_kernel.max())  # the least c_ij, i ≠ j (the kernel's diagonal is 0)
        if floor - h * (alpha.max() + beta.max() + gamma.max()) >= _CLAMP_MARGIN:
            return np.zeros(w.shape[1])
        low = self.cross - h * (alpha.max(axis=1)[:, None] + beta.max(axis=1)[None, :] + gamma.max()) < _CLAMP_MARGIN
        np.fill_diagonal(low, False)
        rows, cols = np.nonzero(low)
        total = np.zeros(w.shape[1])
        for start in range(0, len(rows), _CLAMP_CHUNK):
            i, j = rows[start : start + _CLAMP_CHUNK], cols[start : start + _CLAMP_CHUNK]
            c = self.cross[i, j][:, None] - h * (alpha[i] + beta[j] + gamma)
            total -= (np.expm1(-np.minimum(c, 0.0) / h) * w[i] * w[j]).sum(axis=0)
        return total


def _jackknife_subsets(rows: np.ndarray, rng: np.random.Generator, splits: int) -> list[np.ndarray]:
    """``rows``, then both halves of each of ``splits`` random half-splits of them, sorted, in the order drawn."""
    subsets = [rows]
    for _ in range(splits):
        order = rng.permutation(rows)
        subsets += [np.sort(order[: len(rows) // 2]), np.sort(order[len(rows) // 2 :])]
    return subsets


def _jackknife(values: np.ndarray) -> float:
    """2·T(rows) − mean T(half) from the statistic on _jackknife_subsets (T(rows) itself when there are no splits)."""
    return float(values[0]) if len(values) == 1 else 2.0 * float(values[0]) - float(np.mean(values[1:]))


def _mean_gap(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x̄ − ȳ in float64."""
    return x.astype(np.float64).mean(axis=0) - y.astype(np.float64).mean(axis=0)


def _centred_cross(x: np.ndarray, y: np.ndarray, d_xy: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """‖(x_i − x̄) − (y_j − ȳ)‖² over ``rows``, the means taken over those rows, from the raw distances ``d_xy``
    (round-off can leave it a hair below 0)."""
    xs, ys = x[rows].astype(np.float64), y[rows].astype(np.float64)
    delta = _mean_gap(xs, ys)
    shift = -2.0 * (xs @ delta)[:, None] + 2.0 * (ys @ delta)[None, :]
    shift += float(delta @ delta)
    shift += d_xy[np.ix_(rows, rows)]
    return shift


def _variance_subsets(n: int, rng: np.random.Generator, splits: int) -> list[np.ndarray]:
    """Both disjoint halves of VARIANCE_SPLITS random splits of ``n`` rows, each with its _jackknife_subsets."""
    m = n // 2
    subsets: list[np.ndarray] = []
    for _ in range(VARIANCE_SPLITS):
        order = rng.permutation(n)
        subsets += _jackknife_subsets(np.sort(order[:m]), rng, splits)
        subsets += _jackknife_subsets(np.sort(order[m : 2 * m]), rng, splits)
    return subsets


def _half_variance(values: np.ndarray) -> float:
    """V₂, the estimator's variance at n/2 pairs, unbiased, from plain on _variance_subsets: the mean of
    (J_A − J_B)²/2 over each split's two disjoint halves (each half centred and jackknifed on its own)."""
    estimates = [_jackknife(part) for part in np.split(values, 2 * VARIANCE_SPLITS)]
    return float(np.mean([(a - b) ** 2 / 2.0 for a, b in zip(estimates[::2], estimates[1::2], strict=True)]))


def half_sample_variance(v2: float, point: float) -> float:
    """Var of the estimator at n pairs from V₂, its variance at n/2 (unbiased, _half_variance).

    Var(m) = a/m + b/m²: V₂/4 in the degenerate limit (no shape difference, ∝ 1/m²) and V₂/2 in the regular
    one (∝ 1/m). The regular limit is taken once the point clears 0 by 1.96 of the degenerate sd, where a shape
    difference dominates; extrapolating from a third size instead (V₂ − V₃/3) proved too noisy at n ≤ 1,000.
    """
    degenerate = v2 / 4.0
    return v2 / 2.0 if point > Z95 * np.sqrt(degenerate) else degenerate


def distribution_gap(
    x: np.ndarray,
    y_first: np.ndarray,
    *,
    n_resamples: int = 0,
    seed: int = 0,
    max_pairs: int = DISTRIBUTION_MAX_PAIRS,
    splits: int = JACKKNIFE_SPLITS,
) -> dict[str, Any]:
    """RBF-MMD² between the modalities once each is centred on its mean, bias-corrected (pairs i ≠ j).

    ``x`` and ``y_first`` are unit rows of N matched pairs. The centroid gap is removed first, so what
    remains is a difference of shape, not of position (Gretton et al. 2012, paired U-statistic). Centring
    on sample means biases the U-statistic by about −0.7/n (means from other rows flip it to +0.7/n: the
    estimated offset is never the true one), so the 1/n term is removed by a split-half jackknife. With
    ``n_resamples`` > 0 the interval is normal with the half-sample variance (the bootstrap cannot see the
    centring's effect and, near 0, a degenerate U-statistic's: it covered 0 in every replicate).
    """
    if len(x) < 6:
        return {"distribution_gap": float("nan"), "distribution_gap_n": float(len(x))}
    rng = np.random.default_rng(seed + 5)
    keep = subsample(len(x), max_pairs, rng)
    kernels = _PairKernels.of(np.asarray(x[keep]), np.asarray(y_first[keep]))
    subsets = _jackknife_subsets(np.arange(len(keep)), rng, splits)
    at_point = len(subsets)
    interval = n_resamples > 0 and len(keep) >= MIN_PAIRS_FOR_INTERVAL
    if interval:
        subsets += _variance_subsets(len(keep), np.random.default_rng(seed + 6), splits)
    values = kernels.plains(subsets)
    point = _jackknife(values[:at_point])
    out: dict[str, Any] = {"distribution_gap": point, "distribution_gap_n": float(len(keep))}
    if n_resamples > 0:
        sd = float(np.sqrt(half_sample_variance(_half_variance(values[at_point:]), point))) if interval else np.nan
        out["distribution_gap_ci95"] = [point - Z95 * sd, point + Z95 * sd]
    return out
