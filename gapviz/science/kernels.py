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


def _centred_cross(x: np.ndarray, y: np.ndarray, d_xy: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """‖(x_i − x̄) − (y_j − ȳ)‖² over ``rows``, the means taken over those rows, from the raw distances ``d_xy``."""
    xs, ys = x[rows].astype(np.float64), y[rows].astype(np.float64)
    delta = xs.mean(axis=0) - ys.mean(axis=0)
    shift = -2.0 * (xs @ delta)[:, None] + 2.0 * (ys @ delta)[None, :] + float(delta @ delta)
    return np.maximum(d_xy[np.ix_(rows, rows)] + shift, 0.0)


def _jackknife_parts(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, splits: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows, pair kernel H of those rows centred on their own means) for the full set, then both halves of
    each random split: H_ij = k(x_i,x_j) + k(y_i,y_j) − k(x_i,y_j) − k(x_j,y_i), RBF with the median pooled
    squared distance. Only the cross term depends on the centring, so each half reuses the full set's blocks."""
    n = len(x)
    d_xx, d_yy, d_xy = _sq_dists(x, x), _sq_dists(y, y), _sq_dists(x, y)
    everyone = np.arange(n)
    cross = _centred_cross(x, y, d_xy, everyone)
    upper = np.triu_indices(n, 1)
    pooled = np.concatenate([d_xx[upper], d_yy[upper], cross.ravel()])
    bandwidth = float(np.median(pooled[pooled > 0])) if np.any(pooled > 0) else 1.0
    within = np.exp(-d_xx / bandwidth) + np.exp(-d_yy / bandwidth)

    def kernel(rows: np.ndarray, d: np.ndarray) -> np.ndarray:
        k_xy = np.exp(-d / bandwidth)
        return within[np.ix_(rows, rows)] - k_xy - k_xy.T

    parts = [(everyone, kernel(everyone, cross))]
    for _ in range(splits):
        order = rng.permutation(n)
        for half in (np.sort(order[: n // 2]), np.sort(order[n // 2 :])):
            parts.append((half, kernel(half, _centred_cross(x, y, d_xy, half))))
    return parts


def _jackknifed(parts: list[tuple[np.ndarray, np.ndarray]], w: np.ndarray) -> np.ndarray:
    """T_n − β̂/n with β̂ from the half-sample U-statistics (bias β/m at m pairs), per row of counts ``w``.

    Without halves (``splits`` = 0) it is T_n, the uncorrected estimate.
    """
    (rows, kernel), halves = parts[0], parts[1:]
    n = len(rows)
    full = weighted_offdiag_mean(kernel, w)
    if not halves:
        return full
    excess = sum(weighted_offdiag_mean(k, w[:, r]) - full for r, k in halves)
    scale = sum(1.0 / len(r) - 1.0 / n for r, _ in halves)
    return full - excess / scale / n


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
    estimated offset is never the true one), so the 1/n term is removed by a split-half jackknife.
    """
    if len(x) < 6:
        return {"distribution_gap": float("nan"), "distribution_gap_n": float(len(x))}
    rng = np.random.default_rng(seed + 5)
    keep = subsample(len(x), max_pairs, rng)
    parts = _jackknife_parts(np.asarray(x[keep]), np.asarray(y_first[keep]), rng, splits)
    out: dict[str, Any] = {
        "distribution_gap": float(_jackknifed(parts, np.ones((1, len(keep))))[0]),
        "distribution_gap_n": float(len(keep)),
    }
    if n_resamples > 0:
        values = [_jackknifed(parts, w) for w in resample_counts(len(keep), n_resamples, seed + 6)]
        out["distribution_gap_ci95"] = percentile_interval(np.concatenate(values))
    return out
