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
    marks = [layer["mark"] for layer in spec["spec"]["layer"]]
    assert [m["type"] for m in marks] == ["area", "line", "line"]
    assert marks[1]["opacity"] < 0.5 and "opacity" not in marks[2]
    assert spec["spec"]["layer"][2]["encoding"]["color"]["legend"] is not None


def test_many_series_drop_the_legend():
    spec = charts.to_spec(charts_compare.compare_curves(_curves(30, raw=False), metrics=["loss"]))
    assert spec["spec"]["layer"][-1]["encoding"]["color"]["legend"] is None


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
        points, summary, x_title="temperature.tau", y_title="gap", numeric_x=True, log_x=True
    )
    spec = charts.to_spec(chart)
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["circle", "line", "rule", "point"]
    assert spec["layer"][0]["encoding"]["x"]["scale"] == {"type": "log"}
    categorical = charts.to_spec(
        charts_compare.settings_plot(
            points.assign(x=["fixed", "soft", "soft"]),
            summary.assign(x=["fixed", "soft"]),
            x_title="m",
            y_title="g",
            numeric_x=False,
        )
    )
    assert [layer["mark"]["type"] for layer in categorical["layer"]] == ["circle", "rule", "point"]
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
    assert spec["layer"][0]["encoding"]["x"]["scale"] == {"type": "log"}
