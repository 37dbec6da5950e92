"""Fair-tie recall@k against a brute force that enumerates which tied candidates land in the top k."""

import itertools

import numpy as np
import pytest

from gapviz.science import retrieval
from gapviz.science.retrieval import TIE_TOLERANCE, expected_hits, retrieval_hits, retrieval_recall


@pytest.fixture(params=["fused", "torch"], autouse=True)
def counting_path(request, monkeypatch):
    """Every test runs through both the numba pass and the plain torch comparisons."""
    monkeypatch.setattr(retrieval, "FUSED_MIN_CELLS", 0 if request.param == "fused" else 1 << 62)
    return request.param


def _unit(a):
    a = np.asarray(a, dtype=np.float32).astype(np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _query_hit(scores, partners, k):
    """Brute force: every r-subset of the tied group is equally likely to fill the r slots left in the top k."""
    best = max(scores[p] for p in partners)
    above = int((scores > best + TIE_TOLERANCE).sum())
    tied = [c for c in range(len(scores)) if abs(scores[c] - best) <= TIE_TOLERANCE]
    r = k - above
    if r <= 0:
        return 0.0
    if r >= len(tied):
        return 1.0
    subsets = list(itertools.combinations(tied, r))
    return float(np.mean([any(c in partners for c in s) for s in subsets]))


def _reference(image, text, idx, ks):
    x, y = _unit(image), _unit(text)
    idx = np.arange(len(y)) if idx is None else np.asarray(idx)
    sims = x @ y.T
    out = {}
    for k in ks:
        hits = [_query_hit(sims[i], set(np.flatnonzero(idx == i)), k) for i in range(len(x)) if (idx == i).any()]
        out[f"i2t_r{k}"] = float(np.mean(hits))
    for k in ks:
        out[f"t2i_r{k}"] = float(np.mean([_query_hit(sims[:, j], {int(idx[j])}, k) for j in range(len(y))]))
    return out


def _tied_data(seed=3, n=14, m=20, classes=4):
    rng = np.random.default_rng(seed)
    eye = np.eye(classes)
    idx = np.concatenate([np.arange(n), rng.integers(0, n, m - n)])
    return eye[rng.integers(0, classes, n)], eye[rng.integers(0, classes, m)], idx


@pytest.mark.parametrize("chunk_size", [1, 3, 64])
def test_exact_ties_match_the_enumerated_reference(chunk_size):
    image, text, idx = _tied_data()
    ks = (1, 2, 5, 30)
    got = retrieval_recall(image, text, idx, ks=ks, chunk_size=chunk_size)
    ref = _reference(image, text, idx, ks)
    assert got == pytest.approx(ref, abs=1e-12)
    assert 0 < got["i2t_r1"] < 1 and 0 < got["t2i_r1"] < 1


@pytest.mark.parametrize("chunk_size", [1, 7, 100_000])
def test_untied_scores_match_the_reference(chunk_size):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(30, 8))
    idx = np.concatenate([np.arange(30), rng.integers(0, 30, 40)])
    text = image[idx] + 1.5 * rng.normal(size=(70, 8))
    got = retrieval_recall(image, text, idx, chunk_size=chunk_size)
    assert got == pytest.approx(_reference(image, text, idx, (1, 5, 10)), abs=1e-12)
    assert set(np.unique(retrieval_hits(image, text, idx).t2i)) <= {0.0, 1.0}


@pytest.mark.parametrize("n", [5, 200])
def test_collapsed_embeddings_score_exactly_chance(n):
    rng = np.random.default_rng(1)
    image = np.tile(rng.normal(size=8), (n, 1))
    text = np.tile(rng.normal(size=8), (n, 1))
    got = retrieval_recall(image, text, ks=(1, 5, 10))
    for k in (1, 5, 10):
        assert got[f"i2t_r{k}"] == pytest.approx(min(k, n) / n, abs=1e-12)
        assert got[f"t2i_r{k}"] == pytest.approx(min(k, n) / n, abs=1e-12)


def test_near_collapse_below_float32_resolution_is_a_tie():
    rng = np.random.default_rng(2)
    base_x, base_y = rng.normal(size=16), rng.normal(size=16)
    image = base_x + 1e-10 * rng.normal(size=(50, 16))
    text = base_y + 1e-10 * rng.normal(size=(50, 16))
    got = retrieval_recall(image, text, ks=(1, 5))
    assert got["i2t_r1"] == pytest.approx(1 / 50) and got["t2i_r5"] == pytest.approx(5 / 50)


def test_identical_captions_of_different_images_share_the_hit():
    image = np.eye(4)
    text = np.array([[1.0, 1, 0, 0], [1.0, 1, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    hits = retrieval_hits(image, text, ks=(1,))
    np.testing.assert_allclose(hits.i2t[:, 0], [0.5, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(hits.t2i[:, 0], [0.5, 0.5, 1.0, 1.0])


def test_duplicated_rows_match_the_reference():
    rng = np.random.default_rng(4)
    image = rng.normal(size=(12, 6))
    image = np.vstack([image, image[:5]])
    text = np.vstack([image[:12] + 0.5 * rng.normal(size=(12, 6)), image[:5]])
    got = retrieval_recall(image, text, ks=(1, 3))
    assert got == pytest.approx(_reference(image, text, None, (1, 3)), abs=1e-12)


def test_several_tied_partners_use_the_hypergeometric_chance():
    # 2 of the 4 tied candidates are partners: P(at least one in the single slot) = 2/4
    assert expected_hits(1, np.array([0]), np.array([4]), np.array([2]))[0] == pytest.approx(0.5)
    # 2 slots: 1 − C(2,2)/C(4,2) = 5/6
    assert expected_hits(2, np.array([0]), np.array([4]), np.array([2]))[0] == pytest.approx(5 / 6)
    assert expected_hits(3, np.array([3]), np.array([4]), np.array([1]))[0] == 0.0


def test_image_without_caption_is_not_a_query():
    rng = np.random.default_rng(5)
    image = rng.normal(size=(10, 5))
    idx = np.arange(10) % 9
    text = image[idx] + rng.normal(size=(10, 5))
    hits = retrieval_hits(image, text, idx, ks=(1, 20))
    assert np.isnan(hits.i2t[9]).all()
    assert retrieval_recall(image, text, idx, ks=(1, 20)) == pytest.approx(_reference(image, text, idx, (1, 20)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="chunk_size"):
        retrieval_recall(np.eye(3), np.eye(3), chunk_size=0)
    with pytest.raises(ValueError, match="ks"):
        retrieval_recall(np.eye(3), np.eye(3), ks=(0,))


@pytest.mark.gpu
def test_gpu_equals_cpu():
    image, text, idx = _tied_data(n=300, m=900, classes=7)
    rng = np.random.default_rng(6)
    image = np.vstack([image, rng.normal(size=(200, 7))])
    cpu = retrieval_recall(image, text, idx, chunk_size=128)
    assert retrieval_recall(image, text, idx, chunk_size=128, device="cuda") == pytest.approx(cpu, abs=1e-12)


def test_float64_scores_apart_by_more_than_float64_precision_are_not_tied():
    """Issue 19: a partner and a rival 4e-7 apart in cosine are tied in float32, not in float64 input."""
    angle = np.sqrt(8e-7)
    image = np.array([[1.0, 0.0, 0.0], [np.cos(angle), np.sin(angle), 0.0]], dtype=np.float64)
    text = image.copy()
    assert 3e-7 < 1.0 - image[0] @ image[1] < 5e-7
    assert retrieval_recall(image, text, ks=(1,)) == {"i2t_r1": 1.0, "t2i_r1": 1.0}
    as32 = retrieval_recall(image.astype(np.float32), text.astype(np.float32), ks=(1,))
    assert as32 == {"i2t_r1": 0.5, "t2i_r1": 0.5}
