"""Modality-gap metrics of paired image/text embeddings (definitions in docs/science.md), and compute_all.

Notation: image X (N, D), text Y (M, D). ``text_image_index`` (M,) maps caption j to its
image; None means M == N and pair i is (X[i], Y[i]). Every function L2-normalises rows first,
accepts numpy arrays of any float dtype or torch tensors, and returns Python floats or float64
numpy arrays. The estimators live in sibling modules: retrieval (fair-tie recall), estimators
(unbiased gap, bootstrap, permutation null), kernels (uniformity, distribution gap), probe
(modality probe), anatomy (gap spectrum, mutual k-NN, effective rank); compute_all is the one entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from gapviz.science import anatomy, checks
from gapviz.science.catalog import (  # noqa: F401 - the metric lists live in the catalog; re-exported
    ALL_KEYS,
    FLAG_NAMES,
    INTERVAL_METRICS,
    INTERVAL_NAMES,
    METRIC_DESCRIPTIONS,
    METRIC_NAMES,
    SIZE_KEYS,
)
from gapviz.science.checks import unit_rows
from gapviz.science.chunked import RETRIEVAL_N
from gapviz.science.mixed_pool import mixed_pool_bias
from gapviz.science.pairs import as_compute_array, l2_normalize, pair_index
from gapviz.science.retrieval import retrieval_hits, retrieval_recall  # noqa: F401 - re-exported

ZERO_SHOT_CHUNK = 1 << 14
UNIFORMITY_CHUNK = 1024
LOSS_CHUNK = 1024


def _pairs(image: Any, text: Any, text_image_index: Any | None) -> tuple[np.ndarray, np.ndarray]:
    x, y = l2_normalize(image), l2_normalize(text)
    idx = pair_index(len(x), len(y), text_image_index)
    return x[idx], y


def gap_vector(image: Any, text: Any) -> np.ndarray:
    """c_X − c_Y, the difference of the centroids of the normalised rows (not re-normalised)."""
    return l2_normalize(image).mean(axis=0) - l2_normalize(text).mean(axis=0)


def gap_distance(image: Any, text: Any) -> float:
    """‖c_X − c_Y‖, Liang et al.'s modality gap (range [0, 2])."""
    return float(np.linalg.norm(gap_vector(image, text)))


def gap_direction(image: Any, text: Any) -> np.ndarray:
    """Unit vector from the text centroid to the image centroid (zeros when there is no gap)."""
    g = gap_vector(image, text)
    norm = np.linalg.norm(g)
    return g / norm if norm > 0 else g


def pair_cosine(image: Any, text: Any, text_image_index: Any | None = None) -> float:
    """Mean cosine similarity over (caption j, its image) pairs."""
    x, y = _pairs(image, text, text_image_index)
    return float(np.einsum("ij,ij->i", x, y).mean())


def mean_pair_distance(image: Any, text: Any, text_image_index: Any | None = None) -> float:
    """Mean Euclidean distance over (caption j, its image) pairs."""
    x, y = _pairs(image, text, text_image_index)
    return float(np.linalg.norm(x - y, axis=1).mean())


def alignment(image: Any, text: Any, text_image_index: Any | None = None) -> float:
    """Wang & Isola alignment: mean squared distance over pairs (α = 2)."""
    x, y = _pairs(image, text, text_image_index)
    return float(((x - y) ** 2).sum(axis=1).mean())


def _cone_of_normalized(x: np.ndarray) -> float:
    n = len(x)
    if n < 2:
        return float("nan")
    total = x.sum(axis=0)
    return float((total @ total - (x * x).sum()) / (n * (n - 1)))


def cone(x: Any) -> float:
    """Mean cosine over distinct row pairs i≠j, in O(ND) from the norm of the row sum."""
    return _cone_of_normalized(l2_normalize(x))


def relative_gap(image: Any, text: Any, text_image_index: Any | None = None) -> float:
    """Schrodi et al.'s relative modality gap M / (M + (D_X + D_Y)/2) with d = (1 − cos)/2.

    D_X, the mean within-modality d over i≠j, is (1 − cone)/2 for unit rows.
    """
    x, y = l2_normalize(image), l2_normalize(text)
    return _relative_gap(x, y, pair_index(len(x), len(y), text_image_index))


def _relative_gap(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> float:
    pair_d = (1.0 - np.einsum("ij,ij->i", x[idx], y).mean()) / 2.0
    d_x = (1.0 - _cone_of_normalized(x)) / 2.0
    d_y = (1.0 - _cone_of_normalized(y)) / 2.0
    return float(pair_d / (pair_d + (d_x + d_y) / 2.0))


def _lse_sq_dist(a: np.ndarray, b: np.ndarray, t: float, same: bool) -> float:
    """log Σ exp(−t‖a_i − b_j‖²) over all (i, j), skipping i == j when ``same``; chunked, float32."""
    a32, b32 = torch.from_numpy(a).float(), torch.from_numpy(b).float()
    a_sq, b_sq = (a32 * a32).sum(dim=1), (b32 * b32).sum(dim=1)
    parts = []
    for start in range(0, len(a32), UNIFORMITY_CHUNK):
        stop = min(start + UNIFORMITY_CHUNK, len(a32))
        sq = a_sq[start:stop, None] + b_sq[None, :] - 2.0 * (a32[start:stop] @ b32.T)
        logits = sq.clamp_(min=0.0).mul_(-t)
        if same:
            rows = torch.arange(stop - start)
            logits[rows, rows + start] = float("-inf")
        parts.append(torch.logsumexp(logits.flatten(), dim=0).double())
    return float(torch.logsumexp(torch.stack(parts), dim=0)) if parts else float("-inf")


def uniformity(x: Any, t: float = 2.0) -> float:
    """Wang & Isola uniformity log mean_{i≠j} exp(−t‖x_i − x_j‖²), chunked and via logsumexp."""
    xn = l2_normalize(x)
    n = len(xn)
    if n < 2:
        return float("nan")
    return _lse_sq_dist(xn, xn, t, same=True) - float(np.log(n * (n - 1)))


def top_gap_dimensions(image: Any, text: Any, k: int = 10) -> list[tuple[int, float]]:
    """The k coordinates with the largest |c_X[d] − c_Y[d]|, as (dimension, signed difference)."""
    g = gap_vector(image, text)
    order = np.argsort(-np.abs(g), kind="stable")[:k]
    return [(int(d), float(g[d])) for d in order]


def zero_shot_accuracy(image: Any, class_text: Any, labels: Any) -> float:
    """Accuracy of labelling each image with its most similar class-prompt embedding."""
    c = l2_normalize(class_text)
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.shape != (len(image),):
        raise ValueError(f"labels must have shape ({len(image)},), got {labels.shape}")
    hits = 0
    for start in range(0, len(image), ZERO_SHOT_CHUNK):  # a memory-mapped million rows is never copied whole
        x = l2_normalize(image[start : start + ZERO_SHOT_CHUNK])
        hits += int((np.argmax(x @ c.T, axis=1) == labels[start : start + ZERO_SHOT_CHUNK]).sum())
    return hits / len(image)


def first_caption_index(n_image: int, text_image_index: Any) -> np.ndarray:
    """For each image, the index of its first caption; raises if an image has none."""
    idx = pair_index(n_image, len(np.asarray(text_image_index)), text_image_index)
    images, first = np.unique(idx, return_index=True)
    if len(images) != n_image:
        raise ValueError(f"{n_image - len(images)} images have no caption")
    return first.astype(np.int64)


def _contrastive_losses(x: np.ndarray, y: np.ndarray, scales: Sequence[float]) -> list[float]:
    """Symmetric InfoNCE of square unit-row pairs (x_i, y_i) at several logit scales, one matmul."""
    n = len(x)
    x32, y32 = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    row_lse = torch.zeros(len(scales), n, dtype=torch.float64)
    col_lse = torch.full((len(scales), n), float("-inf"), dtype=torch.float64)
    for start in range(0, n, LOSS_CHUNK):
        stop = min(start + LOSS_CHUNK, n)
        sims = x32[start:stop] @ y32.T
        for s_i, scale in enumerate(scales):
            logits = float(scale) * sims
            row_lse[s_i, start:stop] = torch.logsumexp(logits, dim=1).double()
            col_lse[s_i] = torch.logaddexp(col_lse[s_i], torch.logsumexp(logits, dim=0).double())
    positives = np.einsum("ij,ij->i", x, y)
    return [
        float(((row_lse[s_i] + col_lse[s_i]).numpy() / 2.0 - scale * positives).mean())
        for s_i, scale in enumerate(scales)
    ]


def contrastive_losses(
    image: Any, text: Any, logit_scales: Sequence[float], text_image_index: Any | None = None
) -> list[float]:
    """contrastive_loss at each of several logit scales, sharing one similarity matmul."""
    x, y = l2_normalize(image), l2_normalize(text)
    if text_image_index is not None:
        y = y[first_caption_index(len(x), text_image_index)]
    elif len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} captions: pass text_image_index")
    return _contrastive_losses(x, y, [float(s) for s in logit_scales])


def contrastive_loss(image: Any, text: Any, logit_scale: float, text_image_index: Any | None = None) -> float:
    """Symmetric CLIP InfoNCE at logit scale s = 1/τ on the normalised features.

    With ``text_image_index`` each image is paired with its first caption, so logits are N×N.
    """
    return contrastive_losses(image, text, [logit_scale], text_image_index)[0]


def prepare(image: Any, text: Any, text_image_index: Any | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit rows and the caption → image index, after refusing NaN/inf and zero rows (one-line errors).

    Rows keep the input's precision (float64, else float32), so large float32 sets are not doubled in memory.
    """
    x, y = unit_rows(as_compute_array(image), "image"), unit_rows(as_compute_array(text), "text")
    return x, y, pair_index(len(x), len(y), text_image_index)


def _first_pairs(x: np.ndarray, y: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image, its first caption) rows of every image that has a caption (no copy for one caption per image)."""
    if len(x) == len(y) and np.array_equal(first, np.arange(len(x))):
        return x, y
    has = first >= 0
    return x[has], y[first[has]]


def pair_squared(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(M,) squared distance of each caption to its image."""
    diff = (x[idx] if len(x) != len(y) or not np.array_equal(idx, np.arange(len(y))) else x) - y
    return np.einsum("ij,ij->i", diff, diff).astype(np.float64)


def _point_metrics(
    sums: Any,
    pair_sq: np.ndarray,
    gap: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray],
    seed: int,
    probe: bool,
    n_resamples: int,
    null_permutations: int,
) -> dict[str, Any]:
    """Every float metric except recall and the subsampled kernel ones, the probe's intervals, the collapse flags.

    The sum-based ones from ``sums``, ``pair_sq`` (every caption) and ``gap`` (c_X − c_Y); the probe, k-NN and
    effective ranks from ``pairs`` (images and their first captions: all of them, or the chunked path's subsample).
    """
    from gapviz.science.estimators import gap_statistics
    from gapviz.science.probe import PROBE_KEYS, modality_probe

    stats = {k: float(v[0]) for k, v in gap_statistics(sums, np.ones((1, len(sums.x)))).items()}
    xf, yf = pairs
    values: dict[str, Any] = {
        k: stats[k]
        for k in (
            "gap_distance",
            "gap_distance_unbiased",
            "gap_squared_unbiased",
            "pair_cosine",
            "cone_image",
            "cone_text",
            "relative_gap",
        )
    }
    values["mean_pair_distance"] = float(np.sqrt(pair_sq).mean())
    values["alignment"] = float(pair_sq.mean())
    values.update(anatomy.gap_spectrum_shares(gap))
    nan_probe = {k: float("nan") for k in PROBE_KEYS} | {"modality_probe_n": 0.0}
    values.update(modality_probe(xf, yf, seed, n_resamples, null_permutations) if probe else nan_probe)
    values.update(anatomy.knn_alignment(xf, yf, seed=seed, n_resamples=n_resamples))
    values.update(anatomy.equal_rows_effective_ranks(xf, yf))
    values["collapsed_image"] = checks.is_collapsed(values["cone_image"])
    values["collapsed_text"] = checks.is_collapsed(values["cone_text"])
    return values


def resample_statistics(sums: Any, idx: np.ndarray, pair_sq: np.ndarray, hits: Any, w: np.ndarray) -> dict[str, Any]:
    """Each resample's (rows of counts ``w``) sum-based metrics, pair distances and recall: what compute_all
    bootstraps and gapviz.science.difference compares between two sources."""
    from gapviz.science import estimators as E

    n = len(sums.x)
    gap = E.gap_statistics(sums, w)
    gap.pop("gap_squared_unbiased")
    pairs = E.pair_distance_statistics(pair_sq, idx, n, w)
    recall = E.recall_statistics(hits.i2t, hits.t2i, idx, n, w, hits.ks) if hits is not None else {}
    return {**gap, **pairs, **recall}


def _bootstrap(sums: Any, idx: np.ndarray, pair_sq: np.ndarray, hits: Any, n_resamples: int, seed: int) -> dict:
    """Percentile bootstrap intervals of the resampled metrics whose intervals are not analytic (gap, recall)."""
    from gapviz.science.estimators import bootstrap_intervals

    analytic = ("gap_distance", "gap_distance_unbiased", *(hits.recall() if hits is not None else {}))

    def stats(w: np.ndarray) -> dict[str, np.ndarray]:
        out = resample_statistics(sums, idx, pair_sq, hits, w)
        return {k: v for k, v in out.items() if k not in analytic}

    return dict(bootstrap_intervals(stats, len(sums.x), n_resamples, seed))


def _intervals(
    sums: Any, y: np.ndarray, idx: np.ndarray, pair_sq: np.ndarray, hits: Any, n_resamples: int, seed: int
) -> dict[str, Any]:
    """``<metric>_ci95`` of every metric compute_all resamples, and gap_null95.

    The gap family's intervals come from the U-statistic's variance and recall's from Wilson
    (estimators.gap_intervals, recall_intervals); the others are percentile bootstraps of images (an image's
    captions with it). Which method each key uses is listed in docs/science.md with its measured coverage.
    """
    from gapviz.science import estimators as E

    recall = hits.recall() if hits is not None else {}
    out = _bootstrap(sums, idx, pair_sq, hits, n_resamples, seed)
    point = {k: float(v[0]) for k, v in E.gap_statistics(sums, np.ones((1, len(sums.x)))).items()}
    if n_resamples > 0:
        out.update(E.gap_intervals(sums, point["gap_squared_unbiased"], point["gap_distance"], seed))
        out.update(E.recall_intervals(recall, sums, len(y)))
    out["gap_null95"] = E.gap_null95(sums, y, n_resamples, seed)
    return out


def pair_estimates(
    image: Any,
    text: Any,
    text_image_index: Any | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    recall: bool = True,
) -> dict[str, Any]:
    """The gap family, pair distances and recall with their intervals: compute_all's own code for these keys,
    without the subsampled and fitted metrics (what the calibration suite measures at scale)."""
    from gapviz.science import chunked
    from gapviz.science.estimators import PairSums, gap_statistics

    if chunked.streams(len(image), len(text), text_image_index):
        return _pair_estimates_chunked(image, text, n_resamples, seed, recall)
    x, y, idx = prepare(image, text, text_image_index)
    sums = PairSums.of(x, y, idx)
    hits = retrieval_hits(x, y, idx, ks=(1, 5, 10)) if recall else None
    pair_sq = pair_squared(x, y, idx)
    values: dict[str, Any] = {k: float(v[0]) for k, v in gap_statistics(sums, np.ones((1, len(x)))).items()}
    values.update(hits.recall() if hits is not None else {})
    values.update(_intervals(sums, y, idx, pair_sq, hits, n_resamples, seed))
    return values


def _pair_estimates_chunked(image: Any, text: Any, n_resamples: int, seed: int, recall: bool) -> dict[str, Any]:
    """pair_estimates above chunked.STREAM_MIN_PAIRS: _compute_chunked's code for the same keys (the gap family
    on every pair with the subsample's variance model, the grouped bootstrap, recall on the subsample)."""
    from gapviz.science import chunked
    from gapviz.science.estimators import gap_statistics

    sp = chunked.stream_pairs(image, text, seed=seed)
    sub = np.arange(len(sp.rows))
    hits = retrieval_hits(sp.x_sub, sp.y_sub, sub, ks=(1, 5, 10)) if recall else None
    values: dict[str, Any] = {k: float(v[0]) for k, v in gap_statistics(sp.sums, np.ones((1, len(sp.sums.x)))).items()}
    values.update(hits.recall() if hits is not None else {})
    values.update(_chunked_intervals(sp, len(image), values, hits, n_resamples, seed))
    return values


def _chunked_intervals(sp: Any, n: int, values: dict[str, Any], hits: Any, n_resamples: int, seed: int) -> dict:
    """The chunked path's intervals (``sp``: chunked.stream_pairs of ``n`` pairs): the grouped bootstrap, the gap
    family's from the subsample's variance model, and recall's (Wilson) on the subsample when ``hits`` is given."""
    from gapviz.science import chunked
    from gapviz.science.estimators import PairSums, gap_family_intervals, recall_intervals

    out = _bootstrap(sp.sums, sp.group, sp.pair_sq, None, n_resamples, seed)
    if n_resamples > 0:
        u, plug_in = values["gap_squared_unbiased"], values["gap_distance"]
        out.update(gap_family_intervals(u, plug_in, chunked.variance(sp, n)))
        if hits is not None:
            sub = np.arange(len(sp.rows))
            out.update(recall_intervals(hits.recall(), PairSums.of(sp.x_sub, sp.y_sub, sub), len(sub)))
    return out


def compute_all(
    image: Any,
    text: Any,
    text_image_index: Any | None = None,
    *,
    modality_probe: bool = True,
    seed: int = 0,
    device: str | torch.device | None = None,
    n_resamples: int = 1000,
    labels: Any | None = None,
    probe_null_permutations: int = 2,
) -> dict[str, Any]:
    """Every key of ALL_KEYS, in that order: METRIC_NAMES (floats), FLAG_NAMES (bools), INTERVAL_NAMES ([lo, hi]),
    then the keys not yet in ALL_KEYS (the newer measures, their intervals, every subsampled metric's ``*_n``).

    Raises checks.DegenerateEmbeddingsError for NaN/inf or zero rows. ``n_resamples`` bootstrap draws
    (seeded by ``seed``) give the intervals and the permutation null; 0 leaves them NaN. Without
    ``modality_probe`` the probe keys are NaN; ``probe_null_permutations`` 0 leaves only its null log-loss NaN
    (training evaluation: the refits cost most of the probe). ``labels`` (one class per image) enables cross-modal
    transfer. Above chunked.STREAM_MIN_PAIRS pairs with one caption per image (a memory-mapped file) the values come
    from one chunked pass: sums on every pair, retrieval and the O(N²) metrics on a seeded subsample whose size is
    the extra key ``retrieval_n`` (gapviz.science.chunked says what differs).
    """
    from gapviz.science import chunked, kernels
    from gapviz.science.estimators import PairSums
    from gapviz.science.transfer import cross_modal_transfer

    options = (seed, modality_probe, n_resamples, probe_null_permutations)
    if chunked.streams(len(image), len(text), text_image_index):
        return _in_order(_compute_chunked(image, text, options, labels, device))
    x, y, idx = prepare(image, text, text_image_index)
    sums = PairSums.of(x, y, idx)
    hits = retrieval_hits(x, y, idx, ks=(1, 5, 10), device=device)
    pair_sq = pair_squared(x, y, idx)
    first = _first_pairs(x, y, sums.first_caption)
    values: dict[str, Any] = {
        **_point_metrics(sums, pair_sq, x.mean(axis=0) - y.mean(axis=0), first, *options),
        **hits.recall(),
    }
    values.update(kernels.uniformities(x, y, n_resamples=n_resamples, seed=seed))
    values.update(kernels.distribution_gap(*first, n_resamples=n_resamples, seed=seed))
    values.update(_intervals(sums, y, idx, pair_sq, hits, n_resamples, seed))
    values.update(cross_modal_transfer(x, y, idx, labels, seed=seed))
    values.update(mixed_pool_bias(x, y, seed=seed))
    return _in_order(values)


def _in_order(values: dict[str, Any]) -> dict[str, Any]:
    """compute_all's values in its key order, NaN (or [NaN, NaN]) for a key not measured."""
    nan_pair = [float("nan"), float("nan")]
    values.setdefault("gap_null95", float("nan"))
    keys = ALL_KEYS + tuple(k for k in values if k not in ALL_KEYS)
    return {key: values.get(key, nan_pair if key.endswith("_ci95") else float("nan")) for key in keys}


def _compute_chunked(image: Any, text: Any, options: tuple, labels: Any | None, device: Any) -> dict[str, Any]:
    """compute_all's values from one chunked pass (gapviz.science.chunked): sums on every pair, the rest on a
    seeded subsample whose size is ``retrieval_n``."""
    from gapviz.science import chunked, kernels
    from gapviz.science.transfer import cross_modal_transfer

    seed, _, n_resamples, _ = options
    n = len(image)
    if labels is not None and np.shape(labels) != (n,):
        raise ValueError(f"labels must have shape ({n},), got {np.shape(labels)}")
    sp = chunked.stream_pairs(image, text, seed=seed)
    xs, ys, sub = sp.x_sub, sp.y_sub, np.arange(len(sp.rows))
    hits = retrieval_hits(xs, ys, sub, ks=(1, 5, 10), device=device)
    values: dict[str, Any] = {**_point_metrics(sp.sums, sp.pair_sq, sp.gap, (xs, ys), *options), **hits.recall()}
    values.update(kernels.uniformities(xs, ys, n_resamples=n_resamples, seed=seed))
    values.update(kernels.distribution_gap(xs, ys, n_resamples=n_resamples, seed=seed))
    values.update(_chunked_intervals(sp, n, values, hits, n_resamples, seed))
    values["gap_null95"] = chunked.gaussian_null95(sp, n, n_resamples, seed)
    sub_labels = None if labels is None else np.asarray(labels)[sp.rows]
    values.update(cross_modal_transfer(xs, ys, sub, sub_labels, seed=seed))
    values.update(mixed_pool_bias(xs, ys, seed=seed))
    values[RETRIEVAL_N] = float(len(sub))
    return values


def record_values(values: dict[str, Any]) -> dict[str, Any]:
    """compute_all's values as JSON-ready record entries: floats, bools and [lo, hi] lists of floats."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, (bool, np.bool_)):
            out[key] = bool(value)
        elif isinstance(value, (list, tuple, np.ndarray)):
            out[key] = [float(v) for v in value]
        else:
            out[key] = float(value)
    return out


def indistinguishable_from_zero(values: dict[str, Any]) -> bool:
    """True when the plug-in gap is at or below its permutation null floor (gap_null95)."""
    gap, floor = values.get("gap_distance"), values.get("gap_null95")
    if not isinstance(gap, (int, float)) or not isinstance(floor, (int, float)):
        return False
    return bool(np.isfinite(gap) and np.isfinite(floor) and gap <= floor)
