"""Cross-modal transfer (Zhang et al., "Diagnosing and Rectifying Vision Models using Language", ICLR 2023).

A linear classifier is trained on image embeddings with class labels and then applied, unchanged, to
the caption embeddings of held-out images (each caption takes its image's label). Image accuracy says
the classes are linearly readable; text accuracy says whether that reading carries over across the
gap. The classifier is fitted on a random half of the images and scored on the other half's images and captions.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from gapviz.science.intervals import wilson_interval

TRANSFER_MAX_IMAGES = 5000
"""Images used at most (a seeded subsample), which bounds the multinomial fits."""
TRANSFER_C = 10.0
"""L2 strength of the multinomial logistic regression on unit rows (coordinates are ~1/√D, so C = 1 underfits)."""
TRANSFER_MAX_ITER = 500


def cross_modal_transfer(
    x: np.ndarray, y: np.ndarray, idx: np.ndarray, labels: Any, *, seed: int = 0
) -> dict[str, float]:
    """``transfer_accuracy_image`` / ``transfer_accuracy_text`` of an image-trained classifier, and ``transfer_n``.

    ``x`` (N, D) unit image rows, ``y`` (M, D) unit caption rows, ``idx`` (M,) caption → image,
    ``labels`` (N,) one class per image. NaN without labels or with fewer than 2 classes.
    """
    nan = {"transfer_accuracy_image": math.nan, "transfer_accuracy_text": math.nan}
    if labels is None:
        return {**nan, "transfer_n": 0.0}
    labels = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels)
    if labels.shape != (len(x),):
        raise ValueError(f"labels must have shape ({len(x)},), got {labels.shape}")
    rng = np.random.default_rng(seed + 11)
    keep = np.arange(len(x))
    if len(x) > TRANSFER_MAX_IMAGES:
        keep = rng.choice(len(x), TRANSFER_MAX_IMAGES, replace=False)
    order = rng.permutation(keep)
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    if len(np.unique(labels[keep])) < 2 or min(len(np.unique(labels[h])) for h in halves) < 2:
        return {**nan, "transfer_n": float(len(keep))}
    train, test = halves
    model = _fit(x[train], labels[train])
    captions = np.flatnonzero(np.isin(idx, test))
    image_hits = model.predict(x[test]) == labels[test]
    text_hits = model.predict(y[captions]) == labels[idx[captions]] if len(captions) else np.zeros(0, dtype=bool)
    return _accuracies(image_hits, text_hits, len(np.unique(idx[captions])), len(keep))


def _accuracies(image_hits: np.ndarray, text_hits: np.ndarray, caption_images: int, n: int) -> dict[str, Any]:
    """Both accuracies with Wilson intervals over the held-out half's items: one classifier scores them and their
    labels are independent of it, so the hits are independent (two folds averaged were not: each fold's labels
    shape the classifier scoring the other, sd 1.2–1.3× binomial on random labels). Captions count as their
    images when an image has several captions, whose hits share a label."""
    image_acc = float(image_hits.mean())
    out: dict[str, Any] = {
        "transfer_accuracy_image": image_acc,
        "transfer_accuracy_image_ci95": wilson_interval(image_acc, len(image_hits)),
        "transfer_n": float(n),
    }
    if len(text_hits):
        text_acc = float(text_hits.mean())
        out["transfer_accuracy_text"] = text_acc
        out["transfer_accuracy_text_ci95"] = wilson_interval(text_acc, min(len(text_hits), caption_images))
    else:
        out["transfer_accuracy_text"] = math.nan
    return out


def _fit(features: np.ndarray, labels: np.ndarray) -> LogisticRegression:
    """Multinomial logistic regression on the unit rows (BLAS single-threaded: small fits only contend)."""
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=TRANSFER_C, max_iter=TRANSFER_MAX_ITER).fit(features, labels)
