"""Mixed-pool modality bias against an explicit full sort of the pooled similarities."""

import numpy as np
import pytest

from gapviz.science import mixed_pool


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _reference(x, y):
    """For every query, sort the whole pool (itself removed) and read the top-1 modality and first-other rank."""
    pool = np.vstack([x, y])
    modality = np.r_[np.zeros(len(x)), np.ones(len(y))]
    top, rank = {0: [], 1: []}, {0: [], 1: []}
    for q in range(len(pool)):
        others = [p for p in range(len(pool)) if p != q]
        ranked = sorted(others, key=lambda p: -(pool[q] @ pool[p]))
        mine = modality[q]
        top[mine].append(modality[ranked[0]] == mine)
        rank[mine].append(1 + next(r for r, p in enumerate(ranked) if modality[p] != mine))
    return np.mean(top[0]), np.mean(top[1]), np.mean(rank[0]), np.mean(rank[1])


def test_mixed_pool_against_a_full_sort(monkeypatch):
    rng = np.random.default_rng(0)
    x = _unit(rng.normal(size=(50, 6)) + np.r_[2.5, np.zeros(5)])
    y = _unit(rng.normal(size=(70, 6)) - np.r_[2.5, np.zeros(5)])
    monkeypatch.setattr(mixed_pool, "MIXED_CHUNK", 16)  # several chunks
    out = mixed_pool.mixed_pool_bias(x, y)
    itr, tir, imr, tmr = _reference(x, y)
    assert out["mixed_itr"] == pytest.approx(itr)
    assert out["mixed_tir"] == pytest.approx(tir)
    assert out["mixed_imr"] == pytest.approx(imr)
    assert out["mixed_tmr"] == pytest.approx(tmr)
    assert out["mixed_pool_n"] == 120
    assert itr > 0.8 and imr > 2


def test_no_gap_reads_the_pool_shares():
    rng = np.random.default_rng(1)
    a = _unit(rng.normal(size=(1200, 4)))
    out = mixed_pool.mixed_pool_bias(a[:400], a[400:])  # a third images, two thirds captions
    assert out["mixed_itr"] == pytest.approx(1 / 3, abs=0.06)
    assert out["mixed_tir"] == pytest.approx(2 / 3, abs=0.06)


def test_ties_count_at_their_expected_value():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    y = np.array([[1.0, 0.0], [0.0, -1.0]])
    out = mixed_pool.mixed_pool_bias(x, y)
    # image 0 and 1: an identical image and an identical caption tie at the top: P(image first) = 1/2,
    # expected rank of the caption 1 + 1/2; image 2: its nearest (cosine 0) are both images and one caption.
    assert out["mixed_itr"] == pytest.approx((0.5 + 0.5 + 2 / 3) / 3)
    assert out["mixed_imr"] == pytest.approx((1.5 + 1.5 + (1 + 2 / 2)) / 3)


def test_queries_are_subsampled_but_the_pool_is_whole():
    rng = np.random.default_rng(2)
    x, y = _unit(rng.normal(size=(300, 5))), _unit(rng.normal(size=(200, 5)))
    out = mixed_pool.mixed_pool_bias(x, y, max_queries=100)
    assert out["mixed_pool_n"] == 200
    assert out == mixed_pool.mixed_pool_bias(x, y, max_queries=100)


def _pinned_inputs(name):
    """Seeded inputs: duplicate images and captions identical to images (exact ties), more rows than
    MIXED_MAX_QUERIES of each modality (the subsample), and a tiny float64 pool."""
    if name == "ties":
        rng = np.random.default_rng(7)
        x = _unit(rng.normal(size=(90, 6)) + np.r_[1.0, np.zeros(5)])
        y = _unit(rng.normal(size=(110, 6)) - np.r_[1.0, np.zeros(5)])
        x[10:20], y[:15], y[50:60] = x[:10], x[:15], y[60:70]
        return x, y
    if name == "subsample":
        rng = np.random.default_rng(8)
        return _unit(rng.normal(size=(2600, 12)) + 0.4), _unit(rng.normal(size=(2300, 12)) - 0.4)
    rng = np.random.default_rng(9)
    return _unit(rng.normal(size=(3, 3))), _unit(rng.normal(size=(2, 3)))


PINNED = {  # mixed_itr, mixed_tir, mixed_imr, mixed_tmr, mixed_pool_n at seed=3
    "ties": (0.6, 0.6590909090909091, 4.148148148148148, 6.193939393939394, 200.0),
    "subsample": (0.86865234375, 0.83642578125, 41.43896484375, 29.806640625, 4096.0),
    "tiny": (1.0, 0.0, 2.6666666666666665, 1.0, 5.0),
}


@pytest.mark.filterwarnings("error")  # read-only rows reach torch without its not-writable warning
@pytest.mark.parametrize("name", PINNED)
def test_the_fused_pass_gives_the_numpy_passs_numbers(name):
    """The pinned numbers came from the previous implementation (numpy comparisons on each chunk's score
    matrices) at commit b5b9d9e949194c2f9cab195c398e98de2bb68194, on the same inputs."""
    x, y = (v.astype(np.float32) for v in _pinned_inputs(name))
    x.setflags(write=False)
    out = mixed_pool.mixed_pool_bias(x, y, seed=3)
    keys = ("mixed_itr", "mixed_tir", "mixed_imr", "mixed_tmr", "mixed_pool_n")
    assert [out[k] for k in keys] == pytest.approx(PINNED[name], rel=1e-12, abs=1e-12)
