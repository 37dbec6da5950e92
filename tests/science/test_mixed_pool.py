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
