"""Compare page (AppTest): URL selection and ?group=, filters by group / tag / state / setting, config diff,
grouped curves with 95% bands over seeds, smoothing, last / best / at-epoch values, results against a
setting, exports, rename / tag / re-run links, delete with confirmation. Works on saved runs alone."""

from __future__ import annotations

import json
import math
import statistics

import pandas as pd
import pyarrow as pa
import pytest
from app_fixtures import make_run, open_page, texts
from scipy import stats

from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore


def _runs(store: RunStore):
    a = make_run(store, "tau07", seed=0, group="sweep-x")
    b = make_run(store, "tau07", seed=1, group="sweep-x")
    c = make_run(store, "tau05", seed=0, group="sweep-x", overrides={"temperature.tau": 0.05})
    return a, b, c


KINDS = {
    "compare_gap_beta": lambda spec: spec.get("layer", [{}])[0].get("encoding", {}).get("x", {}).get("field") == "beta",
    "compare_curves": lambda spec: "concat" in spec,
    "compare_settings_plot": lambda spec: any(
        layer.get("mark", {}).get("type") == "rule" and layer["encoding"].get("y2", {}).get("field") == "hi"
        for layer in spec.get("layer", [])
    ),
}


def _chart(at, kind: str):
    """(spec, data frame) of the one chart of ``kind`` on the page: every panel's rows of the curves, the runs'
    points of the settings plot, the trace of the gap against β."""
    found = [(json.loads(c.proto.spec), c) for c in at.get("vega_lite_chart")]
    [(spec, element)] = [(spec, c) for spec, c in found if KINDS[kind](spec)]
    frames = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in element.proto.datasets]
    if kind == "compare_curves":
        return spec, pd.concat(frames, ignore_index=True)
    need = {"run", "step"} if kind == "compare_gap_beta" else {"run", "y"}
    return spec, next(f for f in frames if need <= set(f.columns))


def _charts(at) -> int:
    return len(at.get("vega_lite_chart"))


def test_url_selection_diff_curves_values_and_exports(home):
    store = RunStore()
    a, b, c = _runs(store)
    at = open_page("compare", {"runs": [a, c]})
    assert not at.exception
    assert at.multiselect(key="runs").value == [a, c]
    diff = at.dataframe[0].value
    assert list(diff.index) == ["τ"]  # seeds and names equal, so only tau differs (named as the setting catalog says)
    values = at.dataframe[1].value
    assert values["run"].tolist() == [a, c] and values["epoch"].tolist() == [3, 3]
    assert values["plug-in gap"].tolist() == [store.metrics(r)[-1]["gap_distance"] for r in (a, c)]
    assert _charts(at) == 4  # curves, settings plot, one scatter per run
    labels = [d.proto.label for d in at.get("download_button")]
    assert (
        "Download CSV" in labels and labels.count("PNG") == 4 and labels.count("SVG") == 4 and labels.count("CSV") == 2
    )


def test_a_group_opens_from_the_url_and_seeds_form_one_series_with_a_95_band(home):
    store = RunStore()
    a, b, c = _runs(store)
    at = open_page("compare", {"group": "sweep-x"})
    assert sorted(at.multiselect(key="runs").value) == sorted([a, b, c])
    assert at.multiselect(key="compare_groups").value == ["sweep-x"]
    assert at.query_params["group"] == "sweep-x" and "runs" not in at.query_params
    assert at.multiselect(key="compare_group_by").value == ["temperature.tau"]  # what differs, seed aside
    spec, data = _chart(at, "compare_curves")
    assert spec["concat"][0]["layer"][0]["mark"]["type"] == "area"  # the band
    row = data[(data["series"] == "τ = 0.07") & (data["metric"] == "loss") & (data["epoch"] == 2)].iloc[0]
    seeds = [store.metrics(r)[2]["loss"] for r in (a, b)]
    half = stats.t.ppf(0.975, 1) * statistics.stdev(seeds) / 2**0.5
    assert row["n"] == 2 and row["value"] == pytest.approx(statistics.fmean(seeds))
    assert (row["lo"], row["hi"]) == pytest.approx((row["value"] - half, row["value"] + half))
    at.multiselect(key="compare_group_by").set_value([]).run()
    _, data = _chart(at, "compare_curves")
    assert set(data["series"]) == {"all runs"} and set(data["n"]) == {3}


def test_filters_select_the_runs_that_match(home):
    store = RunStore()
    a, b, c = _runs(store)
    other = make_run(store, "elsewhere", seed=3, state=RunState.FAILED)
    store.update_meta(b, tags=["paper"])
    at = open_page("compare")
    assert "Choose runs, a group or a filter" in texts(at)
    at.multiselect(key="compare_tags").set_value(["paper"]).run()
    assert at.multiselect(key="runs").value == [b]
    at.multiselect(key="compare_tags").set_value([]).run()
    at.multiselect(key="compare_states").set_value(["failed"]).run()
    assert at.multiselect(key="runs").value == [other]
    at.multiselect(key="compare_states").set_value([]).run()
    at.selectbox(key="compare_filter_key").set_value("temperature.tau").run()
    assert at.multiselect(key="compare_filter_values").options == ["0.05", "0.07"]
    at.multiselect(key="compare_filter_values").set_value(["0.05"]).run()
    assert at.multiselect(key="runs").value == [c]
    assert at.query_params["runs"] == c  # AppTest keeps a one-value parameter as text


def test_best_and_at_epoch_values(home):
    store = RunStore()
    a, _, _ = _runs(store)
    at = open_page("compare", {"runs": [a]})
    at.radio(key="compare_value_mode").set_value("best").run()
    values = at.dataframe[0].value  # one run: no settings diff table, the values table comes first
    rows = store.metrics(a)
    best_gap = min(rows, key=lambda r: r["gap_distance"])
    best_r1 = max(rows, key=lambda r: r["i2t_r1"])
    assert values.loc[0, "plug-in gap"] == best_gap["gap_distance"]
    assert values.loc[0, "plug-in gap epoch"] == best_gap["epoch"]
    assert values.loc[0, "R@1 image→text"] == best_r1["i2t_r1"]
    assert values.loc[0, "R@1 image→text epoch"] == best_r1["epoch"]
    at.radio(key="compare_value_mode").set_value("at epoch").run()
    at.slider(key="compare_value_epoch").set_value(1).run()
    values = at.dataframe[0].value
    assert values.loc[0, "epoch"] == 1 and values.loc[0, "loss"] == rows[1]["loss"]


def test_smoothing_keeps_the_raw_curve_faint_beneath(home):
    store = RunStore()
    a, b, c = _runs(store)
    at = open_page("compare", {"runs": [a, b, c]})
    at.toggle(key="compare_average").set_value(False).run()
    at.slider(key="compare_smoothing").set_value(0.5).run()
    spec, data = _chart(at, "compare_curves")
    marks = [layer["mark"] for layer in spec["concat"][0]["layer"]]
    assert marks[0] == {"type": "line", "opacity": 0.22, "strokeWidth": 1}
    rows = data[(data["run"] == a) & (data["metric"] == "loss")].sort_values("epoch")
    raw = [r["loss"] for r in store.metrics(a)]
    assert rows["raw"].tolist() == raw
    expected, last, norm = [], 0.0, 0.0
    for value in raw:
        last, norm = 0.5 * last + 0.5 * value, 0.5 * norm + 0.5
        expected.append(last / norm)
    assert rows["value"].tolist() == pytest.approx(expected)


def test_results_against_a_setting_with_per_seed_points_and_intervals(home):
    store = RunStore()
    a, b, c = _runs(store)
    at = open_page("compare", {"group": "sweep-x"})
    assert at.selectbox(key="compare_x").value == "temperature.tau"
    assert at.selectbox(key="compare_y").value == "gap_distance"  # these runs record no debiased gap: the first metric
    assert at.toggle(key="compare_logx:temperature.tau").value is True
    spec, points = _chart(at, "compare_settings_plot")
    assert sorted(points["run"]) == sorted([a, b, c])
    assert spec["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
    assert spec["layer"][0]["encoding"]["x"]["title"] == "τ"  # the setting catalog's symbol, not temperature.tau
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "rule", "point", "circle"]  # seeds on top


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_rename_tag_relaunch_and_delete_with_confirmation(home):
    store = RunStore()
    a, b, _ = _runs(store)
    at = open_page("compare", {"runs": [a, b]})
    at.selectbox(key="compare_edit_run").set_value(a).run()
    at.text_input(key=f"name_{a}").set_value("renamed run")
    at.text_input(key=f"tags_{a}").set_value("baseline, paper")
    [button for button in at.button if button.label == "Save"][0].click().run()
    assert store.meta(a)["name"] == "renamed run" and store.meta(a)["tags"] == ["baseline", "paper"]
    links = {link.proto.label: link.proto.query_string for link in at.get("page_link")}
    assert links["Open in Launch"] == f"from={a}" and links["Fine-tune from this run"] == f"finetune={a}"
    at.text_input(key="compare_bulk_tag").set_value("batch-1").run()
    at.button(key="compare_bulk_tag_button").click().run()
    assert store.meta(a)["tags"] == ["baseline", "paper", "batch-1"] and store.meta(b)["tags"] == ["batch-1"]
    at.button(key="delete_runs").click().run()
    assert store.run_ids().count(a) == 1  # nothing deleted before confirming
    at.button(key="confirm_delete_button").click().run()
    assert a not in store.run_ids() and b not in store.run_ids()
    assert not at.exception and not at.error
    assert at.multiselect(key="runs").value == []


def _trace(store: RunStore, run_id: str, slope: float, intercept: float) -> list[float]:
    """A recorded gap trace on which gap = intercept + slope · ln β exactly; returns its β values."""
    betas = [10.0 * 1.25**i for i in range(8)]
    store.append_gap_trace(
        run_id,
        [
            {"step": 5 * i, "epoch": i // 4, "tau": 1 / b, "beta": b, "gap_distance": intercept + slope * math.log(b)}
            for i, b in enumerate(betas)
        ],
    )
    return betas


def test_gap_against_beta_with_each_runs_fitted_slope(home):
    store = RunStore()
    a, b, c = _runs(store)
    _trace(store, a, -0.2, 1.5)
    _trace(store, b, -0.05, 1.0)
    at = open_page("compare", {"runs": [a, b, c]})
    assert "No step-level trace" not in texts(at)
    spec, trace = _chart(at, "compare_gap_beta")
    assert spec["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
    assert spec["layer"][0]["encoding"]["x"]["scale"]["domain"][0] > 8  # fitted to β of 10–48, not 1–100
    assert sorted(set(trace["run"])) == sorted([a, b])  # c recorded no trace
    fits = [d.value for d in at.dataframe if "slope" in d.value.columns][0].set_index("run")
    assert fits.loc[a, "slope"] == pytest.approx(-0.2) and fits.loc[b, "slope"] == pytest.approx(-0.05)


def test_without_a_gap_trace_the_section_says_so(home):
    store = RunStore()
    a, _, _ = _runs(store)
    at = open_page("compare", {"runs": [a]})
    assert "No step-level trace of β and the gap was recorded for these runs." in texts(at)


def test_no_runs_yet(home):
    at = open_page("compare")
    assert "No saved runs" in texts(at)


def test_one_point_per_mitigation_with_the_series_on_x(home):
    store = RunStore()
    variants = {
        "baseline": {},
        "fixed": {"temperature.mode": "fixed"},
        "soft swap": {"swap.mode": "soft", "swap.fraction": 0.05},
    }
    for name, overrides in variants.items():
        for seed in (0, 1):
            make_run(store, name, seed=seed, group="mitigations", overrides=overrides)
    at = open_page("compare", {"group": "mitigations"})
    at.selectbox(key="compare_x").set_value("series").run()
    _, points = _chart(at, "compare_settings_plot")
    assert points.groupby("x")["run"].count().to_dict() == {
        "swap fraction = 0, swap mode = none, temperature mode = fixed": 2,
        "swap fraction = 0, swap mode = none, temperature mode = learnable": 2,
        "swap fraction = 0.05, swap mode = soft, temperature mode = learnable": 2,
    }


def test_a_fixed_tau_trace_draws_no_beta_panel(home):
    store = RunStore()
    a, _, _ = _runs(store)
    store.append_gap_trace(
        a, [{"step": i, "epoch": 0, "tau": 0.07, "beta": 1 / 0.07, "gap_distance": 0.5} for i in range(5)]
    )
    at = open_page("compare", {"runs": [a]})
    assert "τ is fixed in these runs" in texts(at)
    assert not [s for s in at.get("vega_lite_chart") if KINDS["compare_gap_beta"](json.loads(s.proto.spec))]


def test_band_choice_changes_the_band_and_the_caption_says_which_and_n(home):
    store = RunStore()
    a, b, _ = _runs(store)
    at = open_page("compare", {"group": "sweep-x"})
    assert "band: 95% t-interval over seeds (one run: its own 95% interval), n = 1–2 per point" in texts(at)
    at.radio(key="compare_band").set_value("min–max").run()
    _, data = _chart(at, "compare_curves")
    row = data[(data["series"] == "τ = 0.07") & (data["metric"] == "loss") & (data["epoch"] == 2)].iloc[0]
    seeds = [store.metrics(r)[2]["loss"] for r in (a, b)]
    assert (row["lo"], row["hi"]) == pytest.approx((min(seeds), max(seeds)))
    assert "band: min–max over seeds, n = 1–2 per point" in texts(at)
    at.radio(key="compare_band").set_value("SD").run()
    _, data = _chart(at, "compare_curves")
    row = data[(data["series"] == "τ = 0.07") & (data["metric"] == "loss") & (data["epoch"] == 2)].iloc[0]
    assert row["hi"] - row["value"] == pytest.approx(statistics.stdev(seeds))


def test_the_values_table_reads_catalog_labels_not_keys(home):
    store = RunStore()
    a, _, c = _runs(store)
    at = open_page("compare", {"runs": [a, c]})
    values = at.dataframe[1].value
    assert not [c for c in values.columns if "_" in c], values.columns
