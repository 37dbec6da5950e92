"""Intervals, null floor and collapse warnings on Live and Explore; the gap anatomy and fixes on Explore;
interval bands on metric curves (AppTest and chart specs)."""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pytest
from app_fixtures import open_page, synthetic_epoch, texts

from gapviz import charts
from gapviz.app.shared import frames
from gapviz.config import preset
from gapviz.format import metric_text, with_interval
from gapviz.runs.store import RunStore
from gapviz.science.metrics import compute_all, record_values


def _measured_epoch(epoch: int, collapse: bool = False):
    record = synthetic_epoch(epoch, n=60)
    image, text = record.image_embeddings.astype(np.float32), record.text_embeddings.astype(np.float32)
    if collapse:
        image = np.tile(image[:1], (len(image), 1))
    values = record_values(compute_all(image, text, n_resamples=200))
    return dataclasses.replace(record, image_embeddings=image, metrics={**record.metrics, **values})


def _run(store: RunStore, collapse_last: bool = False) -> tuple[str, dict]:
    run_id = store.create(preset("tiny-test").with_overrides({"train.epochs": 2}))
    records = [_measured_epoch(e, collapse=collapse_last and e == 2) for e in range(3)]
    for record in records:
        store.append_epoch(run_id, record)
    store.finished(run_id, 2)
    return run_id, records[-1].metrics


def _metric(at, label: str) -> str:
    return [m.value for m in at.metric if m.label == label][0]


def _listed(at, label: str) -> str:
    """A metric's cell in Explore's grouped tables ("All metrics, grouped")."""
    tables = [d.value for d in at.dataframe if "value [95% CI]" in d.value.columns]
    return [t.loc[t["metric"] == label, "value [95% CI]"].iloc[0] for t in tables if label in t["metric"].tolist()][0]


def test_live_shows_the_epoch_with_intervals_and_warns_on_collapse(home):
    run_id, last = _run(RunStore(), collapse_last=True)
    at = open_page("live", {"run": run_id})
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _metric(at, "plug-in gap") == metric_text(last, "gap_distance", digits=3)
    assert _metric(at, "gap (debiased)") == metric_text(last, "gap_distance_unbiased", digits=3)
    assert " [" in _metric(at, "R@1 image→text")
    assert last["collapsed_image"] is True
    assert any("image embeddings are collapsed" in w.value for w in at.warning)


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_explore_marks_a_gap_under_the_null_floor(home):
    rng = np.random.default_rng(3)
    features = rng.normal(size=(400, 32)) + 0.3
    buffer = io.BytesIO()
    np.savez(buffer, image=features[:200].astype(np.float32), text=features[200:].astype(np.float32))
    at = open_page("explore", timeout=120)
    at.radio(key="explore_source").set_value("upload").run()
    at.file_uploader(key="explore_upload").set_value(("halves.npz", buffer.getvalue(), "application/octet-stream"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _listed(at, "plug-in gap").endswith("≈ 0")
    assert any("indistinguishable from 0" in w.value for w in at.warning)


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_explore_anatomy_and_the_fixes_in_one_place(home):
    rng = np.random.default_rng(4)
    base = rng.normal(size=(150, 16))
    offset = np.r_[1.5, np.zeros(15)]
    image, text = base + offset, base - offset + 0.3 * rng.normal(size=(150, 16))
    image, text = image.astype(np.float32), text.astype(np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, image=image, text=text)
    at = open_page("explore", timeout=120)
    at.radio(key="explore_source").set_value("upload").run()
    at.file_uploader(key="explore_upload").set_value(("pairs.npz", buffer.getvalue(), "application/octet-stream"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Gap anatomy" in texts(at)
    expected = compute_all(image.astype(np.float32), text.astype(np.float32))
    assert f"gap top-1 share: {metric_text(expected, 'gap_top1_share', significant=3)}" in texts(at)
    # the training-free fixes are in the comparison only (its test: test_app_explore), the anatomy points there
    assert "The same embeddings after a training-free fix" in texts(at)
    assert not [s for s in at.selectbox if s.key == "explore_fix"]
    assert not [d for d in at.dataframe if "before" in d.value.columns]


def test_curves_draw_the_bootstrap_interval_as_a_band():
    rows = [
        {"epoch": e, "gap_distance": 0.5 - 0.1 * e, "gap_distance_ci95": [0.45 - 0.1 * e, 0.56 - 0.1 * e], "tau": 0.07}
        for e in range(3)
    ]
    frame = frames.curves_frame(rows, "run")
    gap = frame[frame["metric"] == "gap_distance"]
    assert gap["lo"].tolist() == [0.45, 0.35, 0.25] and frame[frame["metric"] == "tau"]["lo"].isna().all()
    spec = charts.metric_curves(frame).to_dict()
    layers = spec["concat"][0]["layer"]
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in layers]
    assert "area" in marks
    no_ci = frames.curves_frame([{"epoch": 0, "gap_distance": 0.3}], "run")
    assert "lo" not in no_ci.columns


def test_with_interval_text():
    assert with_interval(0.0934, [0.0712, 0.1149]) == "0.093 [0.071, 0.115]"
    assert with_interval(0.0934, [float("nan"), float("nan")]) == "0.093"
    assert with_interval(float("nan"), [0.1, 0.2]) == "—"
    # significant digits: the cell's largest number decides, the value and both ends line up; whole parts stay
    assert with_interval(1.25713, [1.24721, 1.26694], significant=3) == "1.26 [1.25, 1.27]"
    assert with_interval(0.0742, [0.0527, 0.0977], significant=3) == "0.0742 [0.0527, 0.0977]"
    assert with_interval(-0.0001, [-0.02, 0.02], significant=2) == "-0.000 [-0.020, 0.020]"
    assert with_interval(1234.4, None, significant=3) == "1234" and with_interval(0.0, None, significant=3) == "0.00"
    assert metric_text({"gap_distance": 1.25713}, "gap_distance", significant=5) == "1.2571"


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_compare_final_table_shows_the_gap_interval(home):
    store = RunStore()
    first, last = _run(store)
    second, _ = _run(store)
    at = open_page("compare", {"runs": [first, second]})
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = [d.value for d in at.dataframe if "plug-in gap [95% CI]" in d.value.columns][0]
    assert table.set_index("run").loc[first, "plug-in gap [95% CI]"] == metric_text(last, "gap_distance", 3)
    debiased = table.set_index("run").loc[first, "gap (debiased) [95% CI]"]
    assert debiased == metric_text(last, "gap_distance_unbiased", 3)
    assert not any("_" in column for column in table.columns)  # catalog labels, not raw keys


def test_a_forged_upload_is_refused_from_its_header(home):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (2, 10**8, 1000)})
    at = open_page("explore", timeout=120)
    at.radio(key="explore_source").set_value("upload").run()
    at.file_uploader(key="explore_upload").set_value(("forged.npy", buffer.getvalue(), "application/octet-stream"))
    at.run()
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]  # the page escapes markdown in messages
    assert any("forged.npy" in e and "above the limit" in e for e in errors), errors


def test_interval_helpers_for_tables():
    from gapviz import format as fmt

    assert fmt.interval_ends([0.1, 0.3]) == (0.1, 0.3)
    assert all(math.isnan(v) for v in fmt.interval_ends(None))
    assert [fmt.excludes_zero(0.1, 0.3), fmt.excludes_zero(-0.2, -0.1), fmt.excludes_zero(-0.1, 0.1)] == [
        "yes",
        "yes",
        "no",
    ]
    assert fmt.excludes_zero(float("nan"), 0.1) == "—"
    assert fmt.interval_cells([0.5, 0.25], [0.4, float("nan")], [0.6, float("nan")]) == [
        "0.5000 [0.4000, 0.6000]",
        "0.2500",
    ]
