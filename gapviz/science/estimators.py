"""Gap estimators with uncertainty: the unbiased gap, percentile bootstrap intervals and a permutation null.

Everything is a function of per-image sums (O(N·D)), so one weighted matmul per block of resamples
gives every statistic of every resample. A resample draws images with replacement (each keeps its
captions) and is summarised by its counts w (one row of W). Its U-statistics average over pairs of
*different original items* (i ≠ j), the usual bootstrap of a U-statistic, which reduces to the
point estimate at w = 1. Formulas and sources: docs/science.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from gapviz.science.catalog import RESAMPLED_METRICS
from gapviz.science.linalg import mm

DEFAULT_RESAMPLES = 1000
BLOCK_CELLS = 1 << 22
"""Resamples per weighted matmul: as many as fit BLOCK_CELLS counts (16 MB of float32), at least 16."""


def block_size(n: int) -> int:
    """Resamples per block for n items: one block on small sets, bounded memory on large ones."""
    return max(16, BLOCK_CELLS // max(1, n))


CI_KEYS = RESAMPLED_METRICS


@dataclass(frozen=True)
class PairSums:
    """Per-image sufficient statistics of unit image rows x and the unit captions paired with them."""

    x: np.ndarray
    """(N, D) unit image rows (float32, or float64 for float64 input)."""
    y_sum: np.ndarray
    """(N, D): the sum of each image's caption rows."""
    n_caps: np.ndarray
    """(N,) captions per image."""
    xy: np.ndarray
    """(N,) ⟨x_i, Σ_j y_j⟩ over image i's captions."""
    yy: np.ndarray
    """(N,) ‖Σ_j y_j‖² over image i's captions."""
    first_caption: np.ndarray
    """(N,) index of each image's first caption, −1 for an image without one."""
    units: np.ndarray | None = None
    """(N,) images per unit when a unit is a group of images (gapviz.science.chunked); None: one image each."""
    caps_sq: np.ndarray | None = None
    """(N,) Σ of the squared caption counts of a unit's images; None: n_caps², one image each."""

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> "PairSums":
        """Sums of unit rows ``x`` (N, D), ``y`` (M, D) with caption j paired to image idx[j]."""
        n, m = len(x), len(y)
        if n == m and np.array_equal(idx, np.arange(m)):
            y_sum = np.asarray(y)
        else:
            y_sum = np.asarray(sparse.csr_matrix((np.ones(m), (idx, np.arange(m))), shape=(n, m)) @ y)
        first = np.full(n, -1, dtype=np.int64)
        first[idx[::-1]] = np.arange(m)[::-1]
        return cls(
            x=np.asarray(x),
            y_sum=y_sum.astype(np.asarray(x).dtype, copy=False),
            n_caps=np.bincount(idx, minlength=n).astype(np.float64),
            xy=np.einsum("ij,ij->i", x, y_sum),
            yy=np.einsum("ij,ij->i", y_sum, y_sum),
            first_caption=first,
        )


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def gap_statistics(sums: PairSums, w: np.ndarray) -> dict[str, np.ndarray]:
    """Gap, unbiased gap, cones, pair cosine and relative gap of each resample (rows of counts ``w``, (B, N))."""
    w = np.asarray(w, dtype=sums.x.dtype)
    w2 = w * w
    d = sums.x.shape[1]
    units = np.ones(len(sums.x)) if sums.units is None else sums.units
    caps_sq = sums.n_caps**2 if sums.caps_sq is None else sums.caps_sq
    per_image = np.column_stack([units, sums.n_caps, caps_sq, sums.yy, sums.xy]).astype(w.dtype)
    both = mm(w, np.hstack([sums.x, sums.y_sum, per_image])).astype(np.float64)  # one product per block
    sx, sy = both[:, :d], both[:, d : 2 * d]
    (nb, mb, _, _, w_xy), (w2_sum, w2_caps, w2_caps_sq, w2_yy, w2_xy) = both[:, 2 * d :].T, mm(w2, per_image).T
    sq_x, sq_y, sxy = (sx * sx).sum(axis=1), (sy * sy).sum(axis=1), (sx * sy).sum(axis=1)
    cone_x = _div(sq_x - w2_sum, nb * nb - w2_sum)
    cone_y = _div(sq_y - w2_caps, mb * mb - w2_caps)  # every pair of distinct captions
    yy_u = _div(sq_y - w2_yy, mb * mb - w2_caps_sq)  # captions of different images
    xy_u = _div(sxy - w2_xy, nb * mb - w2_caps)  # an image and another image's caption
    u = cone_x + yy_u - 2.0 * xy_u
    pair_cos = _div(w_xy, mb)
    pair_d, spread = (1.0 - pair_cos) / 2.0, ((1.0 - cone_x) / 2.0 + (1.0 - cone_y) / 2.0) / 2.0
    centroid_gap = _div(sx, nb[:, None]) - _div(sy, mb[:, None])
    return {
        "gap_distance": np.linalg.norm(centroid_gap, axis=1),
        "gap_distance_unbiased": np.sqrt(np.maximum(u, 0.0)),
        "gap_squared_unbiased": u,
        "cone_image": cone_x,
        "cone_text": cone_y,
        "pair_cosine": pair_cos,
        "relative_gap": _div(pair_d, pair_d + spread),
    }


def recall_statistics(
    i2t: np.ndarray, t2i: np.ndarray, idx: np.ndarray, n: int, w: np.ndarray, ks: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """Recall@k of each resample from per-query expected hits (i2t (N, K) NaN-padded, t2i (M, K))."""
    valid = ~np.isnan(i2t[:, 0])
    t2i_sum = np.zeros((n, len(ks)))
    np.add.at(t2i_sum, idx, t2i)
    per_image = np.column_stack([np.where(valid[:, None], i2t, 0.0), t2i_sum, valid, np.bincount(idx, minlength=n)])
    sums = mm(np.asarray(w, dtype=np.float64), per_image)
    n_k = len(ks)
    i2t_den, t2i_den = sums[:, 2 * n_k], sums[:, 2 * n_k + 1]
    out = {}
    for col, k in enumerate(ks):
        out[f"i2t_r{k}"] = _div(sums[:, col], i2t_den)
        out[f"t2i_r{k}"] = _div(sums[:, n_k + col], t2i_den)
    return out


def pair_distance_statistics(pair_sq: np.ndarray, idx: np.ndarray, n: int, w: np.ndarray) -> dict[str, np.ndarray]:
    """Mean pair distance and alignment (mean squared distance) of each resample; ``pair_sq`` is (M,)."""
    per_image = np.column_stack(
        [np.bincount(idx, np.sqrt(pair_sq), n), np.bincount(idx, pair_sq, n), np.bincount(idx, minlength=n)]
    )
    distance, squared, captions = mm(np.asarray(w, dtype=np.float64), per_image).T
    return {"mean_pair_distance": _div(distance, captions), "alignment": _div(squared, captions)}


def resample_counts(n: int, n_resamples: int, seed: int, block: int | None = None) -> Iterator[np.ndarray]:
    """Seeded bootstrap counts in blocks: (b, n) float32 rows, each a draw of n items with replacement."""
    rng = np.random.default_rng(seed)
    block = block or block_size(n)
    for start in range(0, n_resamples, block):
        b = min(block, n_resamples - start)
        flat = (np.arange(b)[:, None] * n + rng.integers(0, n, size=(b, n))).ravel()
        yield np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float32)


def percentile_interval(values: np.ndarray) -> list[float]:
    """[2.5th, 97.5th] percentile of the finite values ([nan, nan] when none)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return [float("nan"), float("nan")]
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return [float(lo), float(hi)]


def bootstrap_intervals(stat_fn, n: int, n_resamples: int, seed: int) -> dict[str, list[float]]:
    """``<key>_ci95`` for every array ``stat_fn(counts)`` returns, over ``n_resamples`` seeded resamples."""
    if n_resamples < 1 or n < 2:
        return {}
    parts: dict[str, list[np.ndarray]] = {}
    for counts in resample_counts(n, n_resamples, seed):
        for key, values in stat_fn(counts).items():
            parts.setdefault(key, []).append(values)
    return {f"{key}_ci95": percentile_interval(np.concatenate(v)) for key, v in parts.items()}


def null_gaps(sums: PairSums, y: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    """Centroid gap after image i and its first caption trade places wherever ``swapped[b, i]`` is 1.

    Swapping the set B moves the centroid difference to g − (1/N + 1/M) Σ_B (x_i − y_first(i)).
    """
    n, m = len(sums.x), len(y)
    has = sums.first_caption >= 0
    d = np.zeros_like(sums.x)
    d[has] = sums.x[has] - y[sums.first_caption[has]]
    g = sums.x.astype(np.float64).mean(axis=0) - sums.y_sum.astype(np.float64).sum(axis=0) / m
    shift = mm(np.asarray(swapped, dtype=d.dtype), d).astype(np.float64)
    return np.linalg.norm(g - (1.0 / n + 1.0 / m) * shift, axis=1)


def gap_null95(sums: PairSums, y: np.ndarray, n_resamples: int, seed: int) -> float:
    """95th percentile of the centroid gap when each image swaps places with its first caption at random."""
    n = len(sums.x)
    if n_resamples < 1 or n < 2:
        return float("nan")
    rng = np.random.default_rng(seed + 1)
    gaps = []
    block = block_size(n)
    for start in range(0, n_resamples, block):
        b = min(block, n_resamples - start)
        gaps.append(null_gaps(sums, y, rng.random((b, n)) < 0.5))
    return float(np.percentile(np.concatenate(gaps), 95.0))


def caption_means_differences(sums: PairSums) -> np.ndarray:
    """d_i = x_i − mean of image i's captions, for every image with a caption: the rows the gap's U averages."""
    has = sums.n_caps > 0
    return sums.x[has] - sums.y_sum[has] / sums.n_caps[has, None].astype(sums.x.dtype)


def gap_intervals(sums: PairSums, u: float, plug_in: float, seed: int = 0) -> dict[str, list[float]]:
    """Calibrated intervals of the gap family (gapviz.science.intervals), without resampling.

    ``gap_squared_unbiased``: the score interval of the signed U. ``gap_distance_unbiased`` (the debiased gap
    √max(0, U)): the square root of U's unified interval. ``gap_distance`` (plug-in): the same interval,
    widened to reach the plug-in point, which sits above it by its small-sample bias.
    """
    from gapviz.science.intervals import u_variance

    d = caption_means_differences(sums)
    if len(d) < 4:
        return {}
    return gap_family_intervals(u, plug_in, u_variance(d, seed))


def gap_family_intervals(u: float, plug_in: float, var: Any) -> dict[str, list[float]]:
    """The score interval of U, the debiased gap's unified interval and the plug-in's, from U's variance model."""
    from gapviz.science.intervals import score_interval, unified_interval

    lo, hi = unified_interval(u, var)
    debiased = [float(np.sqrt(max(lo, 0.0))), float(np.sqrt(max(hi, 0.0)))]
    return {
        "gap_squared_unbiased_ci95": score_interval(u, var),
        "gap_distance_unbiased_ci95": debiased,
        "gap_distance_ci95": [min(debiased[0], plug_in), max(debiased[1], plug_in)],
    }


def recall_intervals(recall: dict[str, float], sums: PairSums, n_captions: int) -> dict[str, list[float]]:
    """Wilson intervals of recall: over images (i→t) and captions (t→i; images when an image has several)."""
    from gapviz.science.intervals import wilson_interval

    images = int((sums.n_caps > 0).sum())
    one_each = n_captions == images == len(sums.x)
    units = {"i2t": images, "t2i": n_captions if one_each else images}
    return {f"{key}_ci95": wilson_interval(value, units[key[:3]]) for key, value in recall.items()}
