"""Altair builders for comparing runs: smoothed curves over a faint raw curve with 95% bands, a final
metric against a setting (per-seed points, mean and interval), and the gap against β = 1/τ with its fit.

A data frame in, a chart out; no Streamlit, no torch. Frames come from gapviz.app.shared.compare_frames.
"""

from __future__ import annotations

import math
from typing import Sequence

import altair as alt
import numpy as np
import pandas as pd

from gapviz import figures
from gapviz.charts import CURVE_HEIGHT, CURVE_WIDTH, _finish, panel_metrics, small_multiples, x_encoding, y_scale

MAX_LEGEND_SERIES = 24
"""More series than this get no legend (it would fill the page); the tooltip names each one."""


def _series_color(data: pd.DataFrame) -> alt.Color:
    legend = (
        alt.Legend(title=None, orient="bottom", labelLimit=360, symbolOpacity=1)
        if data["series"].nunique() <= MAX_LEGEND_SERIES
        else None
    )
    return alt.Color("series:N", legend=legend)


def compare_curves(
    data: pd.DataFrame,
    *,
    metrics: Sequence[str],
    columns: int = 3,
    width: int = CURVE_WIDTH,
    height: int = CURVE_HEIGHT,
) -> alt.TopLevelMixin:
    """One panel per metric with finite values, one line per series against the epoch, each panel with its own
    y axis fitted inside the metric's range and titled with its catalog name and unit.

    ``data``: columns ``epoch``, ``metric``, ``value``, ``series``; optional ``lo``/``hi`` (a band behind each
    line, clipped to the metric's range), ``raw`` (the unsmoothed value, drawn faint beneath) and ``run``
    (with ``raw``: one faint line per run of a series).
    """
    data = figures.clip_bands(data[data["metric"].isin(list(metrics))])
    color = _series_color(data)
    per_run = "run" in data.columns and "lo" not in data.columns
    tooltip = [alt.Tooltip("series:N"), alt.Tooltip("epoch:Q"), alt.Tooltip("value:Q", format=".4f")]
    if per_run:
        tooltip.insert(1, alt.Tooltip("run:N"))
    panels = []
    for metric in panel_metrics(data, metrics):
        part = data[data["metric"] == metric]
        base = alt.Chart(part).encode(x=x_encoding("epoch", "epoch", part["epoch"].tolist()))
        y = y_scale(metric, part)
        few = part["epoch"].nunique() < 3  # one or two epochs: points, and the band as a bar at each
        layers = []
        if {"lo", "hi"} <= set(part.columns) and part["lo"].notna().any():
            band = base.mark_rule(strokeWidth=3, opacity=0.35) if few else base.mark_area(opacity=0.16)
            layers.append(band.encode(y=alt.Y("lo:Q", title=None, scale=y), y2="hi:Q", color=color))
        if "raw" in part.columns:
            detail = "run:N" if "run" in part.columns else "series:N"
            faint = base.mark_line(opacity=0.22, strokeWidth=1)
            layers.append(faint.encode(y=alt.Y("raw:Q", title=None, scale=y), color=color, detail=detail))
        extra = {"detail": "run:N"} if per_run else {}
        line = base.mark_line(strokeWidth=1.8, point=alt.OverlayMarkDef(size=30) if few else False)
        layers.append(line.encode(y=alt.Y("value:Q", title=None, scale=y), color=color, tooltip=tooltip, **extra))
        title = alt.TitleParams(figures.metric_axis_title(metric), fontSize=12, anchor="start")
        panels.append(alt.layer(*layers).properties(width=width, height=height, title=title))
    return small_multiples(panels, columns)


FEW_SEEDS = 5
"""Below this many runs per point each run's own point is drawn on top of the mean (Wilkinson's advice)."""


def _settings_x(points: pd.DataFrame, x_title: str, numeric_x: bool, log_x: bool) -> alt.X:
    """The setting's axis: a log axis fitted to its values (τ, learning rate), linear, or one tick per choice."""
    if not numeric_x:
        return alt.X("x:N", title=x_title)
    if log_x:
        return alt.X(
            "x:Q", title=x_title, scale=alt.Scale(type="log", domain=figures.log_domain(points["x"]), nice=False)
        )
    return alt.X("x:Q", title=x_title, scale=alt.Scale(zero=False))


def settings_plot(
    points: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    x_title: str,
    y_title: str,
    numeric_x: bool,
    log_x: bool = False,
    metric: str = "",
    width: int = 520,
    height: int = 320,
) -> alt.LayerChart:
    """A final metric against a setting: the mean per setting value with its band as an error bar (clipped to
    ``metric``'s range, as is the y axis), joined by a line when the setting is a number, and each run's own
    point on top while there are fewer than FEW_SEEDS per point.

    ``points``: ``run``, ``x``, ``y``, ``color``; ``summary``: ``x``, ``color``, ``mean``, ``lo``, ``hi``, ``n``.
    """
    summary = figures.clip_bands(summary, metric) if metric else summary
    x = _settings_x(points, x_title, numeric_x, log_x)
    legend = alt.Legend(title=None, orient="bottom", labelLimit=360) if points["color"].nunique() > 1 else None
    color = alt.Color("color:N", legend=legend)
    values = [*points["y"], *summary["lo"], *summary["hi"], *summary["mean"]]
    domain = figures.axis_domain(metric, values)
    y_scale = alt.Scale(zero=False, nice=False, domain=domain) if domain else alt.Scale(zero=False)
    point_tips, mean_tips = _settings_tooltips(x_title, y_title)
    bars = alt.Chart(summary).mark_rule(strokeWidth=2)
    bars = bars.encode(x=x, y=alt.Y("lo:Q", scale=y_scale, title=y_title), y2="hi:Q", color=color)
    means = alt.Chart(summary).mark_point(filled=True, size=110, shape="diamond")
    means = means.encode(x=x, y=alt.Y("mean:Q", scale=y_scale), color=color, tooltip=mean_tips)
    layers = [bars, means]
    if numeric_x:
        line = alt.Chart(summary).mark_line(strokeWidth=1.5).encode(x=x, y=alt.Y("mean:Q", scale=y_scale), color=color)
        layers.insert(0, line)
    if len(summary) and summary["n"].max() < FEW_SEEDS:
        dots = alt.Chart(points).mark_circle(size=40, opacity=0.75, stroke="white", strokeWidth=0.6)
        layers.append(dots.encode(x=x, y=alt.Y("y:Q", scale=y_scale), color=color, tooltip=point_tips))
    return _finish(alt.layer(*layers).properties(width=width, height=height))


def _settings_tooltips(x_title: str, y_title: str) -> tuple[list[alt.Tooltip], list[alt.Tooltip]]:
    """Tooltips of a run's point, and of a setting value's mean with its interval and seed count."""
    point = [alt.Tooltip("run:N"), alt.Tooltip("x", title=x_title), alt.Tooltip("y:Q", title=y_title, format=".4f")]
    mean = [alt.Tooltip("x", title=x_title), alt.Tooltip("mean:Q", format=".4f"), alt.Tooltip("lo:Q", format=".4f")]
    return point, mean + [alt.Tooltip("hi:Q", format=".4f"), alt.Tooltip("n:Q", title="seeds")]


def fit_lines(fits: pd.DataFrame, samples: int = 24) -> pd.DataFrame:
    """Points of each fitted line gap = intercept + slope · ln β across its run's β range (for drawing)."""
    rows = []
    for _, fit in fits.iterrows():
        for beta in np.geomspace(fit["beta_lo"], fit["beta_hi"], samples):
            rows.append(
                {
                    "run": fit["run"],
                    "series": fit["series"],
                    "beta": float(beta),
                    "gap": fit["intercept"] + fit["slope"] * math.log(beta),
                    "slope": fit["slope"],
                }
            )
    return pd.DataFrame(rows, columns=["run", "series", "beta", "gap", "slope"])


BETA_TITLE = "β = 1/τ"
TRACE_METRIC = "gap_distance"
"""RunStore.gap_trace records the plug-in gap at regular steps."""


def gap_beta_chart(trace: pd.DataFrame, fits: pd.DataFrame, *, width: int = 520, height: int = 300) -> alt.LayerChart:
    """The gap against β = 1/τ (log axis) as training moves, one path per run, with its fitted line dashed
    only across the β range it was fitted on; both axes fitted to the data (β of 14–17 is not drawn on 10–100).

    ``trace``: ``run``, ``series``, ``step``, ``beta``, ``gap``; ``fits``: from ``compare_frames.log_beta_fits``.
    """
    color = _series_color(trace)
    lines = fit_lines(fits) if not fits.empty else pd.DataFrame(columns=["run", "series", "beta", "gap", "slope"])
    x_domain = figures.log_domain(trace["beta"])
    y_domain = figures.axis_domain(TRACE_METRIC, [*trace["gap"], *lines["gap"]])
    x = alt.X("beta:Q", title=BETA_TITLE, scale=alt.Scale(type="log", domain=x_domain, nice=False))
    y_title = figures.metric_axis_title(TRACE_METRIC)
    y = alt.Y("gap:Q", title=y_title, scale=alt.Scale(zero=False, nice=False, domain=y_domain))
    tips = [alt.Tooltip("series:N"), alt.Tooltip("step:Q"), alt.Tooltip("beta:Q", format=".2f")]
    path = alt.Chart(trace).mark_line(point=alt.OverlayMarkDef(size=16), strokeWidth=1.4)
    path = path.encode(
        x=x, y=y, color=color, detail="run:N", order="step:Q", tooltip=[*tips, alt.Tooltip("gap:Q", format=".4f")]
    )
    layers = [path]
    if not lines.empty:
        dashed = alt.Chart(lines).mark_line(strokeDash=[5, 4], strokeWidth=1.6, opacity=0.9)
        fit_tips = [alt.Tooltip("series:N"), alt.Tooltip("slope:Q", format=".4f")]
        layers.append(dashed.encode(x=x, y=y, color=color, detail="run:N", tooltip=fit_tips))
    return _finish(alt.layer(*layers).properties(width=width, height=height))
