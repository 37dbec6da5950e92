"""Modality-gap metrics of paired image/text embeddings (definitions in SCIENCE.md).

Notation: image X (N, D), text Y (M, D). ``text_image_index`` (M,) maps caption j to its
image; None means M == N and pair i is (X[i], Y[i]). Every function L2-normalises rows first,
accepts numpy arrays of any float dtype or torch tensors, and returns Python floats or float64
numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

METRIC_NAMES: tuple[str, ...] = (
    "gap_distance",
    "pair_cosine",
    "mean_pair_distance",
    "cone_image",
    "cone_text",
    "relative_gap",
    "alignment",
    "uniformity_image",
    "uniformity_text",
    "uniformity_joint",
    "linear_separability",
    "i2t_r1",
    "i2t_r5",
    "i2t_r10",
    "t2i_r1",
    "t2i_r5",
    "t2i_r10",
)

METRIC_DESCRIPTIONS: dict[str, str] = {
    "gap_distance": "Distance between the image and text centroids, ‖c_X − c_Y‖ (0 = no gap, max 2).",
    "pair_cosine": "Mean cosine similarity of matched image-caption pairs.",
    "mean_pair_distance": "Mean Euclidean distance between matched image and caption embeddings.",
    "cone_image": "Mean cosine between two different images: how narrow the image cone is.",
    "cone_text": "Mean cosine between two different captions: how narrow the text cone is.",
    "relative_gap": "Relative modality gap (Schrodi et al.): pair distance relative to within-modality spread.",
    "alignment": "Mean squared distance of matched pairs (Wang & Isola, α = 2; lower is better aligned).",
    "uniformity_image": "log mean exp(−2‖x_i − x_j‖²) over images (Wang & Isola; lower is more uniform).",
    "uniformity_text": "log mean exp(−2‖y_i − y_j‖²) over captions (lower is more uniform).",
    "uniformity_joint": "Uniformity of images and captions pooled together (lower is more uniform).",
    "linear_separability": "Test accuracy of a linear classifier telling images from captions (0.5 = no gap).",
    "i2t_r1": "Image→text recall@1: an image's caption is the nearest caption.",
    "i2t_r5": "Image→text recall@5: one of an image's captions is among the 5 nearest.",
    "i2t_r10": "Image→text recall@10: one of an image's captions is among the 10 nearest.",
    "t2i_r1": "Text→image recall@1: a caption's image is the nearest image.",
    "t2i_r5": "Text→image recall@5: a caption's image is among the 5 nearest.",
    "t2i_r10": "Text→image recall@10: a caption's image is among the 10 nearest.",
}

LINEAR_PROBE_MAX_ROWS = 4000
"""The linear probe subsamples to at most this many rows (half per modality) to stay under ~1 s."""
LINEAR_PROBE_MAX_ITER = 200
LINEAR_PROBE_MIN_ROWS = 5
"""Fewer rows per modality than this leave no stratified test split; the probe returns NaN."""
UNIFORMITY_CHUNK = 1024
LOSS_CHUNK = 1024


def _as_float_array(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (rows, dim), got shape {arr.shape}")
    return arr


def l2_normalize(x: Any) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm, as float64 (all-zero rows stay zero)."""
    arr = _as_float_array(x)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms > 0, norms, 1.0)


def _pair_index(n_image: int, n_text: int, text_image_index: Any | None) -> np.ndarray:
    if text_image_index is None:
        if n_image != n_text:
            raise ValueError(
                f"{n_image} images but {n_text} captions: pass text_image_index to pair them"
            )
        return np.arange(n_text)
    if isinstance(text_image_index, torch.Tensor):
        text_image_index = text_image_index.detach().cpu().numpy()
    idx = np.asarray(text_image_index)
    if idx.shape != (n_text,):
        raise ValueError(f"text_image_index must have shape ({n_text},), got {idx.shape}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"text_image_index must be integers, got {idx.dtype}")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n_image):
        raise ValueError(f"text_image_index values must lie in [0, {n_image})")
    return idx


def _pairs(image: Any, text: Any, text_image_index: Any | None) -> tuple[np.ndarray, np.ndarray]:
    x, y = l2_normalize(image), l2_normalize(text)
    idx = _pair_index(len(x), len(y), text_image_index)
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
    return _relative_gap(x, y, _pair_index(len(x), len(y), text_image_index))


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


def _uniformities(x: np.ndarray, y: np.ndarray, t: float) -> tuple[float, float, float]:
    """Image, text and joint uniformity, sharing the within-modality blocks."""
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        return uniformity(x, t), uniformity(y, t), uniformity(np.vstack([x, y]), t)
    lse_xx = _lse_sq_dist(x, x, t, same=True)
    lse_yy = _lse_sq_dist(y, y, t, same=True)
    lse_xy = _lse_sq_dist(x, y, t, same=False)
    joint = float(logsumexp([lse_xx, lse_yy, lse_xy + np.log(2.0)]))
    return (
        lse_xx - float(np.log(n * (n - 1))),
        lse_yy - float(np.log(m * (m - 1))),
        joint - float(np.log((n + m) * (n + m - 1))),
    )


def linear_separability(image: Any, text: Any, seed: int = 0) -> float:
    """Test accuracy of a logistic regression telling images from captions (stratified 80/20).

    Each modality is subsampled to LINEAR_PROBE_MAX_ROWS/2 rows and features are standardised,
    so the probe stays fast and its regularisation does not depend on the embedding scale.
    NaN when a modality has fewer than LINEAR_PROBE_MIN_ROWS rows.
    """
    if min(len(image), len(text)) < LINEAR_PROBE_MIN_ROWS:
        return float("nan")
    rng = np.random.default_rng(seed)
    per_side = LINEAR_PROBE_MAX_ROWS // 2
    sides = []
    for arr in (l2_normalize(image), l2_normalize(text)):
        if len(arr) > per_side:
            arr = arr[rng.choice(len(arr), per_side, replace=False)]
        sides.append(arr)
    features = np.vstack(sides)
    labels = np.repeat([1, 0], [len(sides[0]), len(sides[1])])
    x_tr, x_te, y_tr, y_te = train_test_split(
        features, labels, test_size=0.2, stratify=labels, random_state=seed
    )
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=LINEAR_PROBE_MAX_ITER))
    probe.fit(x_tr, y_tr)
    return float(probe.score(x_te, y_te))


def top_gap_dimensions(image: Any, text: Any, k: int = 10) -> list[tuple[int, float]]:
    """The k coordinates with the largest |c_X[d] − c_Y[d]|, as (dimension, signed difference)."""
    g = gap_vector(image, text)
    order = np.argsort(-np.abs(g), kind="stable")[:k]
    return [(int(d), float(g[d])) for d in order]


def _recall_keys(ks: Sequence[int]) -> list[str]:
    return [f"{direction}_r{k}" for direction in ("i2t", "t2i") for k in ks]


def _to_device_unit(x: Any, device: torch.device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        arr = np.asarray(x)
        t = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    t = t.to(device=device, dtype=torch.float32)
    return torch.nn.functional.normalize(t, dim=1)


def retrieval_recall(
    image: Any,
    text: Any,
    text_image_index: Any | None = None,
    ks: Sequence[int] = (1, 5, 10),
    chunk_size: int = 1024,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Recall@k both ways from cosine similarity, chunked over images so N×M never materialises.

    A rank is the number of candidates scoring strictly higher than the true partner, so ties
    resolve in the query's favour; a hit at k means rank < k. Image→text counts a hit when ANY of
    the image's captions ranks within k and averages over images that have a caption.
    Similarities are float32 on ``device`` (default CPU), computed once for both directions;
    every comparison uses those same scores (text→image keeps a running top-max(ks) per caption).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    x, y = _to_device_unit(image, dev), _to_device_unit(text, dev)
    n, m = x.shape[0], y.shape[0]
    idx_np = _pair_index(n, m, text_image_index)
    if n == 0 or m == 0:
        return {key: float("nan") for key in _recall_keys(ks)}
    idx = torch.from_numpy(idx_np).to(dev)
    caption_order = torch.argsort(idx, stable=True)
    sorted_image = idx[caption_order]
    bounds = torch.searchsorted(sorted_image, torch.arange(0, n + 1, chunk_size, device=dev)).tolist()
    bounds.append(m)
    k_top = min(max(ks), n)

    best_pos = torch.empty(n, device=dev)
    i2t_rank = torch.empty(n, dtype=torch.int32, device=dev)
    caption_pos = torch.empty(m, device=dev)
    top_images: torch.Tensor | None = None
    for chunk, start in enumerate(range(0, n, chunk_size)):
        stop = min(start + chunk_size, n)
        sims = y @ x[start:stop].T
        caps = caption_order[bounds[chunk] : bounds[chunk + 1]]
        local = idx[caps] - start
        pos = sims[caps, local]
        caption_pos[caps] = pos
        chunk_best = torch.full((stop - start,), float("-inf"), device=dev)
        chunk_best.scatter_reduce_(0, local, pos, reduce="amax")
        best_pos[start:stop] = chunk_best
        i2t_rank[start:stop] = (sims > chunk_best[None, :]).sum(dim=0, dtype=torch.int32)
        chunk_top = torch.topk(sims, min(k_top, stop - start), dim=1).values
        if top_images is not None:
            chunk_top = torch.topk(torch.cat([top_images, chunk_top], dim=1), min(k_top, stop), dim=1).values
        top_images = chunk_top

    has_caption = torch.isfinite(best_pos)
    n_queries = int(has_caption.sum())
    out: dict[str, float] = {}
    for k in ks:
        hits = (i2t_rank < k) & has_caption
        out[f"i2t_r{k}"] = float(hits.sum()) / n_queries if n_queries else float("nan")
    for k in ks:
        if k > n:
            out[f"t2i_r{k}"] = 1.0
        else:
            hits = top_images[:, k - 1] <= caption_pos
            out[f"t2i_r{k}"] = float(hits.sum()) / m
    return {key: out[key] for key in _recall_keys(ks)}


def zero_shot_accuracy(image: Any, class_text: Any, labels: Any) -> float:
    """Accuracy of labelling each image with its most similar class-prompt embedding."""
    x, c = l2_normalize(image), l2_normalize(class_text)
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.shape != (len(x),):
        raise ValueError(f"labels must have shape ({len(x)},), got {labels.shape}")
    predicted = np.argmax(x @ c.T, axis=1)
    return float((predicted == labels).mean())


def first_caption_index(n_image: int, text_image_index: Any) -> np.ndarray:
    """For each image, the index of its first caption; raises if an image has none."""
    idx = _pair_index(n_image, len(np.asarray(text_image_index)), text_image_index)
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


def contrastive_loss(
    image: Any, text: Any, logit_scale: float, text_image_index: Any | None = None
) -> float:
    """Symmetric CLIP InfoNCE at logit scale s = 1/τ on the normalised features.

    With ``text_image_index`` each image is paired with its first caption, so logits are N×N.
    """
    return contrastive_losses(image, text, [logit_scale], text_image_index)[0]


def compute_all(
    image: Any,
    text: Any,
    text_image_index: Any | None = None,
    *,
    linear_probe: bool = True,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Every metric in METRIC_NAMES, in that order (linear_separability NaN without the probe)."""
    x, y = l2_normalize(image), l2_normalize(text)
    idx = _pair_index(len(x), len(y), text_image_index)
    u_image, u_text, u_joint = _uniformities(x, y, 2.0)
    values = {
        "gap_distance": gap_distance(x, y),
        "pair_cosine": pair_cosine(x, y, idx),
        "mean_pair_distance": mean_pair_distance(x, y, idx),
        "cone_image": _cone_of_normalized(x),
        "cone_text": _cone_of_normalized(y),
        "relative_gap": _relative_gap(x, y, idx),
        "alignment": alignment(x, y, idx),
        "uniformity_image": u_image,
        "uniformity_text": u_text,
        "uniformity_joint": u_joint,
        "linear_separability": linear_separability(x, y, seed) if linear_probe else float("nan"),
        **retrieval_recall(x, y, idx, ks=(1, 5, 10), device=device),
    }
    return {name: values[name] for name in METRIC_NAMES}
