"""Kernel U-statistics on seeded subsamples, each with a bootstrap interval: uniformity and the distribution gap.

Both need all pairs of rows, so on large sets they are computed on at most UNIFORMITY_MAX_ROWS rows
per modality (DISTRIBUTION_MAX_PAIRS pairs for the distribution gap); the interval is the percentile
bootstrap of the subsampled estimate (estimators.weighted_offdiag_mean), so it covers the subsampling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp

from gapviz.science.estimators import percentile_interval, resample_counts, weighted_offdiag_mean
from gapviz.science.linalg import mm

UNIFORMITY_MAX_ROWS = 1024
DISTRIBUTION_MAX_PAIRS = 1024


def subsample(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``limit`` of ``n`` rows (all of them when n ≤ limit)."""
    return np.arange(n) if n <= limit else np.sort(rng.choice(n, limit, replace=False))


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a32, b32 = np.asarray(a, np.float32), np.asarray(b, np.float32)
    sq = (a32 * a32).sum(1)[:, None] + (b32 * b32).sum(1)[None, :] - 2.0 * mm(a32, b32.T)
    return np.maximum(sq.astype(np.float64), 0.0)


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
    """Wang & Isola uniformity of images, captions and their union, with ``<key>_ci95`` when resampling."""
    rng = np.random.default_rng(seed + 2)
    xs, ys = x[subsample(len(x), max_rows, rng)], y[subsample(len(y), max_rows, rng)]
    if len(xs) < 2 or len(ys) < 2:
        keys = ("uniformity_image", "uniformity_text", "uniformity_joint")
        return {k: float("nan") for k in keys}
    logits = {"xx": -t * _sq_dists(xs, xs), "yy": -t * _sq_dists(ys, ys), "xy": -t * _sq_dists(xs, ys)}
    point = _log_means(logits, {"x": np.ones((1, len(xs))), "y": np.ones((1, len(ys)))})
    out: dict[str, Any] = {k: float(v[0]) for k, v in point.items()}
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


def _rbf_pair_kernel(xc: np.ndarray, yc: np.ndarray) -> np.ndarray:
    """H_ij = k(x_i,x_j) + k(y_i,y_j) − k(x_i,y_j) − k(x_j,y_i), RBF with the median pooled squared distance."""
    d_xx, d_yy, d_xy = _sq_dists(xc, xc), _sq_dists(yc, yc), _sq_dists(xc, yc)
    pooled = np.concatenate([d_xx[np.triu_indices(len(xc), 1)], d_yy[np.triu_indices(len(yc), 1)], d_xy.ravel()])
    bandwidth = float(np.median(pooled[pooled > 0])) if np.any(pooled > 0) else 1.0
    k_xy = np.exp(-d_xy / bandwidth)
    return np.exp(-d_xx / bandwidth) + np.exp(-d_yy / bandwidth) - k_xy - k_xy.T


def distribution_gap(
    x: np.ndarray, y_first: np.ndarray, *, n_resamples: int = 0, seed: int = 0, max_pairs: int = DISTRIBUTION_MAX_PAIRS
) -> dict[str, Any]:
    """Unbiased RBF-MMD² between the modalities after each is centred on its own mean (pairs i ≠ j).

    ``x`` and ``y_first`` are unit rows of N matched pairs. The centroid gap is removed first, so
    what remains is a difference of shape, not of position (Gretton et al. 2012, paired U-statistic).
    """
    if len(x) < 3:
        return {"distribution_gap": float("nan")}
    rng = np.random.default_rng(seed + 5)
    keep = subsample(len(x), max_pairs, rng)
    xc, yc = x[keep] - x.mean(axis=0), y_first[keep] - y_first.mean(axis=0)
    kernel = _rbf_pair_kernel(xc, yc)
    out: dict[str, Any] = {"distribution_gap": float(weighted_offdiag_mean(kernel, np.ones((1, len(keep))))[0])}
    if n_resamples > 0:
        values = [weighted_offdiag_mean(kernel, w) for w in resample_counts(len(keep), n_resamples, seed + 6)]
        out["distribution_gap_ci95"] = percentile_interval(np.concatenate(values))
    return out
