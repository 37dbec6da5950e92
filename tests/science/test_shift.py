import numpy as np
import pytest

from gapviz.science import metrics as M
from gapviz.science import shift as S


def _aligned_with_gap(n=300, d=32, k=10, seed=0, gap=1.5):
    """Pairs drawn around shared cluster centres, image and text pushed apart by a common offset."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    labels = rng.integers(0, k, n)
    offset = rng.normal(size=d)
    offset *= gap / np.linalg.norm(offset)
    image = centres[labels] + 0.3 * rng.normal(size=(n, d)) + offset
    text = centres[labels] + 0.3 * rng.normal(size=(n, d)) - offset
    return image, text, centres, labels


def test_lambda_zero_is_identity_after_normalisation():
    image, text, _, _ = _aligned_with_gap(n=50)
    xs, ys = S.shift_embeddings(image, text, 0.0)
    np.testing.assert_allclose(xs, M.l2_normalize(image), atol=1e-12)
    np.testing.assert_allclose(ys, M.l2_normalize(text), atol=1e-12)


def test_shift_moves_along_given_direction():
    image, text, _, _ = _aligned_with_gap(n=50, d=6)
    direction = np.eye(6)[2] * 4.0
    xs, ys = S.shift_embeddings(image, text, 0.3, direction=direction)
    np.testing.assert_allclose(xs, M.l2_normalize(M.l2_normalize(image) - 0.3 * np.eye(6)[2]))
    np.testing.assert_allclose(ys, M.l2_normalize(M.l2_normalize(text) + 0.3 * np.eye(6)[2]))
    with pytest.raises(ValueError, match="direction"):
        S.shift_embeddings(image, text, 0.3, direction=np.ones(5))


def test_default_lambdas_cross_zero_gap():
    image, text, _, _ = _aligned_with_gap()
    lambdas = S.default_lambdas(image, text, n=21)
    assert len(lambdas) == 21 and 0.0 in np.round(lambdas, 12)
    np.testing.assert_allclose(lambdas, -lambdas[::-1])
    rows = S.shift_sweep(image, text, lambdas)
    signed = np.array([r["signed_gap"] for r in rows])
    assert signed[0] > M.gap_distance(image, text) > 0 > signed[-1]
    assert np.all(np.diff(signed) < 0)
    assert min(abs(signed)) < 0.1 * M.gap_distance(image, text)
    assert rows[10]["gap_distance"] == pytest.approx(M.gap_distance(image, text))


def test_some_lambda_closes_the_gap():
    image, text, _, _ = _aligned_with_gap()
    gap = M.gap_distance(image, text)
    lambdas = np.linspace(0, gap, 201)
    gaps = [M.gap_distance(*S.shift_embeddings(image, text, lam)) for lam in lambdas]
    # re-normalisation leaves a small centroid difference orthogonal to g, so not exactly 0
    assert min(gaps) < 0.05 * gap


def test_sweep_rows_and_keys():
    image, text, centres, labels = _aligned_with_gap(n=60)
    idx = np.concatenate([np.arange(60), np.arange(60)])
    text2 = np.vstack([text, text + 0.01])
    rows = S.shift_sweep(
        image,
        text2,
        [0.0, 0.2],
        logit_scales=(100.0, 1 / 0.07, 1.0),
        text_image_index=idx,
        class_text=centres,
        labels=labels,
    )
    assert [r["lam"] for r in rows] == [0.0, 0.2]
    assert set(rows[0]) == {
        "lam",
        "signed_gap",
        "gap_distance",
        "loss_s100",
        "loss_s14.29",
        "loss_s1",
        "i2t_r1",
        "t2i_r1",
        "zero_shot",
    }
    assert rows[0]["loss_s100"] == pytest.approx(M.contrastive_loss(image, text2, 100.0, idx), rel=1e-6)
    assert rows[0]["zero_shot"] == M.zero_shot_accuracy(image, centres, labels)
    assert rows[0]["i2t_r1"] == M.retrieval_recall(image, text2, idx, ks=(1,))["i2t_r1"]
    assert "zero_shot" not in S.shift_sweep(image, text, [0.0])[0]


def test_loss_at_tau_one_prefers_a_smaller_gap():
    image, text, _, _ = _aligned_with_gap()
    gap = M.gap_distance(image, text)
    lambdas = S.default_lambdas(image, text, n=21)
    rows = S.shift_sweep(image, text, lambdas, logit_scales=(1.0,))
    original = rows[10]
    assert original["lam"] == pytest.approx(0.0, abs=1e-12)
    closer = [r for r in rows if r["gap_distance"] < 0.5 * gap]
    assert closer and all(r["loss_s1"] < original["loss_s1"] for r in closer)
    best = min(rows, key=lambda r: r["loss_s1"])
    assert best["gap_distance"] < 0.25 * gap


def test_loss_key_names():
    assert S.loss_key(100) == "loss_s100"
    assert S.loss_key(1.0) == "loss_s1"
    assert S.loss_key(1 / 0.07) == "loss_s14.29"
