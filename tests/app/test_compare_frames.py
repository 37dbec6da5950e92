"""gapviz.app.shared.compare_frames against brute-force references: filters, seed bands, values, smoothing, fits."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gapviz import format as fmt
from gapviz.app.shared import compare_frames as cf


@dataclass
class Summary:
    name: str
    state: str
    group: str
    tags: tuple[str, ...]


def _table():
    summaries = {
        "r1": Summary("a", "finished", "g1", ("paper",)),
        "r2": Summary("b", "failed", "g1", ()),
        "r3": Summary("c", "finished", "g2", ("paper", "x")),
    }
    flat = {
        "r1": {"temperature.tau": 0.07, "seed": 0},
        "r2": {"temperature.tau": 0.05, "seed": 1},
        "r3": {"temperature.tau": 0.07, "seed": 1},
    }
    return cf.run_table(summaries, flat), flat


def test_filters_combine_and_an_empty_filter_keeps_all():
    table, _ = _table()
    assert cf.filter_runs(table) == ["r1", "r2", "r3"]
    assert cf.filter_runs(table, groups=["g1"]) == ["r1", "r2"]
    assert cf.filter_runs(table, tags=["paper"]) == ["r1", "r3"]
    assert cf.filter_runs(table, groups=["g1"], tags=["paper"]) == ["r1"]
    assert cf.filter_runs(table, states=["failed"]) == ["r2"]
    assert cf.filter_runs(table, setting="temperature.tau", values=["0.07"]) == ["r1", "r3"]
    assert cf.filter_runs(table, setting="temperature.tau") == ["r1", "r2", "r3"]


def test_group_labels_and_varying_settings():
    _, flat = _table()
    assert cf.varying_settings(flat) == ["seed", "temperature.tau"]
    labels = cf.group_labels(flat, ["temperature.tau"])
    assert labels == {"r1": "τ = 0.07", "r2": "τ = 0.05", "r3": "τ = 0.07"}


def _histories(seed_values):
    return {
        f"r{i}": [{"epoch": e, "loss": v + e, "gap_distance": 1.0 / (1 + e) + v} for e in range(4)]
        for i, v in enumerate(seed_values)
    }


def test_seed_bands_are_t_intervals_over_seeds():
    offsets = [0.1, 0.4, 0.25]
    histories = _histories(offsets)
    long = cf.long_curves(histories, {r: "s" for r in histories}, ["loss"])
    bands = cf.seed_bands(long)
    row = bands[bands["epoch"] == 2].iloc[0]
    values = [v + 2 for v in offsets]
    half = stats.t.ppf(0.975, 2) * statistics.stdev(values) / math.sqrt(3)
    assert row["n"] == 3 and row["value"] == pytest.approx(statistics.fmean(values))
    assert (row["lo"], row["hi"]) == pytest.approx((row["value"] - half, row["value"] + half))


def test_recall_bands_over_seeds_stay_inside_0_1_and_gap_bands_above_0():
    """Issue 19/22: a t-interval of a proportion over 3 seeds went below 0; a gap band below 0."""
    recall = {
        f"r{i}": [{"epoch": 0, "i2t_r1": v, "gap_distance": g}]
        for i, (v, g) in enumerate([(0.0, 0.01), (0.02, 0.4), (0.15, 0.02)])
    }
    long = cf.long_curves(recall, {r: "s" for r in recall}, ["i2t_r1", "gap_distance"])
    bands = cf.seed_bands(long).set_index("metric")
    r_lo, r_hi = bands.loc["i2t_r1", ["lo", "hi"]]
    assert 0.0 < r_lo <= bands.loc["i2t_r1", "value"] <= r_hi < 1.0
    plain_half = stats.t.ppf(0.975, 2) * statistics.stdev([0.0, 0.02, 0.15]) / math.sqrt(3)
    assert bands.loc["i2t_r1", "value"] - plain_half < 0  # the plain t-interval would have gone below 0
    assert bands.loc["gap_distance", "lo"] == 0.0  # clipped to the gap's range


def test_a_single_run_uses_its_own_measurement_interval():
    rows = [{"epoch": 0, "gap_distance": 0.5, "gap_distance_ci95": [0.45, 0.56]}, {"epoch": 1, "gap_distance": 0.4}]
    bands = cf.seed_bands(cf.long_curves({"r": rows}, {"r": "s"}, ["gap_distance"]))
    assert bands[["lo", "hi"]].iloc[0].tolist() == [0.45, 0.56]
    assert bands[["lo", "hi"]].iloc[1].isna().all()  # no interval known: no band


def test_last_best_and_at_epoch():
    rows = [
        {"epoch": 0, "gap_distance": 0.9, "i2t_r1": 0.1},
        {"epoch": 1, "gap_distance": 0.3, "i2t_r1": 0.5},
        {"epoch": 2, "gap_distance": 0.4, "i2t_r1": 0.4},
    ]
    assert cf.run_value(rows, "gap_distance", "last") == (0.4, 2)
    assert cf.run_value(rows, "gap_distance", "best") == (0.3, 1)  # lower is better for the gap
    assert cf.run_value(rows, "i2t_r1", "best") == (0.5, 1)  # higher is better for recall
    assert cf.run_value(rows, "i2t_r1", "at epoch", 0) == (0.1, 0)
    assert cf.run_value(rows, "i2t_r1", "at epoch", 7) == (None, None)
    table = cf.values_table({"r": rows}, {"r": "run r"}, ["gap_distance"], "best")
    assert table.iloc[0].to_dict() == {"run": "r", "name": "run r", "gap_distance": 0.3, "gap_distance epoch": 1}


def test_smoothing_is_a_debiased_moving_average_per_run():
    frame = pd.DataFrame(
        {
            "run": ["a"] * 3 + ["b"] * 3,
            "metric": "m",
            "epoch": [0, 1, 2] * 2,
            "value": [1.0, 2.0, 3.0, 10.0, 10.0, 10.0],
        }
    )
    out = cf.smooth(frame, 0.5)
    a = out[out["run"] == "a"]
    assert a["raw"].tolist() == [1.0, 2.0, 3.0]
    assert a["value"].tolist() == pytest.approx([1.0, (0.25 + 1.0) / 0.75, (0.125 + 0.5 + 1.5) / 0.875])
    assert out[out["run"] == "b"]["value"].tolist() == pytest.approx([10.0] * 3)
    assert cf.smooth(frame, 0.0)["value"].tolist() == frame["value"].tolist()


def test_settings_points_and_their_summary():
    values = pd.DataFrame({"run": ["r1", "r2", "r3"], "gap_distance": [0.5, 0.7, 0.2]})
    flat = {"r1": {"temperature.tau": 0.07}, "r2": {"temperature.tau": 0.07}, "r3": {"temperature.tau": 0.01}}
    points = cf.settings_points(values, flat, "temperature.tau", "gap_distance")
    assert sorted(zip(points["x"], points["y"], strict=True)) == [(0.01, 0.2), (0.07, 0.5), (0.07, 0.7)]
    summary = cf.settings_summary(points).set_index("x")
    half = stats.t.ppf(0.975, 1) * statistics.stdev([0.5, 0.7]) / math.sqrt(2)
    assert summary.loc[0.07, "mean"] == pytest.approx(0.6)
    assert summary.loc[0.07, "hi"] - summary.loc[0.07, "mean"] == pytest.approx(half)
    assert summary.loc[0.01, "lo"] == summary.loc[0.01, "hi"] == 0.2  # one seed: no spread to show
    assert cf.is_numeric([0.07, 0.01]) and not cf.is_numeric(["fixed", "learnable"]) and not cf.is_numeric([True])


def test_log_beta_fit_recovers_the_slope():
    beta = np.geomspace(10, 80, 12)
    rows = [
        {"step": i, "beta": float(b), "gap_distance": 0.9 - 0.2 * math.log(b), "tau": 1 / b, "epoch": 0}
        for i, b in enumerate(beta)
    ]
    flat_rows = [{"step": i, "beta": 20.0, "gap_distance": 0.5} for i in range(5)]
    trace = cf.trace_frame({"moving": rows, "still": flat_rows, "empty": []}, {})
    fits = cf.log_beta_fits(trace)
    assert fits["run"].tolist() == ["moving"]  # β that does not move has no slope
    assert fits.iloc[0]["slope"] == pytest.approx(-0.2) and fits.iloc[0]["intercept"] == pytest.approx(0.9)


def test_the_values_table_carries_a_recorded_interval():
    rows = [{"epoch": 0, "gap_distance": 0.9}, {"epoch": 1, "gap_distance": 0.5, "gap_distance_ci95": [0.45, 0.56]}]
    [row] = cf.values_table({"r": rows}, {}, ["gap_distance"], "last").to_dict("records")
    assert (row["gap_distance"], row["gap_distance lo"], row["gap_distance hi"]) == (0.5, 0.45, 0.56)
    assert row["gap_distance [95% CI]"] == fmt.metric_text(rows[1], "gap_distance", 3)  # the app's one formatter
    assert "0.45" in row["gap_distance [95% CI]"] and "0.56" in row["gap_distance [95% CI]"]
    [row] = cf.values_table({"r": rows}, {}, ["gap_distance"], "at epoch", 0).to_dict("records")
    assert "gap_distance lo" not in row  # epoch 0 recorded no interval


def test_a_wide_diff_reads_as_one_row_per_setting():
    diff = pd.DataFrame(
        {f"r{i}": [str(t), str(i % 2)] for i, t in enumerate([0.1, 0.01, 0.1, 1.0])}, index=["temperature.tau", "seed"]
    )
    summary = cf.diff_summary(diff).set_index("setting")
    assert summary.loc["temperature.tau", "values (runs)"] == "0.01 ×1, 0.1 ×2, 1.0 ×1"
    assert summary.loc["seed", "distinct values"] == 2


def test_a_single_seed_point_uses_its_own_interval():
    values = pd.DataFrame(
        {
            "run": ["r1", "r2"],
            "gap_distance": [0.5, 0.3],
            "gap_distance lo": [0.44, None],
            "gap_distance hi": [0.57, None],
        }
    )
    flat = {"r1": {"swap.mode": "none"}, "r2": {"swap.mode": "soft"}}
    summary = cf.settings_summary(cf.settings_points(values, flat, "swap.mode", "gap_distance")).set_index("x")
    assert (summary.loc["none", "lo"], summary.loc["none", "hi"]) == (0.44, 0.57)
    assert summary.loc["soft", "lo"] == summary.loc["soft", "hi"] == 0.3  # no interval recorded: none drawn


def test_beta_moves_only_when_tau_changes_within_a_run():
    fixed = pd.DataFrame({"run": ["a"] * 3 + ["b"] * 3, "beta": [10.0] * 3 + [20.0] * 3, "gap": 0.5})
    assert not cf.beta_moves(fixed)  # a fixed-τ sweep: β differs between runs, never within one
    assert cf.beta_moves(fixed.assign(beta=[10.0, 12.0, 14.0, 20.0, 20.0, 20.0]))
    assert not cf.beta_moves(fixed.iloc[:0])


def test_settings_summary_clips_to_the_metric_range():
    points = pd.DataFrame({"run": ["a", "b"], "x": [0.1, 0.1], "y": [0.05, 1.6], "color": "all runs"})
    summary = cf.settings_summary(points, metric="gap_distance_unbiased")
    assert summary.loc[0, "lo"] == 0.0 and summary.loc[0, "hi"] <= 2.0
