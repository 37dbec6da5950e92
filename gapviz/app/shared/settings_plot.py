"""Compare's research views: a final metric against a setting (the papers' figures), and the gap against β.

Results against a setting: per-seed points, the mean with its 95% interval per setting value, a log
axis offered for τ and learning rates, PNG / SVG / CSV export. ``gap_distance`` against
``temperature.tau`` is Liang et al.'s Fig. 4; one point per mitigation is Yaras et al.'s Table 2.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from gapviz import charts, charts_compare, figures, setting_catalog
from gapviz.app.shared import common
from gapviz.app.shared import compare_frames as cf
from gapviz.runs.store import StoreError
from gapviz.science import catalog

DEFAULT_Y = catalog.DEFAULT_GAP_KEY
"""The metric plotted against a setting at first: what the views call the gap."""


WIDTHS = {"single column (3.5 in)": "single", "double column (7.16 in)": "double"}
"""The export widths offered, named for people → figures.COLUMN_WIDTHS_PT's key."""


def export_buttons(chart: Any, name: str, key: str, table: pd.DataFrame | None = None, caption: str = "") -> None:
    """PNG, and SVG and PDF at a journal column width (rendered by vl-convert only when clicked), and the CSV of
    the plotted data with its caption line first, when given."""
    row = st.container(horizontal=True, vertical_alignment="bottom")
    width = row.selectbox("Figure width", list(WIDTHS), key=f"{key}_width", label_visibility="collapsed")
    points = figures.COLUMN_WIDTHS_PT[WIDTHS[width]]
    files = (
        ("PNG", lambda: charts.chart_png(chart), "png", "image/png"),
        ("SVG", lambda: figures.figure_svg(charts.to_spec(chart), points), "svg", "image/svg+xml"),
        ("PDF", lambda: figures.figure_pdf(charts.to_spec(chart), points), "pdf", "application/pdf"),
    )
    suffix = "" if WIDTHS[width] == "double" else "-single"
    for label, data, ext, mime in files:
        stem = name if ext == "png" else f"{name}{suffix}"
        row.download_button(
            label, data=data, file_name=f"{stem}.{ext}", mime=mime, key=f"{key}_{ext}", on_click="ignore"
        )
    if table is not None:
        csv = figures.figure_csv(table, caption) if caption else table.to_csv(index=False)
        row.download_button(
            "CSV", data=csv, file_name=f"{name}.csv", mime="text/csv", key=f"{key}_csv", on_click="ignore"
        )


def band_choice(key: str = "compare_band") -> str:
    """The band drawn around each mean over seeds: 95% CI, SD or min–max (figures.BAND_METHODS)."""
    return st.radio(
        "Band",
        figures.BAND_METHODS,
        horizontal=True,
        key=key,
        help="95% CI: a t-interval over seeds (one run: its own measurement interval); SD: mean ± 1 SD over "
        "seeds; min–max: the lowest to the highest seed",
    )


def _axis_choices(flat: dict[str, dict[str, Any]], values: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Settings to put on x (those that vary, seed aside) and metrics to put on y (numeric table columns)."""
    settings = [k for k in cf.varying_settings(flat, ignore=("name", "seed"))]
    metrics = [
        c
        for c in values.columns
        if c not in ("run", "name", "epoch", "series")
        and not c.endswith((" epoch", " lo", " hi", " [95% CI]"))
        and pd.api.types.is_numeric_dtype(values[c])
    ]
    return settings, metrics


SERIES = "series"
"""The x choice that puts each Group-by series on the axis: one point per mitigation (Yaras et al.'s Table 2)."""


def _controls(flat: dict[str, dict[str, Any]], settings: list[str], metrics: list[str]) -> tuple[str, str, str, bool]:
    """Setting on x (or the series), metric on y, colour setting ("" for none) and whether x is on a log axis."""
    c1, c2, c3, c4 = st.columns([3, 3, 3, 1], vertical_alignment="bottom")
    choices = [*settings, SERIES]
    default_x = next((s for s in ("temperature.tau", "temperature.mode", "swap.mode") if s in settings), choices[0])
    x = c1.selectbox(
        "Setting (x)",
        choices,
        index=choices.index(default_x),
        key="compare_x",
        format_func=lambda s: "series (the Group-by settings)" if s == SERIES else setting_catalog.label(s),
    )
    y = c2.selectbox(
        "Metric (y)",
        metrics,
        index=metrics.index(DEFAULT_Y) if DEFAULT_Y in metrics else 0,
        key="compare_y",
        format_func=charts.metric_title,
    )
    color = c3.selectbox(
        "Colour by",
        ["(none)", *[s for s in settings if s != x]],
        key="compare_color",
        format_func=lambda s: s if s == "(none)" else setting_catalog.label(s),
    )
    positive = cf.is_numeric(cfg.get(x) for cfg in flat.values()) and all(
        (cfg.get(x) or 0) > 0 for cfg in flat.values()
    )
    log_x = c4.toggle(
        "log x",
        value=setting_catalog.is_log(x),
        key=f"compare_logx:{x}",
        disabled=not positive,
        help="a log axis for settings that span orders of magnitude (τ, learning rate)",
    )
    return x, y, "" if color == "(none)" else color, log_x and positive


def results_against_setting(
    flat: dict[str, dict[str, Any]], values: pd.DataFrame, value_mode: str, band: str = figures.BAND_CI
) -> None:
    """The settings plot of the selected runs (``values``: one row per run with its series, from values_table)."""
    st.subheader("Results against a setting")
    settings, metrics = _axis_choices(flat, values)
    if not settings or not metrics:
        st.caption("The selected runs share every setting (seeds aside): select runs that differ, e.g. a sweep group.")
        return
    x, y, color, log_x = _controls(flat, settings, metrics)
    series = dict(zip(values["run"], values["series"], strict=True))
    with_series = {r: {**cfg, SERIES: series.get(r, r)} for r, cfg in flat.items()}
    points = cf.settings_points(values, with_series, x, y, color)
    if points.empty:
        st.caption(f"No run has a value of {common.md_escape(catalog.short(y))}.")
        return
    summary = cf.settings_summary(points, metric=y, method=band)
    x_title = "series" if x == SERIES else figures.setting_axis_title(x)
    chart = charts_compare.settings_plot(
        points,
        summary,
        x_title=x_title,
        y_title=figures.metric_axis_title(y),
        numeric_x=cf.is_numeric(points["x"]),
        log_x=log_x,
        metric=y,
    )
    common.show_chart(chart, key="compare_settings_plot")
    varied = [s for s in (x, color) if s and s != SERIES]
    caption = figures.caption_line(varied, summary["n"], f"{catalog.label(y)}, {value_mode} value", band)
    st.caption(
        f"Diamonds and bars: the mean and its {figures.BAND_WORDS[band]}; dots: each run (seed), drawn while "
        f"n < {charts_compare.FEW_SEEDS}."
    )
    st.caption(common.md_escape(caption))
    export_buttons(
        chart, f"gapviz-{y}-vs-{x}", "settings", table=_plotted(summary, points, x, color, y), caption=caption
    )


def _plotted(summary: pd.DataFrame, points: pd.DataFrame, x: str, color: str, y: str) -> pd.DataFrame:
    """Exactly what the settings plot draws: the mean and band per setting value, then each run's value."""
    means = summary[["x", "color", "mean", "lo", "hi", "n"]].assign(kind="mean", run="")
    runs = points[["x", "color", "run", "y"]].rename(columns={"y": "mean"}).assign(kind="run")
    table = pd.concat([means, runs], ignore_index=True)[["kind", "x", "color", "run", "mean", "lo", "hi", "n"]]
    return table.rename(columns={"x": x, "color": color or "colour", "mean": y})


def gap_beta_data(run_ids: list[str], labels: dict[str, str], limit: int = 40) -> tuple[Any, Any, str]:
    """(trace, fits, message) of the gap against β for up to ``limit`` runs (RunStore.gap_trace); no trace and a
    message instead when none of the runs recorded one."""
    store = common.store()
    traces = {}
    for run_id in run_ids[:limit]:
        try:
            traces[run_id] = store.gap_trace(run_id)
        except StoreError:  # deleted meanwhile: skipped, not an error
            traces[run_id] = []
    trace = cf.trace_frame(traces, labels)
    if trace.empty:
        return None, None, "No step-level trace of β and the gap was recorded for these runs."
    if not cf.beta_moves(trace):
        return None, None, "τ is fixed in these runs, so β = 1/τ does not move: there is no gap-against-β plot."
    note = f"Showing the first {limit} of {len(run_ids)} runs." if len(run_ids) > limit else ""
    return trace, cf.log_beta_fits(trace), note


def show_gap_beta(trace: Any, fits: Any, message: str, key: str) -> None:
    """The gap-against-β chart with each run's fitted slope (or the message saying why there is none)."""
    if trace is None:
        st.caption(message)
        return
    chart = charts_compare.gap_beta_chart(trace, fits)
    common.show_chart(chart, key=f"{key}_gap_beta")
    if not fits.empty:
        st.caption("Dashed: gap = a + slope · ln β, fitted per run (dγ/dβ ∝ 1/β makes this a straight line).")
        st.dataframe(fits[["series", "run", "slope", "n"]], hide_index=True, width="stretch")
    runs = trace["run"].nunique()
    caption = f"gap against β = 1/τ at regular steps of {runs} run(s); dashed: gap = a + slope · ln β per run"
    export_buttons(chart, "gapviz-gap-vs-beta", f"{key}_gap_beta", table=trace, caption=caption)
    if message:
        st.caption(message)


def gap_against_beta(run_ids: list[str], labels: dict[str, str]) -> None:
    """Compare's section: the gap against β = 1/τ at regular steps (RunStore.gap_trace), with fitted slopes."""
    st.subheader("Gap against β = 1/τ")
    show_gap_beta(*gap_beta_data(run_ids, labels), key="compare")
