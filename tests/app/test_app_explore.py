"""Explore page (AppTest): the front door's default view, URL state, uploads read as `gapviz analyze`
reads them, saved runs, the tiny model, neighbours of a point, the comparison with a second source,
a run's epochs, the cone histogram and the shift experiment."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from app_fixtures import APP_SCRIPT, make_run, open_page, plain, texts

from gapviz.app.explore import metric_groups
from gapviz.app.explore import views as explore_views
from gapviz.format import metric_text
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore
from gapviz.science import catalog
from gapviz.science.metrics import compute_all
from gapviz.science.neighbours import nearest


def _npz(n: int = 120, d: int = 16, seed: int = 0, **extra) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, d))
    offset = np.zeros(d)
    offset[0] = 1.2
    image, text = base + offset, base - offset + 0.3 * rng.normal(size=(n, d))
    buffer = io.BytesIO()
    np.savez(buffer, image=image.astype(np.float32), text=text.astype(np.float32), **extra)
    return buffer.getvalue(), image, text


def _metric(at, label: str) -> str:
    return [m.value for m in at.metric if m.label == label][0]


def _listed(at, label: str) -> str:
    """A metric's cell in Explore's grouped tables ("All metrics, grouped")."""
    tables = [d.value for d in at.dataframe if "value [95% CI]" in d.value.columns]
    return [t.loc[t["metric"] == label, "value [95% CI]"].iloc[0] for t in tables if label in t["metric"].tolist()][0]


def _scatter_spec(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def _typed(array: dict) -> np.ndarray:
    """A Plotly typed array (``{"dtype", "bdata"}``, base64) as numpy."""
    import base64

    return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])


def _upload(at, data: bytes, name: str = "pairs.npz"):
    at.radio(key="explore_source").set_value("upload").run()
    at.file_uploader(key="explore_upload").set_value((name, data, "application/octet-stream"))
    return at.run()


def test_an_empty_home_opens_on_the_tiny_model_without_a_click(home):
    at = open_page("explore", timeout=180)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.radio(key="explore_source").value == "tiny"
    page = texts(at)
    assert explore_views.BUILT_IN_CAPTION in page and "gapviz-tiny on synthetic (512 images)" in page
    assert float(_metric(at, "gap (debiased)")) > 0.1  # a random-init model has a modality gap
    spec = _scatter_spec(at)
    assert [t["name"] for t in spec["data"]] == ["pairs", "image", "text"]  # lines at 512 pairs, then the points
    assert at.query_params["source"] == "tiny" and at.query_params["method"] == "pca"


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_a_finished_run_is_the_default_view_and_the_url_reopens_it(home):
    store = RunStore()
    finished = make_run(store, "done", epochs=2)
    make_run(store, "newer but failed", epochs=1, state=RunState.FAILED)
    at = open_page("explore", timeout=120)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.radio(key="explore_source").value == "run" and at.selectbox(key="explore_run").value == finished
    assert at.selectbox(key="explore_run_epoch").value == 2
    row = store.metrics(finished)[-1]
    assert float(_listed(at, "plug-in gap").split(" [")[0]) == pytest.approx(row["gap_distance"], abs=1e-3)
    assert at.query_params["run"] == finished and at.query_params["epoch"] == "2"
    # a link with an older epoch reopens that view in a new session
    from streamlit.testing.v1 import AppTest

    again = AppTest.from_file(APP_SCRIPT, default_timeout=120)
    again.query_params.update({"source": "run", "run": finished, "epoch": "1", "method": "pca"})
    again.run()
    assert again.selectbox(key="explore_run_epoch").value == 1
    first = [r for r in store.metrics(finished) if r["epoch"] == 1][0]
    assert float(_listed(again, "plug-in gap").split(" [")[0]) == pytest.approx(first["gap_distance"], abs=1e-3)
    assert f"run {finished} · epoch 1" in texts(again)


def test_upload_shows_every_metric_recall_cone_and_shift(home):
    captions = np.array([f"pair <i>{i}</i>" for i in range(120)])
    data, image, text = _npz(captions=captions, score=np.linspace(0, 1, 120))
    at = _upload(open_page("explore", timeout=120), data)
    assert not at.exception and not at.error, [e.value for e in at.error]
    expected = compute_all(image.astype(np.float32), text.astype(np.float32))
    # the headline tiles: the value to 3 significant digits, its interval on the line below
    for key in metric_groups.HEADLINE:
        value, interval = metric_groups.headline_parts(expected, key)
        assert _metric(at, catalog.short(key)) == value and interval in texts(at)
    assert _metric(at, "relative gap") == f"{expected['relative_gap']:.3f}"
    # every other metric listed by group, 3 significant digits unless asked
    assert _listed(at, "plug-in gap") == metric_text(expected, "gap_distance", significant=3)
    assert _listed(at, "R@5 text→image") == metric_text(expected, "t2i_r5", significant=3)
    assert _listed(at, "plug-in gap").startswith(f"{expected['gap_distance']:.3f} [")  # 0.5…: three decimals
    at.select_slider(key="explore_digits").set_value(5).run()
    assert _listed(at, "plug-in gap").startswith(f"{expected['gap_distance']:.5f} [")
    assert _metric(at, "probe accuracy") == metric_groups.headline_parts(expected, "modality_probe_accuracy", 5)[0]
    at.select_slider(key="explore_digits").set_value(3).run()
    spec = _scatter_spec(at)
    hover = " ".join(t for trace in spec["data"][1:] for t in trace["text"])
    assert "pair &lt;i&gt;7&lt;/i&gt;" in hover and "<i>7</i>" not in hover  # captions are text, not markup
    assert at.selectbox(key="explore_color").options == ["modality", "score"]
    page = texts(at)
    assert "Cone effect" in page and "Embedding shift" in page
    gap = expected["gap_distance"]
    at.slider(key="explore_lambda").set_value(round(gap, 3)).run()
    assert float(_metric(at, "signed gap")) < 0  # at λ = gap the modalities have crossed
    at.slider(key="explore_lambda").set_value(0.0).run()
    assert _metric(at, "signed gap") == f"{gap:.4f}"


def test_colour_by_an_uploaded_column(home):
    data, _, _ = _npz(n=40, group=np.array(["a", "b"] * 20))
    at = _upload(open_page("explore", timeout=120), data)
    at.selectbox(key="explore_color").set_value("group").run()
    assert not at.exception
    assert [t["name"] for t in _scatter_spec(at)["data"][1:]] == ["a · image", "a · text", "b · image", "b · text"]


def test_inspecting_a_point_lists_its_neighbours_in_the_full_space(home):
    data, image, text = _npz(n=50)
    at = _upload(open_page("explore", timeout=120), data)
    at.number_input(key="explore_point").set_value(3).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    tables = [d.value for d in at.dataframe]
    near_images = [v for v in tables if "pair" in v.columns and "cosine" in v.columns][0]
    near_texts = [v for v in tables if "its image" in v.columns][0]
    assert near_images["pair"].tolist() == nearest(image[3], image, 8, exclude=3)[0].tolist()
    assert near_texts["its image"].tolist() == nearest(image[3], text, 8)[0].tolist()
    assert near_texts["cosine"].tolist() == pytest.approx(nearest(image[3], text, 8)[1].tolist(), abs=1e-5)
    assert near_images.columns[0] == near_texts.columns[0] == "cosine"  # first, so a narrow column never cuts it off
    assert "Point 3" in texts(at)
    # the point, its partner caption and its 8 + 8 neighbours are ringed in the scatter
    rings = {t["name"]: t for t in _scatter_spec(at)["data"] if t["name"] in ("clicked point", "partner", "neighbours")}
    assert list(rings) == ["clicked point", "partner", "neighbours"] and len(_typed(rings["neighbours"]["x"])) == 16
    assert "Nearest images" in texts(at) and "Nearest captions" in texts(at)
    # a box or lasso region is kept for this source (the scatter's on_select callback stores it) and measured
    at.session_state["explore_point"] = None
    at.session_state["explore_picked"] = (at.session_state["explore_last_key"], list(range(10)))
    at.run()
    assert "Selection: 10 pairs" in texts(at) and "Point 3" not in texts(at)
    assert not [t for t in _scatter_spec(at)["data"] if t["name"] == "neighbours"]


def test_the_headline_numbers_come_first_and_a_classless_set_shows_no_zero_shot(home):
    data, image, text = _npz(n=60)
    at = _upload(open_page("explore", timeout=120), data)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [m.label for m in at.metric][:5] == [catalog.short(k) for k in metric_groups.HEADLINE]
    listed = [m for d in at.dataframe if "value [95% CI]" in d.value.columns for m in d.value["metric"]]
    assert "plug-in gap" in listed and "R@10 image→text" in listed
    assert "zero-shot" not in texts(at) and not [m for m in listed if "zero-shot" in m]  # no classes, no zero-shot
    assert _scatter_spec(at)["layout"]["annotations"]  # the gap arrow in PCA


def test_a_bad_upload_is_a_message_not_a_traceback(home):
    at = _upload(open_page("explore", timeout=120), b"not an array at all", "broken.npy")
    assert not at.exception
    assert any(
        "Cannot analyse this" in plain(e.value) and "not a .npy or .npz file" in plain(e.value) for e in at.error
    )


def test_the_tiny_model_encodes_other_data_after_a_click(home):
    at = open_page("explore", timeout=180)
    at.number_input(key="explore_eval_size").set_value(64).run()
    assert "Encoding loads the model" in texts(at)
    at.button(key="explore_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    page = texts(at)
    assert "gapviz-tiny on synthetic (64 images)" in page
    assert _listed(at, "zero-shot accuracy") and _listed(at, "temperature τ")


def test_an_unknown_pretrained_tag_is_a_clear_message(home):
    at = open_page("explore", timeout=180)
    at.radio(key="explore_source").set_value("openclip").run()
    at.text_input(key="explore_arch").set_value("gapviz-tiny")
    at.text_input(key="explore_tag").set_value("no-such-weights")
    at.number_input(key="explore_eval_size").set_value(16).run()
    at.button(key="explore_go").click().run()
    assert not at.exception
    assert any("unknown pretrained tag 'no-such-weights'" in plain(e.value) for e in at.error)


def test_compare_two_epochs_of_a_run_and_play_its_epochs(home):
    store = RunStore()
    run_id = make_run(store, "run", epochs=3)
    at = open_page("explore", timeout=120)
    at.toggle(key="explore_cmp_open").set_value(True).run()
    at.selectbox(key="explore_cmp_run_epoch").set_value(0).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = [d.value for d in at.dataframe if "second − first [95% CI]" in d.value.columns][0]
    rows = {r["epoch"]: r for r in store.metrics(run_id)}
    gap = table[table["metric"] == "plug-in gap"].iloc[0]
    assert gap["first [95% CI]"].startswith(f"{rows[3]['gap_distance']:.3f} [")  # recomputed intervals, 3 digits
    assert gap["second [95% CI]"].startswith(f"{rows[0]['gap_distance']:.3f} [")
    change = float(gap["second − first [95% CI]"].split(" [")[0])
    assert change == pytest.approx(rows[0]["gap_distance"] - rows[3]["gap_distance"], abs=2e-3)  # fp16 on disk
    assert "paired: each resample draws the same images" in texts(at)
    assert "orthogonal Procrustes" in texts(at)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    animated = [c for c in charts if c.get("frames")]
    assert len(animated) == 1 and [f["name"] for f in animated[0]["frames"]] == ["0", "1", "2", "3"]
    assert len(charts) == 4  # the scatter, the two compared layouts, the epochs


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_play_a_runs_epochs_as_aligned_umap_computed_once_in_a_child_process(home):
    make_run(RunStore(), "run", epochs=3)
    at = open_page("explore", timeout=180)
    at.radio(key="explore_epochs_method").set_value("umap").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [cached] = list((home / "cache" / "projections").glob("*-aligned-umap.npy"))
    layouts = np.load(cached)
    assert layouts.shape == (4, 96, 2)  # epochs 0-3 of 48 pairs: images, then captions
    [animated] = [s for s in map(json.loads, (c.proto.spec for c in at.get("plotly_chart"))) if s.get("frames")]
    assert [f["name"] for f in animated["frames"]] == ["0", "1", "2", "3"]
    image, text = animated["frames"][1]["data"]
    np.testing.assert_allclose(_typed(image["x"]), layouts[1, :48, 0], rtol=1e-6)
    np.testing.assert_allclose(_typed(text["y"]), layouts[1, 48:, 1], rtol=1e-6)
    page = texts(at)
    assert "umap.AlignedUMAP of epochs 0, 1, 2, 3: 48 images and their captions (96 points)" in page
    assert "cached on disk" in page
    # a second session gets the same layout without computing it again; PCA is the other choice
    cached.touch()
    started = cached.stat().st_mtime_ns
    again = open_page("explore", timeout=60)
    again.radio(key="explore_epochs_method").set_value("umap").run()
    assert not again.exception and not again.error and cached.stat().st_mtime_ns == started
    again.radio(key="explore_epochs_method").set_value("pca").run()
    assert "PCA of each epoch, rotated onto the last epoch's" in texts(again)


def test_epochs_that_do_not_share_their_points_are_a_message_for_umap(home):
    from app_fixtures import synthetic_epoch

    store = RunStore()
    run_id = make_run(store, "run", epochs=2)
    store.append_epoch(run_id, synthetic_epoch(3, n=30))  # an evaluation set that changed size
    at = open_page("explore", timeout=120)
    at.radio(key="explore_epochs_method").set_value("umap").run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert error.startswith("Cannot lay out the epochs") and "same points at every epoch" in error
    assert "\n" not in error and not (home / "cache" / "projections").exists()


def test_the_epochs_shown_are_evenly_spaced_with_the_first_and_last():
    from gapviz.app.explore import compare as explore_compare

    assert explore_compare.shown_epochs(list(range(19))) == list(range(0, 19, 2))
    picked = explore_compare.shown_epochs([5, 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12])
    assert len(picked) == 10 and picked[0] == 0 and picked[-1] == 12 and picked == sorted(set(picked))
    assert explore_compare.shown_epochs([0, 1, 2]) == [0, 1, 2]
    # five captions per image: whole pairs, about ALIGNED_MAX_POINTS rows in all
    index = np.repeat(np.arange(400), 5)
    kept, captions = explore_compare.aligned_sample(400, index)
    assert len(kept) + len(captions) <= explore_compare.ALIGNED_MAX_POINTS and len(captions) == 5 * len(kept)
    assert set(index[captions]) == set(kept)


def test_images_on_hover_come_from_sheets_the_app_serves(home):
    colours = np.arange(30, dtype=np.uint8)[:, None, None, None] * 8
    pictures = np.broadcast_to(colours, (30, 12, 12, 3)).copy()  # image i: one grey level, 8·i
    data, _, _ = _npz(n=30, images=pictures, captions=np.array([f"c{i}" for i in range(30)]))
    at = _upload(open_page("explore", timeout=120), data)
    assert not at.exception and not at.error, [e.value for e in at.error]
    traces = {t["name"]: t for t in _scatter_spec(at)["data"] if t.get("mode") == "markers"}
    assert traces["image"]["meta"] == list(range(30)) and traces["text"]["meta"] == list(range(30))
    hover = [e.proto for e in at.get("bidi_component") if e.proto.component_name == "gapviz_hover_images"]
    spec = json.loads(hover[-1].json)
    assert (spec["target"], spec["count"], spec["height"], spec["width"]) == ("explore_scatter", 30, 12, 12)
    prefix = "/component/gapviz.app.explore.hover_images.thumbs/"
    assert spec["base"].startswith(prefix)
    from PIL import Image

    sheet = np.asarray(Image.open(home / "cache" / "thumbs" / spec["base"][len(prefix) :] / "0.jpg").convert("L"))
    cells = [sheet[:12, 12 * i : 12 * i + 12].mean() for i in range(30)]
    assert np.abs(np.asarray(cells) - 8 * np.arange(30)).max() < 4  # image i sits at cell i
    assert "Hover shows the pair's captions and its image" in " ".join(c.value for c in at.caption)


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_compare_with_a_training_free_fix_on_the_held_out_half(home):
    fixes = pytest.importorskip("gapviz.science.fixes")
    data, image, text = _npz(n=60)
    at = _upload(open_page("explore", timeout=120), data)
    at.toggle(key="explore_cmp_open").set_value(True).run()
    at.radio(key="explore_cmp_source").set_value("fix").run()
    at.text_input(key="explore_cmp_fix").set_value("centre").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "centre fitted on 30 pairs, measured on the other 30 (seed 0)" in texts(at)
    held = fixes.held_out_fix(fixes.parse_fix("centre"), image.astype(np.float32), text.astype(np.float32))
    table = [d.value for d in at.dataframe if "second − first [95% CI]" in d.value.columns][0]
    gap = table[table["metric"] == "plug-in gap"].iloc[0]
    after = compute_all(held.image, held.text)["gap_distance"]
    assert float(gap["second [95% CI]"].split(" [")[0]) == pytest.approx(after, rel=5e-3)  # 3 significant digits
    lo, hi = (float(v) for v in gap["second − first [95% CI]"].split(" [")[1].rstrip("]").split(", "))
    assert lo <= hi < 0 and gap["interval excludes 0"] == "yes"  # centring removes most of the gap, beyond doubt
    at.text_input(key="explore_cmp_fix").set_value("no-such-fix").run()
    assert any("Cannot analyse the second source" in plain(e.value) for e in at.error)
