"""The modality probe: how well a linear classifier tells an image embedding from a caption embedding.

A logistic regression is scored on held-out folds (GroupKFold, a pair's image and caption always in
the same fold, so the probe cannot lean on the pair's shared content). Accuracy saturates at 1.0 on
almost every real feature set; the held-out log-loss keeps ordering them (lower = more separable).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

PROBE_MAX_PAIRS = 1000
"""Pairs the probe uses at most (a seeded subsample), which keeps 5 fits under about a second."""
PROBE_FOLDS = 5
PROBE_MAX_ITER = 300
PROBE_MIN_PAIRS = PROBE_FOLDS
"""With fewer pairs than folds there is no held-out fold: the probe returns NaN."""


def modality_probe(x: np.ndarray, y_first: np.ndarray, seed: int = 0, n_resamples: int = 0) -> dict[str, object]:
    """Held-out accuracy and log-loss of image-vs-caption logistic regression over matched pairs (x_i, y_i).

    ``x`` and ``y_first`` are (N, D) unit rows; pair i is one group of GroupKFold. With
    ``n_resamples`` > 0 each also gets ``<key>_ci95``: a percentile bootstrap over pairs of the
    held-out predictions (the folds are not refitted, so it is the spread of the score, not of the fit).
    """
    nan = {"modality_probe_accuracy": float("nan"), "modality_probe_logloss": float("nan")}
    if len(x) < PROBE_MIN_PAIRS:
        return dict(nan)
    rng = np.random.default_rng(seed)
    keep = np.arange(len(x))
    if len(x) > PROBE_MAX_PAIRS:
        keep = np.sort(rng.choice(len(x), PROBE_MAX_PAIRS, replace=False))
    proba, labels = _held_out(np.vstack([x[keep], y_first[keep]]), len(keep))
    clipped = np.clip(proba, 1e-15, 1 - 1e-15)
    out: dict[str, object] = {
        "modality_probe_accuracy": float(((proba >= 0.5) == labels).mean()),
        "modality_probe_logloss": float(log_loss(labels, clipped, labels=[0, 1])),
    }
    out.update(_probe_intervals(proba, labels, len(keep), n_resamples, seed))
    return out


def _held_out(features: np.ndarray, pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold P(image) of every row (images first, then their captions) and the labels."""
    labels = np.repeat([1, 0], pairs)
    groups = np.tile(np.arange(pairs), 2)
    proba = np.empty(len(labels))
    with threadpool_limits(limits=1, user_api="blas"):  # small fits: numpy's BLAS threads only contend with torch's
        for train, test in GroupKFold(n_splits=PROBE_FOLDS).split(features, labels, groups):
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=PROBE_MAX_ITER))
            model.fit(features[train], labels[train])
            proba[test] = model.predict_proba(features[test])[:, 1]
    return proba, labels


def _probe_intervals(proba: np.ndarray, labels: np.ndarray, pairs: int, n_resamples: int, seed: int) -> dict:
    """Bootstrap over pairs (an image and its caption resampled together) of held-out accuracy and log-loss."""
    from gapviz.science.estimators import bootstrap_intervals

    clipped = np.clip(proba, 1e-15, 1 - 1e-15)
    correct = ((proba >= 0.5) == labels).astype(np.float64)
    loss = -(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))
    per_pair = {
        "modality_probe_accuracy": (correct[:pairs] + correct[pairs:]) / 2.0,
        "modality_probe_logloss": (loss[:pairs] + loss[pairs:]) / 2.0,
    }

    def stats(w: np.ndarray) -> dict[str, np.ndarray]:
        total = w.sum(axis=1)
        return {key: (w @ values) / total for key, values in per_pair.items()}

    return bootstrap_intervals(stats, pairs, n_resamples, seed)
