"""Selections in Explore (gapviz.app.explore.selection, gapviz.app.shared.analysis): pairs, metrics on the selected
pairs, tables, neighbours; uploads with captions, images and metadata columns."""

from __future__ import annotations

import io

import numpy as np
import pytest

from gapviz.app.explore import selection
from gapviz.app.shared import analysis, frames
from gapviz.data.embeddings_io import EmbeddingsError, load_embeddings
from gapviz.format import metric_text
from gapviz.science.metrics import compute_all
from gapviz.science.neighbours import nearest


@pytest.fixture
def result() -> analysis.Analysis:
    rng = np.random.default_rng(0)
    n, d = 60, 16
    image = rng.normal(size=(n, d)) + 1.0
    index = np.concatenate([np.arange(n), np.arange(0, n, 3)])  # every third image has two captions
    text = image[index] + rng.normal(size=(len(index), d)) - 2.0
    captions = [f"caption {j} of image {i}" for j, i in enumerate(index)]
    images = rng.integers(0, 255, size=(n, 8, 8, 3), dtype=np.uint8)
    result = analysis.analyse(
        "test",
        "test",
        image.astype(np.float32),
        text.astype(np.float32),
        index,
        captions=captions,
        images=images,
        labels=np.arange(n) % 3,
        class_names=["red", "green", "blue"],
    )
    result.metrics, _ = analysis.complete_metrics(result)
    return result


def test_first_captions_and_pair_subsets():
    index = np.array([2, 0, 2, 1, -1])
    assert frames.first_captions(4, index, list("abcde")) == ["b", "d", "a", ""]
    captions, sub = frames.pair_subset(index, np.array([0, 2]))
    assert captions.tolist() == [0, 1, 2] and sub.tolist() == [1, 0, 1]


def test_a_selection_becomes_whole_pairs(result):
    n = result.n_image
    rows = np.array([4, n + 7, n + 60, n + 61, 500])  # image 4, caption 7 (image 7), second captions of images 0, 3
    assert selection.selected_pairs(result, rows).tolist() == [0, 3, 4, 7]


def test_selection_metrics_are_compute_all_on_the_selected_pairs(result):
    pairs = np.array([0, 1, 2, 3, 5, 8, 9, 12, 20, 33, 41, 57])
    values, note = selection.subset_metrics(result, pairs)
    captions = np.flatnonzero(np.isin(result.index, pairs))
    remap = {int(p): i for i, p in enumerate(pairs)}
    expected = compute_all(result.image[pairs], result.text[captions], [remap[int(i)] for i in result.index[captions]])
    assert note == ""
    for name in ("gap_distance", "relative_gap", "i2t_r1", "t2i_r5", "uniformity_joint", "modality_probe_accuracy"):
        assert values[name] == pytest.approx(expected[name], nan_ok=True)
    table = selection.metric_table(result.metrics, values)
    assert list(table.columns) == [
        "metric",
        "whole set",
        "selection",
        "selection − whole",
        "whole set lo",
        "whole set hi",
        "selection lo",
        "selection hi",
    ]
    row = table[table["metric"] == "plug-in gap"].iloc[0]
    assert row["whole set"] == pytest.approx(result.metrics["gap_distance"])
    assert row["selection − whole"] == pytest.approx(values["gap_distance"] - result.metrics["gap_distance"])
    assert [row["selection lo"], row["selection hi"]] == pytest.approx(values["gap_distance_ci95"])
    shown = selection.metric_display(table)
    gap = shown[shown["metric"] == "plug-in gap"].iloc[0]
    assert gap["selection [95% CI]"] == metric_text(values, "gap_distance")
    three = selection.metric_display(table, significant=3)  # what Explore shows unless asked
    assert three[three["metric"] == "plug-in gap"].iloc[0]["selection [95% CI]"] == metric_text(
        values, "gap_distance", significant=3
    )
    with pytest.raises(ValueError, match="at least 2"):
        selection.subset_metrics(result, pairs[:1])


def test_large_sets_get_sampled_metrics_with_a_note(monkeypatch):
    monkeypatch.setattr(analysis, "METRICS_MAX_PAIRS", 50)
    rng = np.random.default_rng(1)
    image, text = rng.normal(size=(80, 8)), rng.normal(size=(80, 8))
    values, note = analysis.pair_metrics(image, text, None)
    kept = frames.sample_images(80, 50, 0)
    assert values["gap_distance"] == pytest.approx(compute_all(image[kept], text[kept])["gap_distance"])
    assert note == "whole-set metrics on a random sample of 50 of 80 pairs"


def test_pairs_table_has_thumbnails_classes_and_every_caption(result):
    table = selection.pairs_frame(result, np.array([0, 1, 3]))
    assert table["pair"].tolist() == [0, 1, 3] and table["class"].tolist() == ["red", "green", "red"]
    assert table["captions"][0] == "caption 0 of image 0 | caption 60 of image 0"
    assert all(uri.startswith("data:image/png;base64,") for uri in table["image"])
    every = selection.pairs_frame(result, np.arange(result.n_image), limit=result.n_image, thumbnails=False)
    assert list(every.columns) == ["pair", "class", "captions"] and len(every) == result.n_image


def test_point_card_and_neighbours(result):
    n = result.n_image
    card = selection.point_card(result, n + 61)  # the second caption of image 3
    assert card == {
        **card,
        "modality": "text",
        "pair": 3,
        "caption": "caption 61 of image 3",
        "partner": "caption 3 of image 3",
    }
    images, texts = selection.neighbour_frames(result, n + 61, k=4)
    assert images["pair"].tolist() == nearest(result.text[61], result.image, 4)[0].tolist()
    assert texts["cosine"].tolist() == pytest.approx(nearest(result.text[61], result.text, 4, exclude=61)[1].tolist())
    assert texts["its image"].tolist() == result.index[nearest(result.text[61], result.text, 4, exclude=61)[0]].tolist()


def _npz(**arrays) -> io.BytesIO:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    buffer.name = "pairs.npz"
    return buffer


def test_uploads_carry_captions_images_and_metadata():
    rng = np.random.default_rng(2)
    image, text = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    pictures = rng.integers(0, 255, size=(5, 6, 6, 3), dtype=np.uint8)
    emb = load_embeddings(
        _npz(
            image=image,
            text=text,
            captions=np.array(list("abcde")),
            images=pictures,
            score=np.arange(5.0),
            source=np.array(["x", "y", "x", "y", "x"]),
            grid=np.zeros((5, 2)),
        )
    )
    assert emb.captions == list("abcde") and emb.images.shape == (5, 6, 6, 3)
    assert sorted(emb.metadata) == ["score", "source"]  # a 2-D extra is no per-image column
    with pytest.raises(EmbeddingsError, match="captions must be 5 strings"):
        load_embeddings(_npz(image=image, text=text, captions=np.array(["a"])))
    with pytest.raises(EmbeddingsError, match=r"images must be uint8 of shape \(5, H, W, 3\)"):
        load_embeddings(_npz(image=image, text=text, images=pictures.astype(np.float32)))


def _offset_pairs(wide: int, n: int = 400, d: int = 16, seed: int = 1) -> analysis.Analysis:
    """n pairs whose first ``wide`` have a wider gap (offset 2.5 along one axis, the rest 1.0)."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(n, d))
    offset = np.where(np.arange(n)[:, None] < wide, 2.5, 1.0) * np.eye(d)[0]
    text = image + 0.5 * rng.normal(size=(n, d)) - offset
    result = analysis.analyse("t", "t", (image + offset).astype(np.float32), text.astype(np.float32), None)
    result.metrics, _ = analysis.complete_metrics(result)
    return result


def _gap_versus_rest(result: analysis.Analysis, pairs: np.ndarray) -> tuple[float, str]:
    rest = selection.versus_rest(result, pairs)
    table = selection.metric_table(result.metrics, selection.subset_metrics(result, pairs)[0], rest=rest)
    shown = selection.metric_display(table)
    row = table[table["metric"] == "plug-in gap"].iloc[0]
    return row["selection − rest"], shown[shown["metric"] == "plug-in gap"].iloc[0]["differs from the rest"]


def test_a_region_with_its_own_gap_differs_from_the_rest():
    result = _offset_pairs(wide=100)
    change, differs = _gap_versus_rest(result, np.arange(100))
    assert change > 0 and differs == "yes"
    assert selection.versus_rest(result, np.arange(399)) == {}  # one pair left: no rest to compare


def test_a_random_selection_of_alike_pairs_does_not_differ_from_the_rest():
    result = _offset_pairs(wide=0)
    pairs = np.sort(np.random.default_rng(2).choice(400, 100, replace=False))
    change, differs = _gap_versus_rest(result, pairs)
    assert differs == "no" and abs(change) < 0.2
