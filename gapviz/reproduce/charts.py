"""Chart builders of the experiment reports: a tidy data frame in, an Altair chart out.

Pure functions (no Streamlit, no torch), in the style of ``gapviz.charts``; the reports save
them as PNG and SVG through vl-convert (``gapviz.charts.chart_png`` / ``chart_svg``). Error bars are clipped
to each metric's catalog range and panels are titled with the catalog's name and unit (gapviz.figures).
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from gapviz import figures

PANEL_WIDTH = 250
PANEL_HEIGHT = 180
HIGHLIGHT = "#E45756"


def metric_title(key: str) -> str:
    """A panel's title: the metric's catalog name with its unit (figures.metric_axis_title)."""
    return figures.metric_axis_title(key)


def _titled(data: pd.DataFrame) -> pd.DataFrame:
    """The panel title of each row, its error bar clipped to the metric's range (figures.clip_bands)."""
    return figures.clip_bands(data).assign(title=data["metric"].map(metric_title))


def metric_vs_parameter(
    data: pd.DataFrame,
    *,
    x: str,
    x_title: str,
    log_x: bool = False,
    metrics: Sequence[str] | None = None,
    columns: int = 3,
    width: int = PANEL_WIDTH,
    height: int = PANEL_HEIGHT,
    reference: pd.DataFrame | None = None,
    points: bool = True,
) -> alt.FacetChart:
    """One panel per metric, the metric against an experiment parameter (τ, mismatch fraction...).

    ``data``: long format, columns ``x`` (named by ``x``), ``metric``, ``value``, optional
    ``series`` (one line each) and ``lo``/``hi`` (error bars, e.g. mean ± std over seeds).
    ``reference``: same columns, drawn as dashed grey points (e.g. the paper's numbers).
    ``points``: mark each measured value (off for dense curves).
    """
    if metrics is not None:
        data = data[data["metric"].isin(list(metrics))]
    order = [metric_title(m) for m in dict.fromkeys(metrics if metrics is not None else data["metric"])]
    if "series" not in data.columns:
        data = data.assign(series="gapviz")
    frames = [_titled(data).assign(source="measured")]
    if reference is not None and len(reference):
        ref = reference[reference["metric"].isin(data["metric"].unique())]
        if "series" not in ref.columns:
            ref = ref.assign(series="paper")
        frames.append(_titled(ref).assign(source="paper"))
    merged = pd.concat(frames, ignore_index=True)
    scale = alt.Scale(type="log") if log_x else alt.Scale(zero=False)
    x_enc = alt.X(f"{x}:Q", title=x_title, scale=scale)
    color = alt.Color("series:N", legend=alt.Legend(title=None, orient="bottom", labelLimit=320))
    tooltip = [alt.Tooltip("series:N"), alt.Tooltip(f"{x}:Q", format=".4g"), alt.Tooltip("value:Q", format=".4f")]
    measured = alt.Chart().transform_filter(alt.datum.source == "measured")
    layers = [
        measured.mark_line(point=alt.OverlayMarkDef(size=40) if points else False).encode(
            x=x_enc, y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)), color=color, tooltip=tooltip
        )
    ]
    if {"lo", "hi"} <= set(merged.columns):
        layers.insert(
            0, measured.mark_errorbar(ticks=True).encode(x=x_enc, y=alt.Y("lo:Q", title=None), y2="hi:Q", color=color)
        )
    if (merged["source"] == "paper").any():
        layers.append(
            alt.Chart()
            .transform_filter(alt.datum.source == "paper")
            .mark_line(point=alt.OverlayMarkDef(size=40, filled=False), strokeDash=[5, 4], color="#888888")
            .encode(x=x_enc, y=alt.Y("value:Q"), detail="series:N", tooltip=tooltip)
        )
    return (
        alt.layer(*layers, data=merged)
        .properties(width=width, height=height)
        .facet(facet=alt.Facet("title:N", title=None, sort=order, header=alt.Header(labelFontSize=13)), columns=columns)
        .resolve_scale(y="independent")
    )


def grouped_bars(
    data: pd.DataFrame,
    *,
    category: str,
    metrics: Sequence[str] | None = None,
    columns: int = 3,
    width: int = PANEL_WIDTH,
    height: int = PANEL_HEIGHT,
    baseline: str | None = None,
    sort: Sequence[str] | None = None,
) -> alt.FacetChart:
    """One panel per metric with a bar per category (mean) and its ± std error bar.

    ``data``: columns ``category`` (named by ``category``), ``metric``, ``value`` and optional
    ``lo``/``hi``; ``baseline`` names the category drawn in the highlight colour.
    """
    if metrics is not None:
        data = data[data["metric"].isin(list(metrics))]
    order = [metric_title(m) for m in dict.fromkeys(metrics if metrics is not None else data["metric"])]
    categories = list(sort) if sort is not None else list(dict.fromkeys(data[category]))
    data = _titled(data).assign(is_baseline=(data[category] == baseline) if baseline else False)
    x = alt.X(f"{category}:N", title=None, sort=categories, axis=alt.Axis(labelAngle=-40))
    color = alt.condition(alt.datum.is_baseline, alt.value(HIGHLIGHT), alt.value("#4C78A8"))
    layers = [
        alt.Chart()
        .mark_bar(opacity=0.85)
        .encode(
            x=x,
            y=alt.Y("value:Q", title=None),
            color=color,
            tooltip=[alt.Tooltip(f"{category}:N"), alt.Tooltip("value:Q", format=".4f")],
        )
    ]
    if {"lo", "hi"} <= set(data.columns):
        layers.append(
            alt.Chart().mark_errorbar(ticks=True, color="#333333").encode(x=x, y=alt.Y("lo:Q", title=None), y2="hi:Q")
        )
    return (
        alt.layer(*layers, data=data)
        .properties(width=width, height=height)
        .facet(facet=alt.Facet("title:N", title=None, sort=order, header=alt.Header(labelFontSize=13)), columns=columns)
        .resolve_scale(y="independent")
    )


def strip_by_group(
    data: pd.DataFrame,
    *,
    group: str,
    metrics: Sequence[str],
    width: int = PANEL_WIDTH,
    height: int = PANEL_HEIGHT,
    columns: int = 3,
) -> alt.FacetChart:
    """One point per run (e.g. one per seed), grouped along x (e.g. by architecture), one panel per metric.

    ``data``: columns ``group`` (named by ``group``), ``metric``, ``value``, ``seed``.
    """
    data = _titled(data[data["metric"].isin(list(metrics))])
    order = [metric_title(m) for m in metrics]
    chart = (
        alt.Chart()
        .mark_point(size=70, filled=True, opacity=0.8)
        .encode(
            x=alt.X(f"{group}:N", title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            xOffset=alt.XOffset("seed:N"),
            color=alt.Color("seed:N", legend=alt.Legend(title="seed", orient="bottom")),
            tooltip=[alt.Tooltip(f"{group}:N"), alt.Tooltip("seed:N"), alt.Tooltip("value:Q", format=".4f")],
        )
    )
    return (
        alt.layer(chart, data=data)
        .properties(width=width, height=height)
        .facet(facet=alt.Facet("title:N", title=None, sort=order, header=alt.Header(labelFontSize=13)), columns=columns)
        .resolve_scale(y="independent")
    )


def heatmap(
    data: pd.DataFrame, *, x: str, y: str, value: str, title: str = "", width: int = 220, height: int = 220
) -> alt.Chart:
    """A labelled heat map (e.g. cosine between the cones of two seeds); columns ``x``, ``y``, ``value``."""
    base = alt.Chart(data).encode(x=alt.X(f"{x}:N", title=None), y=alt.Y(f"{y}:N", title=None))
    cells = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=alt.Scale(domain=[-1, 1], scheme="redblue", reverse=True), legend=None),
        tooltip=[alt.Tooltip(f"{x}:N"), alt.Tooltip(f"{y}:N"), alt.Tooltip(f"{value}:Q", format=".3f")],
    )
    text = base.mark_text(fontSize=11).encode(text=alt.Text(f"{value}:Q", format=".2f"))
    chart = (cells + text).properties(width=width, height=height)
    return chart.properties(title=title) if title else chart
