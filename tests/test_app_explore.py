"""Explore page (AppTest): uploads read as `gapviz analyze` reads them, saved runs, the tiny model,
metrics beside the plot, recall both ways, the cone histogram and the shift experiment."""

from __future__ import annotations

import io

import numpy as np
import pytest

from gapviz.app.format import metric_text
from gapviz.science.metrics import compute_all
from gapviz.runs.store import RunStore

from app_fixtures import make_run, open_page, plain, texts


def _npz(n: int = 120, d: int = 16, seed: int = 0) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, d))
    offset = np.zeros(d)
    offset[0] = 1.2
    image, text = base + offset, base - offset + 0.3 * rng.normal(size=(n, d))
    buffer = io.BytesIO()
    np.savez(buffer, image=image.astype(np.float32), text=text.astype(np.float32))
    return buffer.getvalue(), image, text


def _metric(at, label: str) -> str:
    return [m.value for m in at.metric if m.label == label][0]


def test_upload_shows_every_metric_recall_cone_and_shift(home):
    data, image, text = _npz()
    at = open_page("explore", timeout=120)
    assert not at.exception
    assert at.radio(key="explore_source").value == "upload"
    at.file_uploader(key="explore_upload").set_value(("pairs.npz", data, "application/octet-stream"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    expected = compute_all(image.astype(np.float32), text.astype(np.float32))
    assert _metric(at, "gap distance") == metric_text(expected, "gap_distance")
    assert _metric(at, "gap distance").startswith(f"{expected['gap_distance']:.4f} [")
    assert _metric(at, "relative gap") == metric_text(expected, "relative_gap")
    assert _metric(at, "modality probe accuracy") == f"{expected['modality_probe_accuracy']:.4f}"
    recall = at.dataframe[0].value
    assert recall["direction"].tolist() == ["image → text", "text → image"]
    assert recall.loc[0, "R@1"] == pytest.approx(expected["i2t_r1"]) and recall.loc[1, "R@5"] == pytest.approx(expected["t2i_r5"])
    page = texts(at)
    assert "Cone effect" in page and "Embedding shift" in page
    assert len(at.get("vega_lite_chart")) == 5  # scatter, cone histogram, gap spectrum, shifted scatter, shift curves
    # the λ slider moves both modalities: at λ = gap the modalities have crossed
    gap = expected["gap_distance"]
    at.slider(key="explore_lambda").set_value(round(gap, 3)).run()
    assert float(_metric(at, "signed gap")) < 0
    at.slider(key="explore_lambda").set_value(0.0).run()
    assert _metric(at, "signed gap") == f"{gap:.4f}"


def test_a_bad_upload_is_a_message_not_a_traceback(home):
    at = open_page("explore", timeout=120)
    at.file_uploader(key="explore_upload").set_value(("broken.npy", b"not an array at all", "application/octet-stream"))
    at.run()
    assert not at.exception
    assert any("Cannot analyse this" in plain(e.value) and "not a .npy or .npz file" in plain(e.value) for e in at.error)


def test_a_saved_run_evaluation_shows_its_stored_metrics(home):
    store = RunStore()
    run_id = make_run(store, "stored", epochs=2)
    at = open_page("explore", timeout=120)
    at.radio(key="explore_source").set_value("run").run()
    at.selectbox(key="explore_run").set_value(run_id)
    at.selectbox(key="explore_run_epoch").set_value(1).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    row = [r for r in store.metrics(run_id) if r["epoch"] == 1][0]
    assert _metric(at, "gap distance").split(" [")[0] == f"{row['gap_distance']:.4f}"
    assert f"run {run_id} · epoch 1" in texts(at)


def test_the_tiny_model_encodes_built_in_data(home):
    at = open_page("explore", timeout=180)
    at.radio(key="explore_source").set_value("tiny").run()
    at.number_input(key="explore_eval_size").set_value(64).run()
    assert "Encoding loads the model" in texts(at)
    at.button(key="explore_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    page = texts(at)
    assert "gapviz-tiny on synthetic (64 images)" in page
    assert "zero-shot accuracy" in page and "temperature τ" in page
    assert float(_metric(at, "gap distance").split(" [")[0]) > 0.1  # a random-init model has a modality gap


def test_an_unknown_pretrained_tag_is_a_clear_message(home):
    at = open_page("explore", timeout=180)
    at.radio(key="explore_source").set_value("openclip").run()
    at.text_input(key="explore_arch").set_value("gapviz-tiny")
    at.text_input(key="explore_tag").set_value("no-such-weights")
    at.number_input(key="explore_eval_size").set_value(16).run()
    at.button(key="explore_go").click().run()
    assert not at.exception
    assert any("unknown pretrained tag 'no-such-weights'" in plain(e.value) for e in at.error)
