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


def modality_probe(x: np.ndarray, y_first: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Held-out accuracy and log-loss of image-vs-caption logistic regression over matched pairs (x_i, y_i).

    ``x`` and ``y_first`` are (N, D) unit rows; pair i is one group of GroupKFold.
    """
    nan = {"modality_probe_accuracy": float("nan"), "modality_probe_logloss": float("nan")}
    if len(x) < PROBE_MIN_PAIRS:
        return nan
    rng = np.random.default_rng(seed)
    keep = np.arange(len(x))
    if len(x) > PROBE_MAX_PAIRS:
        keep = np.sort(rng.choice(len(x), PROBE_MAX_PAIRS, replace=False))
    features = np.vstack([x[keep], y_first[keep]])
    labels = np.repeat([1, 0], len(keep))
    groups = np.tile(np.arange(len(keep)), 2)
    proba = np.empty(len(labels))
    with threadpool_limits(limits=1, user_api="blas"):  # small fits: numpy's BLAS threads only contend with torch's
        for train, test in GroupKFold(n_splits=PROBE_FOLDS).split(features, labels, groups):
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=PROBE_MAX_ITER))
            model.fit(features[train], labels[train])
            proba[test] = model.predict_proba(features[test])[:, 1]
    return {
        "modality_probe_accuracy": float(((proba >= 0.5) == labels).mean()),
        "modality_probe_logloss": float(log_loss(labels, np.clip(proba, 1e-15, 1 - 1e-15), labels=[0, 1])),
    }
