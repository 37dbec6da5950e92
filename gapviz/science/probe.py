"""The modality probe: how well a linear classifier tells an image embedding from a caption embedding.

A logistic regression is scored on held-out folds (GroupKFold, a pair's image and caption always in
the same fold, so the probe cannot lean on the pair's shared content). Its L2 strength C is chosen
inside each outer fold by an inner GroupKFold (nested cross-validation): with C fixed at 1 the probe
overfit 512 dimensions and read a log-loss of 2.4 where there is no gap. Accuracy saturates at 1.0 on
almost every real feature set; the held-out log-loss keeps ordering them (lower = more separable), and
``modality_probe_logloss_null`` is the same log-loss with the labels swapped at random within pairs.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

PROBE_MAX_PAIRS = 1000
"""Pairs the probe uses at most (a seeded subsample), which keeps one probe near a second."""
PROBE_FOLDS = 5
PROBE_INNER_FOLDS = 2
PROBE_CS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
"""The inner search walks this grid upward and stops at the first C whose inner log-loss is not lower."""
PROBE_NULL_PERMUTATIONS = 2
"""Refits with permuted labels behind ``modality_probe_logloss_null`` (0: not measured, NaN; training evaluation)."""
PROBE_MAX_ITER = 300
PROBE_MIN_PAIRS = PROBE_FOLDS
"""With fewer pairs than folds there is no held-out fold: the probe returns NaN."""
PROBE_KEYS = ("modality_probe_accuracy", "modality_probe_logloss", "modality_probe_logloss_null")


def modality_probe(
    x: np.ndarray,
    y_first: np.ndarray,
    seed: int = 0,
    n_resamples: int = 0,
    null_permutations: int = PROBE_NULL_PERMUTATIONS,
) -> dict[str, object]:
    """Held-out accuracy and log-loss of image-vs-caption logistic regression over matched pairs (x_i, y_i).

    ``x`` and ``y_first`` are (N, D) unit rows; pair i is one group of GroupKFold. With
    ``n_resamples`` > 0 accuracy and log-loss also get ``<key>_ci95``: a percentile bootstrap over pairs of the
    held-out predictions (the folds are not refitted, so it is the spread of the score, not of the fit).
    ``modality_probe_logloss_null`` is the mean held-out log-loss over PROBE_NULL_PERMUTATIONS refits with
    each pair's two labels swapped at random (≈ log 2 with a calibrated probe); ``modality_probe_n`` the pairs used.
    """
    if len(x) < PROBE_MIN_PAIRS:
        return {**dict.fromkeys(PROBE_KEYS, float("nan")), "modality_probe_n": float(len(x))}
    rng = np.random.default_rng(seed)
    keep = np.arange(len(x))
    if len(x) > PROBE_MAX_PAIRS:
        keep = np.sort(rng.choice(len(x), PROBE_MAX_PAIRS, replace=False))
    pairs = len(keep)
    features = np.vstack([x[keep], y_first[keep]])
    labels = np.repeat([1, 0], pairs)
    proba = _held_out(features, labels)
    null = []
    for _ in range(null_permutations):
        swap = np.tile(rng.random(pairs) < 0.5, 2)
        permuted = np.where(swap, 1 - labels, labels)
        null.append(_log_loss(_held_out(features, permuted), permuted))
    out: dict[str, object] = {
        "modality_probe_accuracy": float(((proba >= 0.5) == labels).mean()),
        "modality_probe_logloss": _log_loss(proba, labels),
        "modality_probe_logloss_null": float(np.mean(null)) if null else float("nan"),
        "modality_probe_n": float(pairs),
    }
    out.update(_probe_intervals(proba, labels, pairs, n_resamples, seed))
    return out


def _log_loss(proba: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities clipped to [1e-15, 1 − 1e-15], as sklearn's log_loss, faster
    (in float64: float32 rounds 1 − 1e-15 to 1, and a confident wrong answer would cost an infinite loss)."""
    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-15, 1 - 1e-15)
    return float(-np.mean(np.where(labels == 1, np.log(p), np.log1p(-p))))


def _select_c(features: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> float:
    """The C of PROBE_CS with the lowest inner held-out log-loss, walking upward with warm starts until it rises."""
    splits = list(GroupKFold(n_splits=PROBE_INNER_FOLDS).split(features, labels, groups))
    models = [LogisticRegression(max_iter=PROBE_MAX_ITER, warm_start=True) for _ in splits]
    best_c, best_loss = PROBE_CS[0], float("inf")
    for c in PROBE_CS:
        losses = []
        for model, (train, test) in zip(models, splits, strict=True):
            model.set_params(C=c).fit(features[train], labels[train])
            losses.append(_log_loss(model.predict_proba(features[test])[:, 1], labels[test]))
        if float(np.mean(losses)) >= best_loss:
            break
        best_c, best_loss = c, float(np.mean(losses))
    return best_c


def _held_out(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Out-of-fold P(label 1) of every row (the images first, then their captions), C chosen per outer fold."""
    groups = np.tile(np.arange(len(labels) // 2), 2)
    proba = np.empty(len(labels))
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the last grid steps may stop at max_iter
        for train, test in GroupKFold(n_splits=PROBE_FOLDS).split(features, labels, groups):
            scaler = StandardScaler().fit(features[train])
            inner, outer = scaler.transform(features[train]), scaler.transform(features[test])
            c = _select_c(inner, labels[train], groups[train])
            model = LogisticRegression(C=c, max_iter=PROBE_MAX_ITER).fit(inner, labels[train])
            proba[test] = model.predict_proba(outer)[:, 1]
    return proba


def _probe_intervals(proba: np.ndarray, labels: np.ndarray, pairs: int, n_resamples: int, seed: int) -> dict:
    """Accuracy: Wilson over pairs (a pair's image and caption share a fold and a content, so a pair is the
    unit), which covered 0.5 on the null where a bootstrap of the predictions (blind to the folds' own
    variance) did not. Log-loss: a bootstrap over pairs of the held-out losses."""
    from gapviz.science.estimators import bootstrap_intervals
    from gapviz.science.intervals import wilson_interval

    if n_resamples < 1:
        return {}
    clipped = np.clip(proba, 1e-15, 1 - 1e-15)
    loss = -(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))
    per_pair = (loss[:pairs] + loss[pairs:]) / 2.0

    def stats(w: np.ndarray) -> dict[str, np.ndarray]:
        return {"modality_probe_logloss": (w @ per_pair) / w.sum(axis=1)}

    accuracy = float(((proba >= 0.5) == labels).mean())
    return {
        "modality_probe_accuracy_ci95": wilson_interval(accuracy, pairs),
        **bootstrap_intervals(stats, pairs, n_resamples, seed),
    }
