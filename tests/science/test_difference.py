"""Differences between two sources with bootstrap intervals: the point difference equals compute_all's,
one paired resample equals the explicit resampled sets, and pairing narrows the interval."""

from __future__ import annotations

import numpy as np
import pytest

from gapviz.science import estimators as E
from gapviz.science import metrics as M
from gapviz.science.difference import DIFFERENCE_METRICS, difference_intervals, same_points


def _source(n=150, m=None, d=12, seed=0, offset=0.5, noise=0.0):
    rng = np.random.default_rng(0)  # the same points every time; ``seed`` only perturbs
    image = rng.normal(size=(n, d)) + 0.6
    idx = np.arange(n) if m is None else np.concatenate([np.arange(n), rng.integers(0, n, m - n)])
    text = image[idx] + rng.normal(size=(len(idx), d)) - offset
    wobble = np.random.default_rng(seed)
    return image + noise * wobble.normal(size=image.shape), text + noise * wobble.normal(size=text.shape), idx


def test_the_point_difference_is_the_difference_of_compute_all():
    first, second = _source(m=220), _source(m=220, offset=0.3, seed=1, noise=0.2)
    out = difference_intervals(first, second, n_resamples=0)
    a, b = M.compute_all(*first, n_resamples=0), M.compute_all(*second, n_resamples=0)
    assert out["paired"] is True
    for k in DIFFERENCE_METRICS:
        assert out[k] == pytest.approx(b[k] - a[k], abs=1e-6), k


def test_a_paired_resample_measures_both_sources_on_the_same_images():
    first, second = _source(n=20, m=30), _source(n=20, m=30, offset=0.2, seed=3, noise=0.3)
    w = next(E.resample_counts(20, 1, seed=0, block=E.block_size(20)))[0].astype(int)
    images = np.repeat(np.arange(20), w)
    caps = [j for i in images for j in np.flatnonzero(first[2] == i)]

    def gap(source):
        x, y, _ = M.prepare(*source)
        return np.linalg.norm(x[images].mean(0) - y[caps].mean(0))

    out = difference_intervals(first, second, n_resamples=1, seed=0)
    lo, hi = out["gap_distance_ci95"]
    assert lo == pytest.approx(hi) and lo == pytest.approx(gap(second) - gap(first), abs=1e-6)


def test_identical_sources_differ_by_exactly_zero():
    source = _source()
    out = difference_intervals(source, source, n_resamples=200)
    assert out["gap_distance"] == 0.0 and out["gap_distance_ci95"] == [0.0, 0.0]


def test_pairing_narrows_the_interval_of_a_small_change():
    first, second = _source(n=300), _source(n=300, offset=0.46, seed=2, noise=0.05)
    paired = difference_intervals(first, second, n_resamples=400, seed=1)
    unpaired = difference_intervals(first, second, paired=False, n_resamples=400, seed=1)
    width = lambda out: out["gap_distance_ci95"][1] - out["gap_distance_ci95"][0]  # noqa: E731
    assert paired["gap_distance"] == pytest.approx(unpaired["gap_distance"])
    assert width(paired) < 0.5 * width(unpaired)
    lo, hi = paired["gap_distance_ci95"]
    assert hi < 0  # a smaller offset: the gap shrinks, and the paired interval says so


def test_different_point_sets_are_not_paired():
    first, second = _source(n=100), _source(n=80)
    assert not same_points(first, second)
    out = difference_intervals(first, second, n_resamples=100)
    assert out["paired"] is False and np.isfinite(out["gap_distance_ci95"]).all()
    with pytest.raises(ValueError, match="same images"):
        difference_intervals(first, second, paired=True, n_resamples=10)
