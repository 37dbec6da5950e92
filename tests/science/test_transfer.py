"""Cross-modal transfer: a classifier trained on images, scored on held-out images and on their captions."""

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from gapviz.science import transfer
from gapviz.science.intervals import wilson_interval
from gapviz.science.metrics import compute_all


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _classes(rng, n, d, offset):
    """Images in 4 class clusters; two captions per image near it, all shifted by ``offset`` (a gap)."""
    labels = rng.integers(0, 4, n)
    centres = 3.0 * rng.normal(size=(4, d))
    x = _unit(centres[labels] + rng.normal(size=(n, d)))
    idx = np.repeat(np.arange(n), 2)
    y = _unit(x[idx] + 0.3 * rng.normal(size=(2 * n, d)) + offset)
    return x, y, idx, labels


def _reference(x, y, idx, labels, seed):
    """The split written out: fit on one random half of the images, count hits on the other caption by caption."""
    rng = np.random.default_rng(seed + 11)
    order = rng.permutation(np.arange(len(x)))
    train, test = order[: len(x) // 2], order[len(x) // 2 :]
    model = LogisticRegression(C=transfer.TRANSFER_C, max_iter=transfer.TRANSFER_MAX_ITER)
    model.fit(x[train], labels[train])
    held = set(test.tolist())
    image = [model.predict(x[i : i + 1])[0] == labels[i] for i in test]
    text = [model.predict(y[j : j + 1])[0] == labels[im] for j, im in enumerate(idx) if im in held]
    return np.mean(image), np.mean(text), len(image), len(text)


def test_transfer_against_an_explicit_split():
    rng = np.random.default_rng(0)
    x, y, idx, labels = _classes(rng, 120, 16, 0.0)
    out = transfer.cross_modal_transfer(x, y, idx, labels, seed=3)
    image, text, n_images, n_captions = _reference(x, y, idx, labels, 3)
    assert out["transfer_accuracy_image"] == pytest.approx(image)
    assert out["transfer_accuracy_text"] == pytest.approx(text)
    assert n_captions == 2 * n_images  # two captions per image: the text interval counts the images
    assert out["transfer_accuracy_image_ci95"] == pytest.approx(wilson_interval(image, n_images))
    assert out["transfer_accuracy_text_ci95"] == pytest.approx(wilson_interval(text, n_images))
    assert out["transfer_n"] == 120 and image > 0.8 and text > 0.7


def test_a_gap_costs_transfer_accuracy():
    rng = np.random.default_rng(1)
    shift = np.r_[4.0, np.zeros(15)]
    near = transfer.cross_modal_transfer(*_classes(rng, 200, 16, 0.0))
    far = transfer.cross_modal_transfer(*_classes(np.random.default_rng(1), 200, 16, shift))
    assert far["transfer_accuracy_image"] == pytest.approx(near["transfer_accuracy_image"])
    assert far["transfer_accuracy_text"] < near["transfer_accuracy_text"] - 0.1


def test_compute_all_reports_transfer_only_with_labels():
    rng = np.random.default_rng(2)
    x, y, idx, labels = _classes(rng, 60, 8, 0.0)
    without = compute_all(x, y, idx, n_resamples=0, modality_probe=False)
    assert math.isnan(without["transfer_accuracy_text"]) and math.isnan(without["transfer_accuracy_image"])
    one_class = compute_all(x, y, idx, n_resamples=0, modality_probe=False, labels=np.zeros(60, dtype=int))
    assert math.isnan(one_class["transfer_accuracy_text"])
    with_labels = compute_all(x, y, idx, n_resamples=0, modality_probe=False, labels=labels)
    direct = transfer.cross_modal_transfer(x, y, idx, labels)
    assert with_labels["transfer_accuracy_text"] == pytest.approx(direct["transfer_accuracy_text"])
    assert with_labels["transfer_n"] == 60
    with pytest.raises(ValueError, match="labels must have shape"):
        transfer.cross_modal_transfer(x, y, idx, labels[:5])
