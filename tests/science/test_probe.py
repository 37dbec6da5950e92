"""The modality probe: nested choice of C, so no gap reads log 2, and its permutation null."""

import math

import numpy as np
import pytest

from gapviz.science import probe
from gapviz.science.probe import modality_probe


def _cloud(rng, n, d):
    """Unit rows with a decaying spectrum around a common direction (a cone), like real embeddings."""
    a = rng.normal(size=(n, d)) * (1 + np.arange(d)) ** -0.6
    a[:, 0] += 1.2
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_two_halves_of_one_modality_read_log_2():
    """With C fixed at 1 this read 2.37 (the probe overfit 512 dimensions)."""
    a = _cloud(np.random.default_rng(0), 500, 512)
    out = modality_probe(a[:250], a[250:], n_resamples=200)
    assert abs(out["modality_probe_logloss"] - math.log(2)) < 0.1
    assert abs(out["modality_probe_logloss_null"] - math.log(2)) < 0.1
    assert 0.4 < out["modality_probe_accuracy"] < 0.6
    lo, hi = out["modality_probe_accuracy_ci95"]
    assert lo < out["modality_probe_accuracy"] < hi
    assert out["modality_probe_n"] == 250


def test_a_gap_beats_the_permutation_null():
    rng = np.random.default_rng(1)
    x, y = _cloud(rng, 300, 64), _cloud(rng, 300, 64)
    shift = np.r_[0.0, 0.0, 0.3, np.zeros(61)]
    y = (y + shift) / np.linalg.norm(y + shift, axis=1, keepdims=True)
    out = modality_probe(x, y)
    assert out["modality_probe_accuracy"] > 0.7
    assert out["modality_probe_logloss"] < out["modality_probe_logloss_null"] - 0.1
    assert abs(out["modality_probe_logloss_null"] - math.log(2)) < 0.05


def test_the_chosen_c_minimises_the_inner_log_loss():
    """_select_c against every C of the grid fitted from scratch on the same inner folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    rng = np.random.default_rng(2)
    x, y = _cloud(rng, 80, 16), _cloud(rng, 80, 16) + 0.05
    features = np.vstack([x, y])
    labels, groups = np.repeat([1, 0], 80), np.tile(np.arange(80), 2)
    losses = []
    for c in probe.PROBE_CS:
        fold = []
        for train, test in GroupKFold(probe.PROBE_INNER_FOLDS).split(features, labels, groups):
            p = LogisticRegression(C=c, max_iter=1000).fit(features[train], labels[train]).predict_proba(features[test])
            fold.append(-np.mean(np.log(np.where(labels[test] == 1, p[:, 1], p[:, 0]))))
        losses.append(np.mean(fold))
    first_rise = next((i for i in range(1, len(losses)) if losses[i] >= losses[i - 1]), len(losses))
    assert probe._select_c(features, labels, groups) == probe.PROBE_CS[first_rise - 1]


def test_too_few_pairs_give_nan_with_the_count():
    out = modality_probe(np.eye(4), np.eye(4))
    assert math.isnan(out["modality_probe_logloss_null"]) and out["modality_probe_n"] == 4
    assert probe.PROBE_MAX_PAIRS == 1000
    assert modality_probe(*[_cloud(np.random.default_rng(3), 1100, 8)] * 2)["modality_probe_n"] == pytest.approx(1000)


def test_log_loss_of_a_confident_float32_answer_is_finite_and_matches_sklearn():
    """float32 probabilities of exactly 0 and 1 are clipped as sklearn clips them, not rounded back to 0 and 1."""
    from sklearn.metrics import log_loss

    proba = np.array([1.0, 0.0, 0.5, 0.9], dtype=np.float32)
    labels = np.array([0, 1, 1, 1])
    got = probe._log_loss(proba, labels)
    assert math.isfinite(got)
    clipped = np.clip(proba.astype(np.float64), 1e-15, 1 - 1e-15)
    assert got == pytest.approx(log_loss(labels, clipped, labels=[0, 1]))
