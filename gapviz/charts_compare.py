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

from gapviz.charts import CURVE_HEIGHT, CURVE_WIDTH, _finish, metric_title

MAX_LEGEND_SERIES = 24
"""More series than this get no legend (it would fill the page); the tooltip names each one."""


def _series_color(data: pd.DataFrame) -> alt.Color:
    legend = (
        alt.Legend(title=None, orient="bottom", labelLimit=360)
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
) -> alt.FacetChart:
    """One panel per metric, one line per series against the epoch, each panel with its own y axis.

    ``data``: columns ``epoch``, ``metric``, ``value``, ``series``; optional ``lo``/``hi`` (a 95% band
    behind each line), ``raw`` (the unsmoothed value, drawn faint beneath) and ``run`` (with ``raw``:
    one faint line per run of a series).
    """
    data = data[data["metric"].isin(list(metrics))]
    data = data.assign(title=data["metric"].map(metric_title))
    titles = [metric_title(m) for m in metrics]
    color = _series_color(data)
    base = alt.Chart().encode(x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)))
    y = alt.Y("value:Q", title=None, scale=alt.Scale(zero=False))
    layers = []
    if {"lo", "hi"} <= set(data.columns) and data["lo"].notna().any():
        layers.append(
            base.mark_area(opacity=0.16).encode(
                y=alt.Y("lo:Q", title=None, scale=alt.Scale(zero=False)), y2="hi:Q", color=color
            )
        )
    if "raw" in data.columns:
        detail = "run:N" if "run" in data.columns else "series:N"
        layers.append(
            base.mark_line(opacity=0.22, strokeWidth=1).encode(y=alt.Y("raw:Q", title=None), color=color, detail=detail)
        )
    tooltip = [alt.Tooltip("series:N"), alt.Tooltip("epoch:Q"), alt.Tooltip("value:Q", format=".4f")]
    if "run" in data.columns and "lo" not in data.columns:
        tooltip.insert(1, alt.Tooltip("run:N"))
    detail_line = {"detail": "run:N"} if "run" in data.columns and "lo" not in data.columns else {}
    layers.append(base.mark_line(strokeWidth=1.8).encode(y=y, color=color, tooltip=tooltip, **detail_line))
    chart = (
        alt.layer(*layers, data=data)
        .properties(width=width, height=height)
        .facet(
            facet=alt.Facet("title:N", title=None, sort=titles, header=alt.Header(labelFontSize=13)), columns=columns
        )
        .resolve_scale(y="independent")
    )
    return _finish(chart)


def settings_plot(
    points: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    x_title: str,
    y_title: str,
    numeric_x: bool,
    log_x: bool = False,
    width: int = 520,
    height: int = 320,
) -> alt.LayerChart:
    """A final metric against a setting: one faint point per run (seed), the mean per setting value with its
    95% interval as an error bar, joined by a line when the setting is a number.

    ``points``: ``run``, ``x``, ``y``, ``color``; ``summary``: ``x``, ``color``, ``mean``, ``lo``, ``hi``, ``n``.
    """
    kind = "Q" if numeric_x else "N"
    scale = alt.Scale(type="log") if log_x and numeric_x else alt.Scale(zero=False) if numeric_x else alt.Scale()
    x = alt.X(f"x:{kind}", title=x_title, scale=scale)
    legend = alt.Legend(title=None, orient="bottom", labelLimit=360) if points["color"].nunique() > 1 else None
    color = alt.Color("color:N", legend=legend)
    y_scale = alt.Scale(zero=False)
    point_tips, mean_tips = _settings_tooltips(x_title, y_title)
    dots = alt.Chart(points).mark_circle(size=46, opacity=0.45)
    dots = dots.encode(x=x, y=alt.Y("y:Q", title=y_title, scale=y_scale), color=color, tooltip=point_tips)
    bars = alt.Chart(summary).mark_rule(strokeWidth=2)
    bars = bars.encode(x=x, y=alt.Y("lo:Q", scale=y_scale), y2="hi:Q", color=color)
    means = alt.Chart(summary).mark_point(filled=True, size=110, shape="diamond")
    means = means.encode(x=x, y=alt.Y("mean:Q", scale=y_scale), color=color, tooltip=mean_tips)
    layers = [dots, bars, means]
    if numeric_x:
        line = alt.Chart(summary).mark_line(strokeWidth=1.5).encode(x=x, y=alt.Y("mean:Q", scale=y_scale), color=color)
        layers.insert(1, line)
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


def gap_beta_chart(trace: pd.DataFrame, fits: pd.DataFrame, *, width: int = 520, height: int = 300) -> alt.LayerChart:
    """The gap against β = 1/τ (log axis) as training moves, one path per run, with its fitted line dashed.

    ``trace``: ``run``, ``series``, ``step``, ``beta``, ``gap``; ``fits``: from ``compare_frames.log_beta_fits``.
    """
    color = _series_color(trace)
    x = alt.X("beta:Q", title="β = 1/τ", scale=alt.Scale(type="log"))
    y = alt.Y("gap:Q", title="gap distance", scale=alt.Scale(zero=False))
    path = (
        alt.Chart(trace)
        .mark_line(point=alt.OverlayMarkDef(size=16), strokeWidth=1.4)
        .encode(
            x=x,
            y=y,
            color=color,
            detail="run:N",
            order="step:Q",
            tooltip=[
                alt.Tooltip("series:N"),
                alt.Tooltip("step:Q"),
                alt.Tooltip("beta:Q", format=".2f"),
                alt.Tooltip("gap:Q", format=".4f"),
            ],
        )
    )
    layers = [path]
    if not fits.empty:
        lines = (
            alt.Chart(fit_lines(fits))
            .mark_line(strokeDash=[5, 4], strokeWidth=1.6, opacity=0.9)
            .encode(
                x=x,
                y=y,
                color=color,
                detail="run:N",
                tooltip=[alt.Tooltip("series:N"), alt.Tooltip("slope:Q", format=".4f")],
            )
        )
        layers.append(lines)
    return _finish(alt.layer(*layers).properties(width=width, height=height))
