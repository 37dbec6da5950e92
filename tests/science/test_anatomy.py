"""Gap spectrum, mutual k-NN, effective rank, kernel statistics and the modality probe against brute force."""

import math

import numpy as np
import pytest

from gapviz.science import anatomy, kernels
from gapviz.science.probe import modality_probe


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_gap_spectrum_shares_against_sorting():
    rng = np.random.default_rng(0)
    g = rng.normal(size=40)
    g[[3, 17]] = [5.0, -4.0]
    sq = sorted((v * v for v in g), reverse=True)
    shares = anatomy.gap_spectrum_shares(g)
    for k in (1, 5, 10):
        assert shares[f"gap_top{k}_share"] == pytest.approx(sum(sq[:k]) / sum(sq))
    top = anatomy.gap_spectrum(g, k=2)
    assert [d for d, _, _ in top] == [3, 17] and top[1][1] == -4.0
    assert math.isnan(anatomy.gap_spectrum_shares(np.zeros(5))["gap_top1_share"])


def _mutual_knn_ref(x, y, k):
    def neighbours(a, i):
        sims = [(a[i] @ a[j], j) for j in range(len(a)) if j != i]
        return {j for _, j in sorted(sims, reverse=True)[:k]}

    return np.mean([len(neighbours(x, i) & neighbours(y, i)) / k for i in range(len(x))])


def test_mutual_knn_against_loops_and_invariant_to_the_gap():
    rng = np.random.default_rng(1)
    x = _unit(rng.normal(size=(60, 8)))
    y = _unit(x + 0.6 * rng.normal(size=(60, 8)))
    got = anatomy.mutual_knn(x, y, k=5)
    assert got == pytest.approx(_mutual_knn_ref(x, y, 5))
    assert 0.1 < got < 0.9
    assert anatomy.mutual_knn(x, x, k=5) == 1.0
    shifted = x + np.array([3.0] + [0.0] * 7)  # a rigid offset: within-modality neighbours barely move
    assert anatomy.mutual_knn(x, _unit(shifted), k=5) > 0.5
    assert math.isnan(anatomy.mutual_knn(x[:5], y[:5], k=5))


def test_mutual_knn_subsample_is_seeded():
    rng = np.random.default_rng(2)
    x = _unit(rng.normal(size=(300, 6)))
    y = _unit(x + rng.normal(size=(300, 6)))
    a = anatomy.mutual_knn(x, y, k=5, max_pairs=100, seed=1)
    assert a == anatomy.mutual_knn(x, y, k=5, max_pairs=100, seed=1)
    assert a != anatomy.mutual_knn(x, y, k=5, max_pairs=300)


def test_effective_rank_against_svd():
    rng = np.random.default_rng(3)
    for shape in ((50, 8), (6, 20)):
        a = _unit(rng.normal(size=shape))
        s = np.linalg.svd(a, compute_uv=False)
        p = s / s.sum()
        assert anatomy.effective_rank(a) == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-5)
    assert anatomy.effective_rank(np.tile([[1.0, 0, 0]], (10, 1))) == pytest.approx(1.0)


def test_a_collapsed_modality_has_effective_rank_one():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=256) + 1e-6 * rng.normal(size=(5000, 256))  # one direction, float32 rounding apart
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    assert anatomy.effective_rank(rows) == pytest.approx(1.0, abs=0.01)  # a float32 Gram matrix gave 1.38


def test_uniformity_subsample_and_interval():
    rng = np.random.default_rng(4)
    x, y = _unit(rng.normal(size=(300, 5))), _unit(rng.normal(size=(200, 5)) + 0.5)
    full = kernels.uniformities(x, y, max_rows=10_000)
    sub = kernels.uniformities(x, y, max_rows=100, n_resamples=200)
    for key in ("uniformity_image", "uniformity_text", "uniformity_joint"):
        lo, hi = sub[f"{key}_ci95"]
        assert lo < sub[key] < hi
        assert lo - 0.05 < full[key] < hi + 0.05
    assert kernels.uniformities(np.eye(6), np.eye(6), t=500.0)["uniformity_image"] == pytest.approx(-1000.0, rel=1e-6)


def _centred_u(x, y, bw):
    xc, yc = x - x.mean(0), y - y.mean(0)
    k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / bw)  # noqa: E731
    n = len(x)
    vals = [
        k(x[i], x[j]) + k(y[i], y[j]) - k(xc[i], yc[j]) - k(xc[j], yc[i]) for i in range(n) for j in range(n) if i != j
    ]
    return np.mean(vals)


def _mmd_ref(x, y, seed=0, splits=4):
    """Split-half jackknife of the own-mean-centred MMD² U-statistic, from the definition with loops."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    pooled = [np.sum((a - b) ** 2) for s in (x, y) for i, a in enumerate(s) for j, b in enumerate(s) if i < j]
    pooled += [np.sum((a - b) ** 2) for a in xc for b in yc]
    bw = np.median(pooled)
    n = len(x)
    full = _centred_u(x, y, bw)
    rng = np.random.default_rng(seed + 5)  # the splits distribution_gap draws (no subsample below its cap)
    excess = scale = 0.0
    for _ in range(splits):
        order = rng.permutation(n)
        for half in (np.sort(order[: n // 2]), np.sort(order[n // 2 :])):
            excess += _centred_u(x[half], y[half], bw) - full
            scale += 1 / len(half) - 1 / n
    return full - (excess / scale / n if splits else 0.0)


def test_distribution_gap_against_loops_and_blind_to_the_centroid_gap():
    rng = np.random.default_rng(5)
    x = _unit(rng.normal(size=(40, 4)))
    y = _unit(rng.normal(size=(40, 4)) * np.array([6.0, 1, 1, 0.05]))
    got = kernels.distribution_gap(x, y, n_resamples=200)
    assert got["distribution_gap"] == pytest.approx(_mmd_ref(x, y), abs=1e-6)
    assert got["distribution_gap_n"] == 40
    plain = kernels.distribution_gap(x, y, splits=0)["distribution_gap"]
    assert plain == pytest.approx(_mmd_ref(x, y, splits=0), abs=1e-6)
    lo, hi = got["distribution_gap_ci95"]
    assert 0 < lo < got["distribution_gap"] < hi
    offset = kernels.distribution_gap(x, x + 0.5, n_resamples=0)["distribution_gap"]  # a pure centroid gap
    assert abs(offset) < 1e-7  # float32 distances
    assert kernels.distribution_gap(x, y, max_pairs=16)["distribution_gap_n"] == 16


def _cloud(rng, n, d):
    """Unit rows with a decaying spectrum around a common direction (a cone), like real embeddings."""
    a = rng.normal(size=(n, d)) * (1 + np.arange(d)) ** -0.6
    a[:, 0] += 1.2
    return _unit(a)


def test_distribution_gap_has_no_small_sample_bias():
    """Two halves of one modality (true value 0): the own-mean-centred estimate averages about −0.65/n."""
    new, old = [], []
    for rep in range(200):
        a = _cloud(np.random.default_rng(rep), 250, 64)
        new.append(kernels.distribution_gap(a[:125], a[125:], seed=rep)["distribution_gap"])
        old.append(kernels.distribution_gap(a[:125], a[125:], seed=rep, splits=0)["distribution_gap"])
    assert abs(np.mean(new)) < 0.002
    assert np.mean(old) < -0.004


def test_modality_probe_does_not_saturate_on_overlapping_modalities():
    rng = np.random.default_rng(6)
    same = _unit(rng.normal(size=(400, 16)))
    none = modality_probe(same[:200], same[200:])
    assert 0.35 < none["modality_probe_accuracy"] < 0.65
    assert none["modality_probe_logloss"] > 0.6
    x = _unit(rng.normal(size=(300, 16)) + np.r_[0.3, np.zeros(15)])
    y = _unit(rng.normal(size=(300, 16)) - np.r_[0.3, np.zeros(15)])
    far_x, far_y = _unit(x + np.r_[3.0, np.zeros(15)]), _unit(y - np.r_[3.0, np.zeros(15)])
    weak, strong = modality_probe(x, y), modality_probe(far_x, far_y)
    assert 0.55 < weak["modality_probe_accuracy"] < strong["modality_probe_accuracy"]
    assert strong["modality_probe_logloss"] < weak["modality_probe_logloss"] < none["modality_probe_logloss"]
    assert math.isnan(modality_probe(x[:3], y[:3])["modality_probe_accuracy"])


def _hsic_loops(k, q):
    """Song et al. (2012) eq. 5 written with explicit sums."""
    m = len(k)
    kt = [[0.0 if i == j else k[i][j] for j in range(m)] for i in range(m)]
    qt = [[0.0 if i == j else q[i][j] for j in range(m)] for i in range(m)]
    trace = sum(kt[i][j] * qt[j][i] for i in range(m) for j in range(m))
    total = sum(map(sum, kt)) * sum(map(sum, qt)) / ((m - 1) * (m - 2))
    cross = sum(kt[i][j] * qt[j][l] for i in range(m) for j in range(m) for l in range(m))  # noqa: E741
    return (trace + total - 2 * cross / (m - 2)) / (m * (m - 3))


def _cknna_ref(a, b, k):
    m = len(a)

    def neighbours(x, i):
        return {j for _, j in sorted(((x[i] @ x[j], j) for j in range(m) if j != i), reverse=True)[:k]}

    na, nb = [neighbours(a, i) for i in range(m)], [neighbours(b, i) for i in range(m)]
    ka = [[a[i] @ a[j] for j in range(m)] for i in range(m)]
    kb = [[b[i] @ b[j] for j in range(m)] for i in range(m)]

    def masked(kern, keep):
        return [[kern[i][j] if keep(i, j) else 0.0 for j in range(m)] for i in range(m)]

    both = lambda i, j: j in na[i] and j in nb[i]  # noqa: E731
    kl = _hsic_loops(masked(ka, both), masked(kb, both))
    kk = _hsic_loops(masked(ka, lambda i, j: j in na[i]), masked(ka, lambda i, j: j in na[i]))
    ll = _hsic_loops(masked(kb, lambda i, j: j in nb[i]), masked(kb, lambda i, j: j in nb[i]))
    return kl / (np.sqrt(kk * ll) + 1e-6)


def test_cknna_against_its_definition():
    rng = np.random.default_rng(8)
    x = _unit(rng.normal(size=(24, 6)))
    y = _unit(x + 0.7 * rng.normal(size=(24, 6)))
    got = anatomy.cknna(x, y, k=5)
    assert got == pytest.approx(_cknna_ref(x, y, 5), rel=1e-6)
    assert anatomy.cknna(x, x, k=5) == pytest.approx(1.0, abs=1e-4)
    unrelated = anatomy.cknna(x, _unit(rng.normal(size=(24, 6))), k=5)
    assert unrelated < got


def test_knn_alignment_prints_its_n_chance_and_interval():
    rng = np.random.default_rng(9)
    x = _unit(rng.normal(size=(300, 8)))
    y = _unit(x + 0.8 * rng.normal(size=(300, 8)))
    out = anatomy.knn_alignment(x, y, n_resamples=300, max_pairs=200)
    assert out["mutual_knn_n"] == out["cknna_n"] == 200
    assert out["mutual_knn_10_chance"] == pytest.approx(10 / 199)
    assert out["mutual_knn_10"] == anatomy.mutual_knn(x, y, max_pairs=200)
    lo, hi = out["mutual_knn_10_ci95"]
    assert out["mutual_knn_10_chance"] < lo < out["mutual_knn_10"] < hi
    full = anatomy.knn_alignment(x, y)
    assert full["mutual_knn_n"] == 300 and full["mutual_knn_10"] == pytest.approx(_mutual_knn_ref(x, y, 10))
    assert anatomy.MUTUAL_KNN_MAX_PAIRS == 1024
    noise = anatomy.knn_alignment(x, _unit(rng.normal(size=(300, 8))))  # unrelated spaces sit at chance
    assert abs(noise["mutual_knn_10"] - noise["mutual_knn_10_chance"]) < 0.03


def test_effective_ranks_use_the_same_rows_in_each_modality():
    from gapviz.science.metrics import compute_all

    rng = np.random.default_rng(10)
    x = _unit(rng.normal(size=(40, 12)))
    y = _unit(np.repeat(x, 3, axis=0) + 0.5 * rng.normal(size=(120, 12)))  # three captions per image
    out = compute_all(x, y, np.repeat(np.arange(40), 3), n_resamples=0, modality_probe=False)
    assert out["effective_rank_n"] == 40
    assert out["effective_rank_text"] == pytest.approx(anatomy.effective_rank(y[::3]), rel=1e-6)
    assert out["effective_rank_image"] == pytest.approx(anatomy.effective_rank(x), rel=1e-6)
