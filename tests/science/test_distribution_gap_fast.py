"""The distribution gap's batched subsets (kernels._PairKernels.plains) against the one-subset definition and the
values of the implementation that evaluated every subset on its own."""

import numpy as np
import pytest

from gapviz.science import kernels


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _inputs():
    """A shape difference, a near-null cone, n < MIN_PAIRS_FOR_INTERVAL, and a set over DISTRIBUTION_MAX_PAIRS."""
    r = [np.random.default_rng(s) for s in range(4)]
    stretch = np.array([2.0, 1, 1, 1, 1, 1, 1, 1])
    cone = r[1].normal(size=(600, 64)) * (1 + np.arange(64)) ** -0.6 + np.eye(64)[0] * 1.2
    big = r[3].normal(size=(1100, 32))
    return {
        "shape": (_unit(r[0].normal(size=(200, 8))), _unit(r[0].normal(size=(200, 8)) * stretch), 3),
        "null": (_unit(cone[:300]), _unit(cone[300:]), 0),
        "tiny": (_unit(r[2].normal(size=(12, 8))), _unit(r[2].normal(size=(12, 8)) + 0.3), 1),
        "subsampled": (_unit(big), _unit(big + r[3].normal(size=(1100, 32)) - 0.2), 2),
    }


PINNED = {
    "shape": (0.0044918016512497765, [0.002043505940664377, 0.006940097361835176], 200),
    "null": (9.375097299071326e-05, [-0.0006846884562416562, 0.0008721904022230828], 300),
    "tiny": (0.03475894019161538, [np.nan, np.nan], 12),
    "subsampled": (4.9293364572692894e-05, [9.91311451390444e-06, 8.867361463148134e-05], 1024),
}


@pytest.mark.parametrize("name", PINNED)
def test_distribution_gap_keeps_the_previous_values(name):
    """Point and interval to 1e-9 relative: PINNED was produced by the previous implementation (a gather and an exp
    per subset) at commit b5b9d9e, with the same seeds; the random draws are made in the same order."""
    x, y, seed = _inputs()[name]
    point, interval, n = PINNED[name]
    got = kernels.distribution_gap(x, y, n_resamples=1, seed=seed)
    assert got["distribution_gap_n"] == n
    assert got["distribution_gap"] == pytest.approx(point, rel=1e-9)
    assert got["distribution_gap_ci95"] == pytest.approx(interval, rel=1e-9, nan_ok=True)


def _random_subsets(rng, n, count):
    return [np.sort(rng.choice(n, size, replace=False)) for size in rng.integers(3, n + 1, count)]


def test_batched_subsets_equal_the_one_subset_definition():
    x, y, _ = _inputs()["shape"]
    k = kernels._PairKernels.of(x, y)
    subsets = [np.arange(len(x)), *_random_subsets(np.random.default_rng(0), len(x), 30)]
    assert k.plains(subsets) == pytest.approx([k.plain(rows) for rows in subsets], rel=1e-9, abs=1e-14)


def test_batched_subsets_keep_the_clamp_where_round_off_centres_a_pair_below_zero():
    """A pure shift with repeated rows: repeated pairs sit at centred distance 0, float32 round-off on either side."""
    rng = np.random.default_rng(1)
    x = _unit(rng.normal(size=(24, 8)))[rng.integers(0, 12, 24)]
    k = kernels._PairKernels.of(x, x + 0.5)
    subsets = [np.arange(24), *_random_subsets(rng, 24, 30)]
    raw = [kernels._centred_cross(k.x, k.y, k.d_xy, rows) + np.eye(len(rows)) for rows in subsets]
    assert sum(int((c < 0).sum()) for c in raw) > 0  # the clamp bites
    unclamped = [
        (k.within[np.ix_(rows, rows)].sum() - 2 * (np.exp(-c / k.bandwidth) * (1 - np.eye(len(rows)))).sum())
        / (len(rows) * (len(rows) - 1))
        for rows, c in zip(subsets, raw, strict=True)
    ]
    plain = [k.plain(rows) for rows in subsets]
    assert np.max(np.abs(np.subtract(unclamped, plain))) > 1e-10
    assert k.plains(subsets) == pytest.approx(plain, rel=0, abs=1e-13)
