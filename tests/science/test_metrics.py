import math

import numpy as np
import pytest
import torch

from gapviz.science import metrics as M


def _unit(v):
    return v / np.linalg.norm(v)


def _data(n=40, m=None, d=8, seed=0, noise=0.7):
    """Seeded pairs: captions are noisy copies of their image, offset so a gap exists."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(n, d)) + 0.8
    if m is None:
        idx = None
        text = image + noise * rng.normal(size=(n, d)) - 1.2
    else:
        idx = np.concatenate([np.arange(n), rng.integers(0, n, m - n)])
        rng.shuffle(idx)
        text = image[idx] + noise * rng.normal(size=(m, d)) - 1.2
    return image, text, idx


CASES = [
    pytest.param(dict(n=40), id="paired"),
    pytest.param(dict(n=30, m=95), id="several-captions"),
]


def _pairs_ref(image, text, idx):
    idx = range(len(text)) if idx is None else idx
    return [(_unit(image[i]), _unit(text[j])) for j, i in enumerate(idx)]


@pytest.mark.parametrize("case", CASES)
def test_gap_against_loops(case):
    image, text, _ = _data(**case)
    c_x = sum(_unit(v) for v in image) / len(image)
    c_y = sum(_unit(v) for v in text) / len(text)
    np.testing.assert_allclose(M.gap_vector(image, text), c_x - c_y, atol=1e-12)
    assert M.gap_distance(image, text) == pytest.approx(np.linalg.norm(c_x - c_y), abs=1e-12)
    np.testing.assert_allclose(M.gap_direction(image, text), _unit(c_x - c_y), atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_pair_metrics_against_loops(case):
    image, text, idx = _data(**case)
    pairs = _pairs_ref(image, text, idx)
    cos = np.mean([x @ y for x, y in pairs])
    dist = np.mean([np.linalg.norm(x - y) for x, y in pairs])
    align = np.mean([np.sum((x - y) ** 2) for x, y in pairs])
    assert M.pair_cosine(image, text, idx) == pytest.approx(cos, abs=1e-12)
    assert M.mean_pair_distance(image, text, idx) == pytest.approx(dist, abs=1e-12)
    assert M.alignment(image, text, idx) == pytest.approx(align, abs=1e-12)


def _cone_ref(x):
    rows = [_unit(v) for v in x]
    vals = [a @ b for i, a in enumerate(rows) for j, b in enumerate(rows) if i != j]
    return np.mean(vals)


@pytest.mark.parametrize("case", CASES)
def test_cone_and_relative_gap_against_loops(case):
    image, text, idx = _data(**case)
    assert M.cone(image) == pytest.approx(_cone_ref(image), abs=1e-12)
    assert M.cone(text) == pytest.approx(_cone_ref(text), abs=1e-12)

    def d(a, b):
        return (1 - a @ b) / 2

    def within(x):
        rows = [_unit(v) for v in x]
        return np.mean([d(a, b) for i, a in enumerate(rows) for j, b in enumerate(rows) if i != j])

    pair_d = np.mean([d(x, y) for x, y in _pairs_ref(image, text, idx)])
    rmg = pair_d / (pair_d + (within(image) + within(text)) / 2)
    assert M.relative_gap(image, text, idx) == pytest.approx(rmg, abs=1e-12)


def _uniformity_ref(x, t=2.0):
    rows = [_unit(v) for v in x]
    vals = [math.exp(-t * np.sum((a - b) ** 2)) for i, a in enumerate(rows) for j, b in enumerate(rows) if i != j]
    return math.log(np.mean(vals))


def test_uniformity_against_loops(monkeypatch):
    image, text, _ = _data(n=35)
    monkeypatch.setattr(M, "UNIFORMITY_CHUNK", 8)
    assert M.uniformity(image) == pytest.approx(_uniformity_ref(image), abs=1e-5)
    assert M.uniformity(text, t=5.0) == pytest.approx(_uniformity_ref(text, 5.0), abs=1e-5)
    from gapviz.science.kernels import uniformities

    u = uniformities(M.l2_normalize(image), M.l2_normalize(text), t=2.0)
    u_img, u_txt, u_joint = u["uniformity_image"], u["uniformity_text"], u["uniformity_joint"]
    assert u_img == pytest.approx(_uniformity_ref(image), abs=1e-5)
    assert u_txt == pytest.approx(_uniformity_ref(text), abs=1e-5)
    assert u_joint == pytest.approx(_uniformity_ref(np.vstack([image, text])), abs=1e-5)


def test_uniformity_is_stable_for_large_t():
    x = np.eye(6)
    # every pair is at squared distance 2, so the value is exactly -2t even where exp underflows
    assert M.uniformity(x, t=500.0) == pytest.approx(-1000.0, rel=1e-6)


def test_top_gap_dimensions():
    image, text, _ = _data(n=20, d=12)
    g = M.gap_vector(image, text)
    ref = sorted(range(12), key=lambda k: -abs(g[k]))[:3]
    top = M.top_gap_dimensions(image, text, k=3)
    assert [k for k, _ in top] == ref
    assert [v for _, v in top] == pytest.approx([g[k] for k in ref])


def test_perfectly_matched_pairs():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 16))
    assert M.pair_cosine(x, 3 * x) == pytest.approx(1.0)
    assert M.alignment(x, x) == pytest.approx(0.0)
    assert set(M.retrieval_recall(x, x).values()) == {1.0}


def test_point_clouds_offset_by_known_vector():
    a, b = _unit(np.array([1.0, 2.0, 0.5])), _unit(np.array([-1.0, 0.3, 2.0]))
    image, text = np.tile(a, (10, 1)), np.tile(b, (7, 1))
    assert M.gap_distance(image, text) == pytest.approx(np.linalg.norm(a - b))
    np.testing.assert_allclose(M.gap_direction(image, text), _unit(a - b))
    assert M.cone(image) == pytest.approx(1.0)


def test_identical_clouds_have_no_gap():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 32))
    perm = rng.permutation(300)
    assert M.gap_distance(x, x[perm]) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_array_equal(M.gap_direction(x, x), np.zeros(32))
    assert M.relative_gap(x, x) == pytest.approx(0.0, abs=1e-12)
    assert M.relative_gap(x, x[perm]) == pytest.approx(0.5, abs=0.05)


def test_zero_shot_accuracy_against_loop():
    rng = np.random.default_rng(4)
    classes = rng.normal(size=(5, 8))
    labels = rng.integers(0, 5, 60)
    image = classes[labels] + 1.2 * rng.normal(size=(60, 8))
    ref = np.mean(
        [np.argmax([_unit(x) @ _unit(c) for c in classes]) == lab for x, lab in zip(image, labels, strict=True)]
    )
    acc = M.zero_shot_accuracy(image, classes, labels)
    assert acc == pytest.approx(ref)
    assert 0.3 < acc < 1.0


@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_contrastive_loss_against_torch_reference(monkeypatch, scale):
    monkeypatch.setattr(M, "LOSS_CHUNK", 7)
    image, text, idx = _data(n=25, m=60)
    first = [int(np.flatnonzero(idx == i)[0]) for i in range(25)]
    x = torch.nn.functional.normalize(torch.tensor(image), dim=1)
    y = torch.nn.functional.normalize(torch.tensor(text[first]), dim=1)
    logits = scale * x @ y.T
    target = torch.arange(25)
    ref = (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target)) / 2
    assert M.contrastive_loss(image, text, scale, idx) == pytest.approx(float(ref), rel=1e-5)
    assert M.contrastive_loss(image, text[first], scale) == pytest.approx(float(ref), rel=1e-5)
    both = M.contrastive_losses(image, text, [scale, 3.0], idx)
    assert both == pytest.approx([float(ref), M.contrastive_loss(image, text, 3.0, idx)], rel=1e-6)


def test_contrastive_loss_needs_a_caption_per_image():
    image, text, _ = _data(n=5)
    with pytest.raises(ValueError, match="no caption"):
        M.contrastive_loss(image, text, 10.0, np.array([0, 0, 1, 1, 2]))


@pytest.mark.parametrize("case", CASES)
def test_compute_all_matches_single_metrics(case):
    image, text, idx = _data(**case)
    out = M.compute_all(image, text, idx, n_resamples=50)
    assert tuple(out)[: len(M.ALL_KEYS)] == M.ALL_KEYS
    assert set(M.METRIC_DESCRIPTIONS) == set(M.METRIC_NAMES)
    assert all(isinstance(out[k], float) for k in M.METRIC_NAMES)
    assert all(isinstance(out[k], bool) for k in M.FLAG_NAMES)
    assert all(isinstance(out[k], list) and len(out[k]) == 2 for k in M.INTERVAL_NAMES)
    assert out["gap_distance"] == pytest.approx(M.gap_distance(image, text), abs=1e-12)
    assert out["pair_cosine"] == pytest.approx(M.pair_cosine(image, text, idx), abs=1e-12)
    assert out["mean_pair_distance"] == pytest.approx(M.mean_pair_distance(image, text, idx))
    assert out["cone_image"] == pytest.approx(M.cone(image), abs=1e-12)
    assert out["cone_text"] == pytest.approx(M.cone(text), abs=1e-12)
    assert out["relative_gap"] == pytest.approx(M.relative_gap(image, text, idx), abs=1e-12)
    assert out["alignment"] == pytest.approx(M.alignment(image, text, idx))
    assert out["uniformity_image"] == pytest.approx(M.uniformity(image), abs=1e-5)
    assert out["uniformity_text"] == pytest.approx(M.uniformity(text), abs=1e-5)
    assert out["uniformity_joint"] == pytest.approx(M.uniformity(np.vstack([image, text])), abs=1e-5)
    for key, value in M.retrieval_recall(image, text, idx).items():
        assert out[key] == value
    for key in M.INTERVAL_METRICS:
        lo, hi = out[f"{key}_ci95"]
        if math.isnan(out[key]):  # not measured on this input (or not yet by this compute_all): no interval either
            assert math.isnan(lo) and math.isnan(hi), key
            continue
        assert lo <= out[key] + 1e-9 and out[key] <= hi + 1e-9, key
    no_probe = M.compute_all(image, text, idx, modality_probe=False, n_resamples=0)
    assert math.isnan(no_probe["modality_probe_accuracy"]) and math.isnan(no_probe["gap_null95"])
    assert all(math.isnan(no_probe[k][0]) for k in M.INTERVAL_NAMES if not k.startswith(("uniformity", "distr")))


def test_compute_all_is_seeded():
    image, text, idx = _data(n=30, m=70)
    first = M.compute_all(image, text, idx, n_resamples=40, seed=3)
    assert repr(M.compute_all(image, text, idx, n_resamples=40, seed=3)) == repr(first)  # NaN (no labels) equal too
    other = M.compute_all(image, text, idx, n_resamples=40, seed=4)
    assert other["pair_cosine_ci95"] != first["pair_cosine_ci95"]  # the gap family is analytic: not seeded


def test_fp16_and_torch_inputs_accepted():
    image, text, idx = _data(n=30, m=70)
    half_i, half_t = image.astype(np.float16), text.astype(np.float16)
    out16 = M.compute_all(half_i, half_t, idx, modality_probe=False, n_resamples=0)
    out = M.compute_all(image, text, idx, modality_probe=False, n_resamples=0)
    for key in ("gap_distance", "pair_cosine", "relative_gap", "uniformity_joint"):
        assert out16[key] == pytest.approx(out[key], abs=5e-3)
    out_t = M.compute_all(
        torch.tensor(half_i), torch.tensor(half_t), torch.tensor(idx), modality_probe=False, n_resamples=0
    )
    assert out_t["gap_distance"] == pytest.approx(out16["gap_distance"])
    assert M.retrieval_recall(torch.tensor(half_i), torch.tensor(half_t), idx) == M.retrieval_recall(
        half_i, half_t, idx
    )


def test_bad_pairing_is_rejected():
    image, text, _ = _data(n=5)
    with pytest.raises(ValueError, match="text_image_index"):
        M.pair_cosine(image, text[:4])
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        M.pair_cosine(image, text, np.array([0, 1, 2, 3, 5]))
    with pytest.raises(ValueError, match="shape"):
        M.pair_cosine(image, text, np.array([0, 1]))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_compute_all_on_tiny_inputs(n):
    image, text, _ = _data(n=n)
    out = M.compute_all(image, text)
    assert tuple(out)[: len(M.ALL_KEYS)] == M.ALL_KEYS
    assert math.isnan(out["modality_probe_accuracy"])
    assert out["i2t_r10"] == 1.0 and out["t2i_r10"] == 1.0


def test_record_values_are_json_ready():
    import json

    image, text, idx = _data(n=20, m=30)
    values = M.record_values(M.compute_all(image, text, idx, n_resamples=20))
    assert json.loads(json.dumps(values)).keys() == values.keys()
    assert isinstance(values["collapsed_image"], bool) and isinstance(values["gap_distance_ci95"], list)


def test_read_only_inputs_are_accepted():
    image, text, _ = _data(n=20)
    image.setflags(write=False)
    assert M.compute_all(image, text, n_resamples=0)["gap_distance"] == pytest.approx(M.gap_distance(image, text))
