"""Liang et al.'s embedding-shift experiment: move both modalities along the gap direction.

x' = normalise(x − λg), y' = normalise(y + λg) with g the unit gap direction (text centroid →
image centroid), so positive λ moves the modalities toward each other and large λ past each
other. The signed gap is ‖c_X' − c_Y'‖ with the sign of ⟨c_X' − c_Y', g⟩: negative once the
image centroid has crossed to the far side of the text centroid. Re-normalisation leaves a
small centroid difference orthogonal to g, so the gap dips close to, not exactly to, zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gapviz.science.metrics import (
    contrastive_losses,
    gap_direction,
    l2_normalize,
    retrieval_recall,
    zero_shot_accuracy,
)

DEFAULT_LOGIT_SCALES: tuple[float, ...] = (100.0, 1.0)
FALLBACK_LAMBDA_RANGE = 0.5
"""Half-width of default_lambdas when there is no gap to scale the range by."""


def loss_key(logit_scale: float) -> str:
    """Column name of the contrastive loss at logit scale s = 1/τ: ``loss_s100``, ``loss_s1``, ``loss_s14.29``."""
    return f"loss_s{float(logit_scale):.4g}"


def _direction(image: np.ndarray, text: np.ndarray, direction: Any | None) -> np.ndarray:
    if direction is None:
        return gap_direction(image, text)
    g = np.asarray(direction, dtype=np.float64).reshape(-1)
    if g.shape != (image.shape[1],):
        raise ValueError(f"direction must have shape ({image.shape[1]},), got {g.shape}")
    norm = np.linalg.norm(g)
    return g / norm if norm > 0 else g


def shift_embeddings(image: Any, text: Any, lam: float, direction: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normalised (image − λg, text + λg); ``direction`` defaults to the gap direction g."""
    x, y = l2_normalize(image), l2_normalize(text)
    g = _direction(x, y, direction)
    return l2_normalize(x - lam * g), l2_normalize(y + lam * g)


def signed_gap(image: Any, text: Any, direction: Any) -> float:
    """‖c_X − c_Y‖, negative when c_X − c_Y points against ``direction``."""
    diff = l2_normalize(image).mean(axis=0) - l2_normalize(text).mean(axis=0)
    distance = float(np.linalg.norm(diff))
    return -distance if float(diff @ np.asarray(direction)) < 0 else distance


def default_lambdas(image: Any, text: Any, n: int = 21) -> np.ndarray:
    """n values of λ evenly spaced over [−gap, +gap] (0 included for odd n).

    The centroid difference along g shrinks by about 2λ, so the gap closes near λ ≈ gap/2 and
    λ = gap shifts the modalities past each other; negative λ widens the gap.
    """
    x, y = l2_normalize(image), l2_normalize(text)
    half_width = float(np.linalg.norm(x.mean(axis=0) - y.mean(axis=0))) or FALLBACK_LAMBDA_RANGE
    return np.linspace(-half_width, half_width, n)


def shift_sweep(
    image: Any,
    text: Any,
    lambdas: Sequence[float],
    *,
    logit_scales: Sequence[float] = DEFAULT_LOGIT_SCALES,
    text_image_index: Any | None = None,
    class_text: Any | None = None,
    labels: Any | None = None,
    device: str | None = None,
) -> list[dict[str, float]]:
    """One row per λ: lam, signed_gap, gap_distance, loss per scale (``loss_key``), i2t_r1,
    t2i_r1, and zero_shot when ``class_text`` and ``labels`` are given.

    g is fixed from the unshifted data; class prompts are text embeddings and move with the
    text. Losses pair each image with its first caption (see metrics.contrastive_loss).
    """
    x, y = l2_normalize(image), l2_normalize(text)
    g = gap_direction(x, y)
    with_zero_shot = class_text is not None and labels is not None
    classes = l2_normalize(class_text) if with_zero_shot else None
    rows = []
    for lam in lambdas:
        xs, ys = l2_normalize(x - lam * g), l2_normalize(y + lam * g)
        sg = signed_gap(xs, ys, g)
        row = {"lam": float(lam), "signed_gap": sg, "gap_distance": abs(sg)}
        losses = contrastive_losses(xs, ys, logit_scales, text_image_index)
        row.update({loss_key(s): loss for s, loss in zip(logit_scales, losses, strict=True)})
        row.update(retrieval_recall(xs, ys, text_image_index, ks=(1,), device=device))
        if classes is not None:
            row["zero_shot"] = zero_shot_accuracy(xs, l2_normalize(classes + lam * g), labels)
        rows.append(row)
    return rows
