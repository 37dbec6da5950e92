"""Built-in synthetic scenes: determinism, splits, uniqueness, captions, rendering, mismatch."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from gapviz.config import DataConfig
from gapviz.data import DataError, PairData
from gapviz.data import synthetic as syn
from gapviz.data.loader import load_pairs


def _load(tmp_path: Path, split: str = "train", size: int = 32, **changes) -> PairData:
    cfg = DataConfig(**{"train_size": 300, "eval_size": 100, **changes})
    return load_pairs(cfg, size, split, tmp_path)


def _keys(codes: np.ndarray) -> list[tuple]:
    scenes = syn.decode_codes(codes)
    return [scenes.key(i) for i in range(len(scenes))]


def test_shapes_and_dtypes(tmp_path):
    data = _load(tmp_path)
    assert data.images.shape == (300, 32, 32, 3) and data.images.dtype == np.uint8
    assert len(data) == 300 and data.num_images == 300
    assert np.array_equal(data.caption_image, np.arange(300))
    assert data.labels.shape == (300,) and data.labels.dtype == np.int64
    assert data.labels.min() >= 0 and data.labels.max() < len(data.class_prompts) == 64
    assert data.mismatched.shape == (300,) and not data.mismatched.any()
    assert all(isinstance(c, str) and c for c in data.captions)
    assert data.skipped == 0


@pytest.mark.parametrize("size", [16, 32, 64, 224])
def test_any_image_size(size):
    data = syn.generate(8, "eval", size, seed=3)
    assert data.images.shape == (8, size, size, 3) and data.images.dtype == np.uint8
    assert data.images.std() > 5  # not blank


def test_deterministic_by_seed(tmp_path):
    a, b = _load(tmp_path, seed=7), _load(tmp_path, seed=7)
    assert a.captions == b.captions
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)


def test_different_seeds_differ(tmp_path):
    a, b = _load(tmp_path, seed=1), _load(tmp_path, seed=2)
    assert a.captions != b.captions
    assert not np.array_equal(a.images, b.images)
    assert set(a.captions) != set(b.captions)


def test_splits_disjoint_and_independent_of_other_size():
    for seed in (0, 5):
        train, evals = syn.split_codes(20000, "train", seed), syn.split_codes(3000, "eval", seed)
        assert not set(_keys(train)) & set(_keys(evals))
    # Eval does not depend on the train size; a smaller split is a prefix of a larger one.
    assert np.array_equal(syn.split_codes(500, "eval", 0), syn.split_codes(800, "eval", 0)[:500])
    assert np.array_equal(syn.split_codes(100, "train", 0), syn.split_codes(4000, "train", 0)[:100])
    small, large = syn.generate(50, "train", 32, 0), syn.generate(200, "train", 32, 0)
    assert small.captions == large.captions[:50]
    assert np.array_equal(small.images, large.images[:50])


def test_attribute_tuples_unique_within_split():
    codes = syn.split_codes(30000, "train", 0)
    assert len(set(_keys(codes))) == len(codes)
    data = syn.generate(4000, "train", 16, 0)
    assert len(set(data.captions)) == len(data.captions)


def test_scene_space_is_large_and_codes_decode_uniquely():
    assert syn.SCENE_SPACE >= 50000
    scenes = syn.decode_codes(np.arange(syn.SCENE_SPACE))
    # Canonical integer per object (cell, colour, shape, size); scene = sorted pair of objects.
    obj = scenes.cell * 1000 + scenes.colour * 100 + scenes.shape * 10 + scenes.size
    obj = np.where(scenes.colour >= 0, obj, 10**6)
    canon = np.sort(obj, axis=1)
    assert len(np.unique(canon[:, 0] * 10**7 + canon[:, 1])) == syn.SCENE_SPACE
    two = scenes.count == 2
    assert np.all(scenes.cell[two, 0] != scenes.cell[two, 1])
    assert np.all(scenes.size[two, 0] == syn.LARGE) and np.all(scenes.size[two, 1] == syn.SMALL)
    assert 0.15 < np.mean(syn.decode_codes(syn.split_codes(2000, "train", 0)).count == 1) < 0.35


def test_too_many_pairs_is_a_clear_error():
    with pytest.raises(DataError, match="eval_size"):
        syn.split_codes(10**6, "eval", 0)


def test_captions_state_every_attribute():
    codes = syn.split_codes(600, "train", 4)
    scenes = syn.decode_codes(codes)
    texts = syn.captions(scenes, seed=4)
    for i, text in enumerate(texts):
        for slot in range(scenes.count[i]):
            colour, shape = syn.COLOURS[scenes.colour[i, slot]], syn.SHAPES[scenes.shape[i, slot]]
            size, cell = syn.SIZES[scenes.size[i, slot]], scenes.cell[i, slot]
            assert any(word in text for word in colour[1]), text
            assert any(word in text for word in shape[1]), text
            assert any(f" {word} " in f" {text} " for word in size[1]), text
            assert any(phrase in text for phrase in syn.POSITIONS[cell]), text
    assert len({t.split(" ")[0] for t in texts}) >= 4  # several templates are used


def test_labels_are_main_object_colour_and_shape():
    data = syn.generate(400, "eval", 16, 0)
    scenes = syn.decode_codes(syn.split_codes(400, "eval", 0))
    assert np.array_equal(data.labels, scenes.colour[:, 0] * len(syn.SHAPES) + scenes.shape[:, 0])
    for label in np.unique(data.labels):
        prompt = data.class_prompts[label]
        colour, shape = divmod(int(label), len(syn.SHAPES))
        assert prompt.endswith(f"{syn.COLOURS[colour][0]} {syn.SHAPES[shape][0]}")
    assert data.class_prompts[0] == "a photo of a red circle"


def test_captions_fit_the_tiny_models_context():
    from open_clip.tokenizer import SimpleTokenizer

    tokenizer = SimpleTokenizer()
    texts = syn.generate(1500, "train", 8, 0).captions
    longest = max(len(tokenizer.encode(t)) for t in texts) + 2  # start and end tokens
    assert longest <= 32


def test_red_object_is_drawn_red_where_it_is():
    # Code of a single large red circle in the centre cell: colour + 8 * (shape + 8 * (size + 2 * cell)).
    code = 0 + 8 * (0 + 8 * (syn.LARGE + 2 * 4))
    scenes = syn.decode_codes(np.array([code]))
    assert scenes.key(0) == ((4, 0, 0, syn.LARGE),)
    image = syn.render(scenes, 32, seed=0)[0].astype(int)
    centre = image[13:19, 13:19].reshape(-1, 3)
    assert np.all(centre[:, 0] > centre[:, 1] + 80) and np.all(centre[:, 0] > centre[:, 2] + 80)
    corner = image[:5, :5].reshape(-1, 3)
    assert np.all(np.abs(corner[:, 0] - corner[:, 1]) < 60)  # grey background, not red


def test_objects_have_their_colour_at_their_position():
    scenes = syn.decode_codes(syn.split_codes(300, "train", 2))
    size = 48
    images = syn.render(scenes, size, seed=2).astype(int)
    palette = np.array([c[2] for c in syn.COLOURS])
    ring = [name for name, _ in syn.SHAPES].index("ring")
    checked = 0
    for i in range(len(scenes)):
        for slot in range(scenes.count[i]):
            if scenes.shape[i, slot] == ring:  # a ring's centre is background
                continue
            cell = scenes.cell[i, slot]
            y, x = int((cell // 3 + 0.5) * size / 3), int((cell % 3 + 0.5) * size / 3)
            pixel = images[i, y, x]
            assert np.abs(pixel - palette[scenes.colour[i, slot]]).max() < 60, (i, slot, pixel)
            checked += 1
    assert checked > 300


def test_mismatch_fraction_and_captions_from_other_images(tmp_path):
    clean = _load(tmp_path, train_size=1000)
    data = _load(tmp_path, train_size=1000, mismatch=0.3)
    assert abs(int(data.mismatched.sum()) - 300) <= 1
    owner_of = {caption: i for i, caption in enumerate(clean.captions)}
    for j in range(len(data)):
        if data.mismatched[j]:
            assert data.captions[j] != clean.captions[j]
            assert owner_of[data.captions[j]] != data.caption_image[j]
        else:
            assert data.captions[j] == clean.captions[j]
    assert np.array_equal(data.caption_image, clean.caption_image)
    assert np.array_equal(data.images, clean.images)
    # Deterministic, and eval never mismatched.
    assert _load(tmp_path, train_size=1000, mismatch=0.3).captions == data.captions
    evals = _load(tmp_path, "eval", mismatch=0.3)
    assert not evals.mismatched.any() and evals.captions == _load(tmp_path, "eval").captions


@pytest.mark.parametrize("fraction", [0.001, 0.05, 0.5, 0.99])
def test_mismatch_fraction_exact(tmp_path, fraction):
    data = _load(tmp_path, train_size=400, mismatch=fraction)
    assert abs(int(data.mismatched.sum()) - round(fraction * 400)) <= 1
    if round(fraction * 400) >= 1:
        assert data.mismatched.sum() >= 2  # a derangement needs two captions


def test_generation_is_fast():
    syn.generate(200, "train", 32, 0)  # warm up
    start = time.perf_counter()
    syn.generate(10000, "train", 32, 1)
    assert time.perf_counter() - start < 6.0  # ~0.5 s on 2 CPU cores


def test_progress_is_reported(tmp_path):
    calls = []
    load_pairs(
        DataConfig(train_size=50, eval_size=10), 32, "train", tmp_path, progress=lambda d, t: calls.append((d, t))
    )
    assert calls and calls[-1] == (50, 50)
