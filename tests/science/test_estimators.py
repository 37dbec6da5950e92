"""The unbiased gap, the bootstrap and the permutation null against brute-force loops over explicit samples."""

import numpy as np
import pytest

from gapviz.science import metrics as M
from gapviz.science.estimators import (
    PairSums,
    gap_statistics,
    null_gaps,
    pair_distance_statistics,
    recall_statistics,
    resample_counts,
)
from gapviz.science.probe import modality_probe
from gapviz.science.retrieval import retrieval_hits


def _data(n=30, m=None, d=6, seed=0, offset=0.6):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(n, d)) + 0.7
    idx = np.arange(n) if m is None else np.concatenate([np.arange(n), rng.integers(0, n, m - n)])
    text = image[idx] + rng.normal(size=(len(idx), d)) - offset
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    return unit(image), unit(text), idx


def _unbiased_sq_ref(x, y, idx):
    """mean ⟨x_i,x_j⟩ (i≠j) + mean ⟨y_j,y_l⟩ (captions of different images) − 2 mean ⟨x_i,y_j⟩ (j not i's caption)."""
    xx = np.mean([x[i] @ x[j] for i in range(len(x)) for j in range(len(x)) if i != j])
    yy = np.mean([y[j] @ y[c] for j in range(len(y)) for c in range(len(y)) if idx[j] != idx[c]])
    xy = np.mean([x[i] @ y[j] for i in range(len(x)) for j in range(len(y)) if idx[j] != i])
    return xx + yy - 2 * xy


@pytest.mark.parametrize("m", [None, 55])
def test_unbiased_gap_against_loops(m):
    x, y, idx = _data(m=m)
    stats = gap_statistics(PairSums.of(x, y, idx), np.ones((1, len(x))))
    ref = _unbiased_sq_ref(x, y, idx)
    assert stats["gap_squared_unbiased"][0] == pytest.approx(ref, abs=1e-12)
    assert stats["gap_distance_unbiased"][0] == pytest.approx(np.sqrt(max(ref, 0.0)), abs=1e-12)
    assert stats["gap_distance"][0] == pytest.approx(M.gap_distance(x, y), abs=1e-12)


def test_unbiased_gap_has_no_small_sample_floor():
    rng = np.random.default_rng(7)
    features = rng.normal(size=(500, 64)) + 0.4  # one modality with a cone (mean cosine ≈ 0.14)
    x, y = features[:250], features[250:]
    out = M.compute_all(x, y, n_resamples=400, seed=1)
    cone = M.cone(features)
    floor = np.sqrt(2 * (1 - cone) / 250)
    assert out["gap_distance"] == pytest.approx(floor, rel=0.25)
    assert out["gap_distance_unbiased"] < 0.3 * out["gap_distance"]
    lo, hi = out["gap_distance_unbiased_ci95"]
    assert lo == 0.0 < hi
    assert out["gap_distance"] <= out["gap_null95"]
    assert M.indistinguishable_from_zero(out)


def test_a_real_gap_is_above_the_null_floor():
    x, y, idx = _data(n=200, offset=0.5)
    out = M.compute_all(x, y, idx, n_resamples=300)
    assert out["gap_distance"] > out["gap_null95"] and not M.indistinguishable_from_zero(out)
    lo, hi = out["gap_distance_unbiased_ci95"]
    assert 0 < lo < out["gap_distance_unbiased"] < hi


def _cone_ref(rows, origin):
    """Mean cosine over pairs of rows whose original items differ (a resample's U-statistic)."""
    vals = [rows[a] @ rows[b] for a in range(len(rows)) for b in range(len(rows)) if origin[a] != origin[b]]
    return np.mean(vals)


def test_bootstrap_statistics_equal_the_explicit_resample():
    x, y, idx = _data(n=12, m=20)
    sums = PairSums.of(x, y, idx)
    counts = next(resample_counts(len(x), 3, seed=5))
    hits = retrieval_hits(x, y, idx, ks=(1, 5))
    pair_sq = ((x[idx] - y) ** 2).sum(axis=1)
    stats = {
        **gap_statistics(sums, counts),
        **recall_statistics(hits.i2t, hits.t2i, idx, len(x), counts, hits.ks),
        **pair_distance_statistics(pair_sq, idx, len(x), counts),
    }
    for b, w in enumerate(counts.astype(int)):
        images = np.repeat(np.arange(len(x)), w)
        caps = [j for i in images for j in np.flatnonzero(idx == i)]
        cap_origin = [i for i in images for _ in np.flatnonzero(idx == i)]
        xr, yr = x[images], y[caps]
        assert stats["gap_distance"][b] == pytest.approx(np.linalg.norm(xr.mean(0) - yr.mean(0)), abs=1e-6)
        pair_cos = np.mean([x[i] @ y[j] for j, i in zip(caps, cap_origin, strict=True)])
        assert stats["pair_cosine"][b] == pytest.approx(pair_cos, abs=1e-6)
        cone_x, cone_y = _cone_ref(xr, images), _cone_ref(yr, caps)
        assert stats["cone_image"][b] == pytest.approx(cone_x, abs=1e-6)
        assert stats["cone_text"][b] == pytest.approx(cone_y, abs=1e-6)
        pair_d = (1 - stats["pair_cosine"][b]) / 2
        rmg = pair_d / (pair_d + ((1 - cone_x) / 2 + (1 - cone_y) / 2) / 2)
        assert stats["relative_gap"][b] == pytest.approx(rmg, abs=1e-6)
        assert stats["t2i_r1"][b] == pytest.approx(np.mean(hits.t2i[caps, 0]), abs=1e-9)
        assert stats["i2t_r5"][b] == pytest.approx(np.mean(hits.i2t[images, 1]), abs=1e-9)
        distances = np.linalg.norm(x[cap_origin] - y[caps], axis=1)
        assert stats["mean_pair_distance"][b] == pytest.approx(distances.mean(), abs=1e-9)
        assert stats["alignment"][b] == pytest.approx((distances**2).mean(), abs=1e-9)


def test_every_whole_set_metric_shown_with_a_number_has_an_interval_around_it():
    x, y, idx = _data(n=120, m=200, offset=0.3)
    out = M.compute_all(x, y, idx, n_resamples=300, seed=3)
    for name in ("mean_pair_distance", "alignment", "modality_probe_accuracy", "modality_probe_logloss"):
        lo, hi = out[f"{name}_ci95"]
        assert lo <= out[name] <= hi and lo < hi, name
    assert out["alignment_ci95"] == pytest.approx(sorted(2 - 2 * np.asarray(out["pair_cosine_ci95"])), abs=1e-9)


def test_the_probe_interval_resamples_pairs_of_held_out_predictions():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))  # one distribution: chance
    x[:, 0] += 0.25  # a weak offset: held-out accuracy a little above 1/2, with a visible spread
    x, y = x / np.linalg.norm(x, axis=1, keepdims=True), y / np.linalg.norm(y, axis=1, keepdims=True)
    out = modality_probe(x, y, seed=1, n_resamples=500)
    lo, hi = out["modality_probe_accuracy_ci95"]
    assert lo < out["modality_probe_accuracy"] < hi
    assert 0.02 < hi - lo < 0.2  # ≈ 4·sqrt(p(1-p)/600) for 600 correlated predictions
    assert "modality_probe_accuracy_ci95" not in modality_probe(x, y, seed=1)  # no resamples, no interval


def test_null_gaps_equal_explicit_swaps():
    x, y, idx = _data(n=10, m=16)
    sums = PairSums.of(x, y, idx)
    swapped = np.random.default_rng(2).random((4, 10)) < 0.5
    got = null_gaps(sums, y, swapped)
    for b in range(4):
        xs, ys = x.copy(), y.copy()
        for i in np.flatnonzero(swapped[b]):
            j = int(np.flatnonzero(idx == i)[0])
            xs[i], ys[j] = y[j], x[i]
        assert got[b] == pytest.approx(np.linalg.norm(xs.mean(0) - ys.mean(0)), abs=1e-6)


def test_resample_counts_are_seeded_draws_of_n():
    blocks = list(resample_counts(50, 300, seed=3))
    assert sum(len(b) for b in blocks) == 300
    assert all((b.sum(axis=1) == 50).all() for b in blocks)
    again = list(resample_counts(50, 300, seed=3))
    assert all((a == b).all() for a, b in zip(blocks, again, strict=True))
