"""gapviz.charts_compare: specs of the curve, settings and gap-against-β charts (chart.to_dict())."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gapviz import charts, charts_compare


def _curves(n_series: int, raw: bool = True) -> pd.DataFrame:
    rows = [
        {"series": f"s{i}", "metric": "loss", "epoch": e, "value": 1.0 / (1 + e) + i, "lo": 0.0, "hi": 2.0}
        for i in range(n_series)
        for e in range(3)
    ]
    frame = pd.DataFrame(rows)
    return frame.assign(raw=frame["value"] + 0.1) if raw else frame


def test_curves_draw_band_faint_raw_and_smoothed_lines():
    spec = charts.to_spec(charts_compare.compare_curves(_curves(2), metrics=["loss"]))
    [panel] = spec["concat"]
    marks = [layer["mark"] for layer in panel["layer"]]
    assert [m["type"] for m in marks] == ["area", "line", "line"]
    assert marks[1]["opacity"] < 0.5 and "opacity" not in marks[2]
    assert panel["layer"][2]["encoding"]["color"]["legend"] is not None
    assert panel["title"]["text"] == "loss (nats)"
    assert panel["layer"][0]["encoding"]["y"]["scale"]["domain"][0] >= 0.0  # a loss band never below 0


def test_many_series_drop_the_legend():
    spec = charts.to_spec(charts_compare.compare_curves(_curves(30, raw=False), metrics=["loss"]))
    assert spec["concat"][0]["layer"][-1]["encoding"]["color"]["legend"] is None


def test_settings_plot_has_points_mean_and_interval_with_a_log_axis():
    points = pd.DataFrame({"run": ["a", "b", "c"], "x": [0.01, 0.07, 0.07], "y": [0.2, 0.5, 0.7], "color": "all runs"})
    summary = pd.DataFrame(
        {
            "x": [0.01, 0.07],
            "color": "all runs",
            "mean": [0.2, 0.6],
            "lo": [0.2, 0.4],
            "hi": [0.2, 0.8],
            "n": [1, 2],
            "std": [np.nan, 0.14],
        }
    )
    chart = charts_compare.settings_plot(
        points.assign(y=[0.2, 0.05, 0.7]),
        summary.assign(lo=[0.2, -1.66], hi=[0.2, 3.96]),
        x_title="τ",
        y_title="gap",
        numeric_x=True,
        log_x=True,
        metric="gap_distance",
    )
    spec = charts.to_spec(chart)
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "rule", "point", "circle"]  # seeds on top
    scale = spec["layer"][0]["encoding"]["x"]["scale"]
    assert scale["type"] == "log" and 0.005 < scale["domain"][0] < 0.01 and 0.07 < scale["domain"][1] < 0.1
    low, high = spec["layer"][1]["encoding"]["y"]["scale"]["domain"]
    assert low == 0.0 and high == 2.0  # the t-interval −1.66 to 3.96 clipped to the gap's range [0, 2]
    summary_rows = [rows for rows in spec["datasets"].values() if "mean" in rows[0]][0]
    assert [(r["lo"], r["hi"]) for r in summary_rows] == [(0.2, 0.2), (0.0, 2.0)]
    many = pd.concat([summary.assign(n=[5, 6])])
    assert "circle" not in [
        layer["mark"]["type"]
        for layer in charts.to_spec(
            charts_compare.settings_plot(points, many, x_title="τ", y_title="g", numeric_x=True)
        )["layer"]
    ]
    categorical = charts.to_spec(
        charts_compare.settings_plot(
            points.assign(x=["fixed", "soft", "soft"]),
            summary.assign(x=["fixed", "soft"]),
            x_title="m",
            y_title="g",
            numeric_x=False,
        )
    )
    assert [layer["mark"]["type"] for layer in categorical["layer"]] == ["rule", "point", "circle"]
    assert categorical["layer"][0]["encoding"]["x"]["type"] == "nominal"


def test_gap_beta_chart_draws_the_fit_across_the_runs_beta_range():
    trace = pd.DataFrame(
        {
            "run": "r",
            "series": "s",
            "step": range(5),
            "beta": [10.0, 20, 30, 40, 50],
            "gap": [0.5, 0.4, 0.35, 0.3, 0.28],
        }
    )
    fits = pd.DataFrame(
        [{"run": "r", "series": "s", "slope": -0.1, "intercept": 0.7, "beta_lo": 10.0, "beta_hi": 50.0, "n": 5}]
    )
    lines = charts_compare.fit_lines(fits, samples=5)
    assert lines["beta"].iloc[0] == 10.0 and lines["beta"].iloc[-1] == 50.0
    assert lines["gap"].iloc[0] == 0.7 - 0.1 * np.log(10.0)
    spec = charts.to_spec(charts_compare.gap_beta_chart(trace, fits))
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "line"]
    x, y = spec["layer"][0]["encoding"]["x"], spec["layer"][0]["encoding"]["y"]
    assert x["title"] == "β = 1/τ" and y["title"] == "gap ‖c_I − c_T‖ (plug-in)"
    assert x["scale"]["type"] == "log" and 8 < x["scale"]["domain"][0] < 10 and 50 < x["scale"]["domain"][1] < 60
    assert 0.2 < y["scale"]["domain"][0] < 0.28 and 0.5 < y["scale"]["domain"][1] < 0.6  # fitted, not from 0


def test_a_curve_of_one_epoch_shows_its_point_and_its_band_as_a_bar():
    one = pd.DataFrame({"series": ["s"], "metric": ["gap_distance_unbiased"], "epoch": [3], "value": [0.8]})
    spec = charts.to_spec(
        charts_compare.compare_curves(one.assign(lo=-1.66, hi=3.96), metrics=["gap_distance_unbiased"])
    )
    band, line = spec["concat"][0]["layer"]
    assert band["mark"]["type"] == "rule" and line["mark"]["point"]
    assert [row["lo"] for rows in spec["datasets"].values() for row in rows] == [0.0]
