"""Altair chart builders: a data frame in, a chart out. No Streamlit, no torch.

Every builder takes tidy (long) data frames whose columns are documented on the function, so
the app, notebooks and tests build the same charts; tests inspect ``chart.to_dict()``. Charts
ask vega-embed for the canvas renderer, which keeps 10,000-point scatters responsive.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import altair as alt
import pandas as pd

from gapviz import figures
from gapviz.science import catalog

IMAGE_COLOR = "#4C78A8"
TEXT_COLOR = "#F58518"
MODALITY_DOMAIN = ["image", "text"]
MODALITY_RANGE = [IMAGE_COLOR, TEXT_COLOR]
SCATTER_SIZE = 420
CURVE_WIDTH = 260
CURVE_HEIGHT = 170
EMBED_OPTIONS = {"renderer": "canvas", "actions": {"export": True, "source": False, "compiled": False, "editor": False}}


def metric_title(name: str) -> str:
    """A metric's short label from the catalog (the column name, spaced, when it is not a metric)."""
    return catalog.short(name)


def _modality_color(legend: bool = True) -> alt.Color:
    return alt.Color(
        "modality:N",
        scale=alt.Scale(domain=MODALITY_DOMAIN, range=MODALITY_RANGE),
        legend=alt.Legend(title=None, orient="top") if legend else None,
    )


def _finish(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """Ask for the canvas renderer (vega-embed reads usermeta.embedOptions)."""
    return chart.properties(usermeta={"embedOptions": EMBED_OPTIONS})


def _axis_scale(domain: Sequence[float] | None) -> alt.Scale:
    if domain is None:
        return alt.Scale(zero=False, nice=False)
    return alt.Scale(domain=[float(domain[0]), float(domain[1])], zero=False, nice=False)


def embedding_scatter(
    points: pd.DataFrame,
    *,
    pair_lines: pd.DataFrame | None = None,
    arrow: pd.DataFrame | None = None,
    x_domain: Sequence[float] | None = None,
    y_domain: Sequence[float] | None = None,
    title: str = "",
    width: int | str = SCATTER_SIZE,
    height: int = SCATTER_SIZE,
    axis_titles: tuple[str, str] = ("component 1", "component 2"),
    legend: bool = True,
) -> alt.LayerChart:
    """Joint 2-D scatter of both modalities.

    ``points``: columns ``x``, ``y``, ``modality`` ("image" or "text"), ``caption`` (shown as
    text in the tooltip; vega-tooltip escapes it) and optionally ``pair`` (image index),
    ``label`` and ``image`` (a thumbnail data URI; the tooltip shows it as a picture).
    ``pair_lines``: ``x``, ``y``, ``x2``, ``y2``, one thin line per pair. ``arrow``: one row
    ``x``, ``y`` (text centroid) to ``x2``, ``y2`` (image centroid), drawn as the gap vector.
    Fixed ``x_domain``/``y_domain`` keep the axes still across epochs.
    """
    x_title, y_title = axis_titles
    x = alt.X("x:Q", title=x_title, scale=_axis_scale(x_domain))
    y = alt.Y("y:Q", title=y_title, scale=_axis_scale(y_domain))
    tooltip = [alt.Tooltip("modality:N")]
    for column, kind in (("pair", "Q"), ("label", "N"), ("caption", "N"), ("image", "N")):
        if column in points.columns:
            tooltip.append(alt.Tooltip(f"{column}:{kind}", title=column))
    layers: list[alt.Chart] = []
    if pair_lines is not None and len(pair_lines):
        layers.append(
            alt.Chart(pair_lines)
            .mark_rule(color="#999999", opacity=0.35, strokeWidth=0.7)
            .encode(x=x, y=y, x2="x2:Q", y2="y2:Q")
        )
    layers.append(
        alt.Chart(points)
        .mark_circle(size=22, opacity=0.7)
        .encode(x=x, y=y, color=_modality_color(legend), tooltip=tooltip)
    )
    if arrow is not None and len(arrow):
        layers.append(
            alt.Chart(arrow).mark_rule(color="#222222", strokeWidth=2.5).encode(x=x, y=y, x2="x2:Q", y2="y2:Q")
        )
        head = arrow.assign(angle=arrow["angle"] if "angle" in arrow.columns else 0.0)
        layers.append(
            alt.Chart(head)
            .mark_point(shape="triangle-up", filled=True, size=160, color="#222222", opacity=1.0)
            .encode(
                x=alt.X("x2:Q", scale=_axis_scale(x_domain)),
                y=alt.Y("y2:Q", scale=_axis_scale(y_domain)),
                angle=alt.Angle("angle:Q", scale=None),
                tooltip=[alt.Tooltip("gap:Q", title="gap (2-D)", format=".3f")] if "gap" in head.columns else [],
            )
        )
    chart = alt.layer(*layers).properties(width=width, height=height)
    if title:
        chart = chart.properties(title=title)
    return _finish(chart)


def epoch_axis(epochs: Sequence[Any]) -> alt.Axis:
    """Integer epoch ticks only (never 0.5), at most about seven of them."""
    finite = sorted({int(e) for e in epochs if isinstance(e, (int, float)) and math.isfinite(float(e))})
    if not finite:
        return alt.Axis(tickMinStep=1, format="d")
    step = max(1, math.ceil((finite[-1] - finite[0]) / 6))
    return alt.Axis(values=list(range(finite[0], finite[-1] + 1, step)), format="d", tickMinStep=1)


def x_encoding(x: str, x_title: str | None, values: Sequence[Any]) -> alt.X:
    """The x of a curve panel: epochs with integer ticks and the title "epoch" on every panel."""
    if x == "epoch":
        return alt.X("epoch:Q", title="epoch", axis=epoch_axis(values), scale=alt.Scale(nice=False, zero=False))
    return alt.X(f"{x}:Q", title=x_title or x)


def y_scale(metric: str, part: pd.DataFrame, fields: Sequence[str] = ("value", "lo", "hi", "raw")) -> alt.Scale:
    """A y scale fitted to what the panel draws, never beyond the metric's catalog range (no gap below 0)."""
    present = [f for f in fields if f in part.columns]
    domain = figures.axis_domain(metric, part[present].to_numpy(dtype=float).ravel()) if present else None
    return alt.Scale(domain=domain, nice=False, zero=False) if domain else alt.Scale(zero=False)


def panel_metrics(data: pd.DataFrame, metrics: Sequence[str] | None) -> list[str]:
    """The metrics to draw a panel for, in order: those with at least one finite value (no empty panel)."""
    order = list(dict.fromkeys(metrics if metrics is not None else data["metric"]))
    finite = data[pd.to_numeric(data["value"], errors="coerce").notna()]
    return [m for m in order if (finite["metric"] == m).any()]


def small_multiples(panels: Sequence[alt.TopLevelMixin], columns: int) -> alt.TopLevelMixin:
    """Panels side by side, ``columns`` to a row, one shared colour legend (a note when there is nothing)."""
    if not panels:
        note = pd.DataFrame({"note": ["no finite values to plot"]})
        return _finish(alt.Chart(note).mark_text(color="#888888").encode(text="note:N"))
    return _finish(alt.concat(*panels, columns=columns).resolve_scale(color="shared"))


def metric_curves(
    data: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    x: str = "epoch",
    x_title: str | None = None,
    columns: int = 3,
    width: int = CURVE_WIDTH,
    height: int = CURVE_HEIGHT,
    current: float | None = None,
) -> alt.TopLevelMixin:
    """Small multiples, one panel per metric with finite values, one line per series, each panel with its own
    y axis fitted inside the metric's range and titled with its catalog name and unit.

    ``data``: long format with columns ``x`` (default ``epoch``), ``metric``, ``value``,
    ``series``; optional ``lo``/``hi`` draw a band behind each line (clipped to the metric's range): mean ± std
    over seeds, or a run's 95% interval (``<metric>_ci95``, as frames.curves_frame gives it). NaN bounds draw
    no band. ``current`` marks an x position (e.g. the epoch on screen) with a vertical rule.
    """
    data = figures.clip_bands(data)
    legend = alt.Legend(title=None, orient="bottom", labelLimit=360, symbolOpacity=1)
    series_color = alt.Color("series:N", legend=legend)
    tooltip = [alt.Tooltip("series:N"), alt.Tooltip(f"{x}:Q"), alt.Tooltip("value:Q", format=".4f")]
    panels = []
    for metric in panel_metrics(data, metrics):
        part = data[data["metric"] == metric]
        base = alt.Chart(part).encode(x=x_encoding(x, x_title, part[x].tolist()))
        y = y_scale(metric, part)
        layers = []
        if {"lo", "hi"} <= set(part.columns) and part["lo"].notna().any():
            band = base.mark_area(opacity=0.18).encode(y=alt.Y("lo:Q", title=None, scale=y), y2="hi:Q")
            layers.append(band.encode(color=series_color))
        line = base.mark_line(point=alt.OverlayMarkDef(size=28))
        layers.append(line.encode(y=alt.Y("value:Q", title=None, scale=y), color=series_color, tooltip=tooltip))
        if current is not None:
            layers.append(alt.Chart(part).mark_rule(color="#888888", strokeDash=[4, 3]).encode(x=alt.datum(current)))
        title = alt.TitleParams(figures.metric_axis_title(metric), fontSize=12, anchor="start")
        panels.append(alt.layer(*layers).properties(width=width, height=height, title=title))
    return small_multiples(panels, columns)


def cosine_histogram(data: pd.DataFrame, *, width: int | str = 360, height: int = 180) -> alt.LayerChart:
    """Intra-modality cosine distributions (the cone effect), pre-binned.

    ``data``: columns ``modality``, ``lo``, ``hi`` (bin edges), ``density``.
    """
    base = alt.Chart(data).encode(
        x=alt.X("lo:Q", title="cosine similarity between two items of one modality", scale=alt.Scale(domain=[-1, 1])),
        y=alt.Y("density:Q", title="density", stack=None),
        color=_modality_color(),
        tooltip=[
            alt.Tooltip("modality:N"),
            alt.Tooltip("lo:Q", title="from", format=".2f"),
            alt.Tooltip("hi:Q", title="to", format=".2f"),
            alt.Tooltip("density:Q", format=".2f"),
        ],
    )
    chart = alt.layer(
        base.mark_area(interpolate="step-after", opacity=0.25),
        base.mark_line(interpolate="step-after", strokeWidth=1.5),
    ).properties(width=width, height=height)
    return _finish(chart)


def shift_curves(
    data: pd.DataFrame, *, current: float | None = None, columns: int = 4, width: int = 210, height: int = 160
) -> alt.TopLevelMixin:
    """Metrics of the embedding-shift experiment against the signed gap distance.

    ``data``: columns ``gap`` (signed distance after the shift), ``metric``, ``value``;
    ``current`` draws a rule at the gap the λ slider gives.
    """
    if "series" not in data.columns:
        data = data.assign(series="shifted embeddings")
    return metric_curves(
        data, x="gap", x_title="signed gap distance", columns=columns, width=width, height=height, current=current
    )


FIT_COLORS = ["#E45756", "#4C78A8", "#54A24B", "#B279A2", "#F58518", "#72B7B2"]
FIT_DASHES = [[6, 3], [2, 2], [10, 3, 2, 3], [14, 4], [4, 6], [1, 3]]
SIMULATION = "simulation"


def time_curves(
    data: pd.DataFrame,
    *,
    fits: pd.DataFrame | None = None,
    log_x: bool = True,
    columns: int = 2,
    width: int = 320,
    height: int = 200,
    renderer: str = "canvas",
) -> alt.FacetChart:
    """Quantities against time t (the theory sandbox), one panel each, fitted curves on top.

    ``data``: ``t``, ``metric``, ``value``. ``fits``: ``t``, ``metric``, ``value``, ``fit``
    (the formula, e.g. "a / log²t + c"). Each fit has its own colour and dash, its formula in the
    legend (click it to show that fit alone, shift-click for several) and at its line's end.
    With ``log_x`` rows at t ≤ 0 are left out. ``renderer`` "svg" keeps the labels in the page's DOM.
    """
    frames = [data.assign(curve=SIMULATION)]
    if fits is not None and len(fits):
        frames.append(fits.assign(curve="fit: " + fits["fit"]).rename(columns={"fit": "label"}))
    merged = pd.concat(frames, ignore_index=True)
    if log_x:
        merged = merged[merged["t"] > 0]
    metrics = list(dict.fromkeys(merged["metric"]))
    merged = merged.assign(title=merged["metric"].map(_panel_title))
    color, dash = _curve_styles(list(dict.fromkeys(merged["curve"])))
    shown = alt.selection_point(fields=["curve"], bind="legend")
    x = alt.X(
        "t:Q",
        title="t = step · lr (gradient-flow time" + (", log scale)" if log_x else ")"),
        scale=alt.Scale(type="log") if log_x else alt.Scale(),
        axis=alt.Axis(format="~g", labelOverlap="greedy", tickCount=5),
    )
    y_title = _axis_title(metrics[0]) if len(metrics) == 1 else None
    line = (
        alt.Chart()
        .mark_line(strokeWidth=2)
        .encode(
            x=x,
            y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False)),
            color=color,
            strokeDash=dash,
            opacity=alt.condition(shown, alt.value(1.0), alt.value(0.08)),
            tooltip=[alt.Tooltip("curve:N"), alt.Tooltip("t:Q", format=".3g"), alt.Tooltip("value:Q", format=".4f")],
        )
        .add_params(shown)
        .properties(width=width, height=height)
    )
    faceted = (
        alt.layer(line, _end_labels(color, shown), data=_with_end_labels(merged))
        .facet(
            facet=alt.Facet(
                "title:N", title=None, sort=list(dict.fromkeys(merged["title"])), header=alt.Header(labelFontSize=13)
            ),
            columns=columns,
        )
        .resolve_scale(y="independent")
    )
    return faceted.properties(usermeta={"embedOptions": {**EMBED_OPTIONS, "renderer": renderer}})


def _curve_styles(curves: list[str]) -> tuple[alt.Color, alt.StrokeDash]:
    """The simulation solid and dark, each fit its own colour and dash; the legend (formulas) only with fits."""
    legend = alt.Legend(
        title="curve (fit: formula)", orient="bottom", labelLimit=400, symbolType="stroke", symbolStrokeWidth=3
    )
    color = alt.Color(
        "curve:N",
        scale=alt.Scale(domain=curves, range=["#222222", *FIT_COLORS][: len(curves)]),
        legend=legend if len(curves) > 1 else None,
    )
    dash = alt.StrokeDash(
        "curve:N", scale=alt.Scale(domain=curves, range=[[1, 0], *FIT_DASHES][: len(curves)]), legend=None
    )
    return color, dash


def _end_labels(color: alt.Color, shown: alt.Parameter) -> alt.Chart:
    """Each fit's formula at its line's end (``label_y``: see ``_with_end_labels``), faded with its line."""
    return (
        alt.Chart()
        .transform_filter("isValid(datum.label_y)")
        .mark_text(align="left", dx=6, fontSize=11, fontWeight="bold")
        .encode(
            x="t:Q",
            y="label_y:Q",
            text="label:N",
            color=color,
            opacity=alt.condition(shown, alt.value(1.0), alt.value(0.15)),
        )
    )


def _panel_title(metric: str) -> str:
    """A panel's header: the metric's short label and unit from the catalog."""
    unit = catalog.BY_KEY[metric].unit if metric in catalog.BY_KEY else ""
    return catalog.short(metric) + (f" ({unit})" if unit else "")


def _axis_title(metric: str) -> str:
    """A value axis's title: the metric's full label (with its formula) and unit from the catalog."""
    unit = catalog.BY_KEY[metric].unit if metric in catalog.BY_KEY else ""
    return catalog.label(metric) + (f" ({unit})" if unit else "")


def _with_end_labels(merged: pd.DataFrame, spacing: float = 0.07) -> pd.DataFrame:
    """``label_y`` on each fit's last point: its end value, spread so labels sit ≥ ``spacing`` of the panel apart."""
    merged = merged.assign(label_y=float("nan"))
    ends = merged[merged["curve"] != SIMULATION].sort_values("t").groupby(["metric", "curve"], sort=False).tail(1)
    for metric, group in ends.groupby("metric"):
        values = merged.loc[merged["metric"] == metric, "value"]
        gap = spacing * max(float(values.max() - values.min()), 1e-12)
        placed: list[float] = []
        for index in group.sort_values("value").index:
            y = float(merged.at[index, "value"])
            placed.append(max(y, placed[-1] + gap) if placed else y)
            merged.at[index, "label_y"] = placed[-1]
    return merged


def snapshot_scatter(
    points: pd.DataFrame, *, width: int = 380, height: int = 380, title: str = "features (pairs linked)"
) -> alt.LayerChart:
    """Features at several times with a slider under the chart choosing the time (in the browser).

    ``points``: ``snapshot`` (0, 1, ...), ``t``, ``x``, ``y``, ``x2``, ``y2`` (the image's
    caption slot, for the pair line), ``modality``, ``pair``, ``mismatched`` (bool). The slider
    is a Vega-Lite parameter: moving it redraws in the browser, no round trip to the server.
    Axes are fixed to the range of all snapshots.
    """
    last = int(points["snapshot"].max()) if len(points) else 0
    step = alt.param(
        name="snapshot", value=last, bind=alt.binding_range(min=0, max=last, step=1, name="snapshot (time →) ")
    )
    pad = 0.05
    lo_x, hi_x = float(points[["x", "x2"]].min().min()), float(points[["x", "x2"]].max().max())
    lo_y, hi_y = float(points[["y", "y2"]].min().min()), float(points[["y", "y2"]].max().max())
    sx = alt.Scale(domain=[lo_x - pad, hi_x + pad], nice=False)
    sy = alt.Scale(domain=[lo_y - pad, hi_y + pad], nice=False)
    base = alt.Chart(points).transform_filter(alt.datum.snapshot == step)
    images = points[points["modality"] == "image"]
    lines = (
        alt.Chart(images)
        .transform_filter(alt.datum.snapshot == step)
        .mark_rule(opacity=0.6)
        .encode(
            x=alt.X("x:Q", scale=sx, title="gap direction at t = 0"),
            y=alt.Y("y:Q", scale=sy, title="main direction orthogonal to it"),
            x2="x2:Q",
            y2="y2:Q",
            color=alt.Color(
                "mismatched:N",
                scale=alt.Scale(domain=[False, True], range=["#aaaaaa", "#E45756"]),
                legend=alt.Legend(title="mismatched pair", orient="bottom"),
            ),
        )
    )
    dots = base.mark_circle(size=70, opacity=0.9).encode(
        x=alt.X("x:Q", scale=sx),
        y=alt.Y("y:Q", scale=sy),
        fill=alt.Fill(
            "modality:N",
            scale=alt.Scale(domain=MODALITY_DOMAIN, range=MODALITY_RANGE),
            legend=alt.Legend(title=None, orient="top"),
        ),
        tooltip=[
            alt.Tooltip("modality:N"),
            alt.Tooltip("pair:Q"),
            alt.Tooltip("t:Q", format=".3g"),
            alt.Tooltip("mismatched:N"),
        ],
    )
    label = (
        base.transform_aggregate(t="max(t)")
        .transform_calculate(label="'t = ' + format(datum.t, '.3g')")
        .mark_text(align="left", baseline="top", x=6, y=6, fontSize=13)
        .encode(text="label:N")
    )
    chart = alt.layer(lines, dots, label).add_params(step).properties(width=width, height=height, title=title)
    return _finish(chart)


def to_spec(chart: alt.TopLevelMixin) -> dict:
    """The Vega-Lite spec with its data inlined, without Altair's 5,000-row guard (scatters sample
    to MAX_SCATTER_PAIRS pairs, i.e. up to 10,000 rows, on purpose)."""
    with alt.data_transformers.enable("default", max_rows=None):
        return chart.to_dict()


def chart_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    """The chart as a PNG image (rendered by vl-convert, no browser)."""
    import vl_convert as vlc

    return vlc.vegalite_to_png(to_spec(chart), scale=scale)


def chart_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as SVG text (rendered by vl-convert, no browser)."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(to_spec(chart))


def gap_spectrum_bars(data: pd.DataFrame, *, width: int | str = "container", height: int = 220) -> alt.Chart:
    """The coordinates carrying the most of ‖c_X − c_Y‖², largest first (Schrodi et al.: a few carry the gap).

    ``data``: columns ``dimension``, ``difference`` (c_X − c_Y at that coordinate), ``share`` (of ‖c_X − c_Y‖²).
    """
    order = [str(d) for d in data["dimension"]]
    chart = (
        alt.Chart(
            data.assign(
                dim=data["dimension"].astype(str),
                sign=data["difference"].ge(0).map({True: "image > text", False: "text > image"}),
            )
        )
        .mark_bar()
        .encode(
            x=alt.X("dim:N", sort=order, title="coordinate (largest share first)"),
            y=alt.Y("share:Q", title="share of ‖c_X − c_Y‖²", axis=alt.Axis(format="%")),
            color=alt.Color(
                "sign:N",
                scale=alt.Scale(domain=["image > text", "text > image"], range=MODALITY_RANGE),
                legend=alt.Legend(title=None, orient="top"),
            ),
            tooltip=[
                alt.Tooltip("dimension:Q"),
                alt.Tooltip("difference:Q", format=".4f"),
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
        .properties(width=width, height=height)
    )
    return _finish(chart)
