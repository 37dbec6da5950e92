"""Publication rules every chart and report shares: bands over seeds (95% CI, SD or min–max), bands and axes
held inside each metric's catalog range, axis titles with symbols and units, caption lines, and export
of a chart as SVG and PDF at journal column widths with the CSV of exactly what it plots.

Pure functions (no Streamlit): frames in, frames, text or bytes out. The ranges, labels and units come from
gapviz.science.catalog and gapviz.setting_catalog, never typed here.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from gapviz import setting_catalog
from gapviz.science import catalog

BAND_CI = "95% CI"
BAND_SD = "SD"
BAND_RANGE = "min–max"
BAND_METHODS = (BAND_CI, BAND_SD, BAND_RANGE)
"""The band a figure draws around a mean over seeds: what a reader picks, in the order offered."""
BAND_WORDS = {
    BAND_CI: "95% t-interval over seeds (one run: its own 95% interval)",
    BAND_SD: "SD over seeds (mean ± 1 SD)",
    BAND_RANGE: "min–max over seeds",
}
"""How each band method reads in a caption."""
COLUMN_WIDTHS_PT = {"single": 252, "double": 516}
"""Journal column widths in points: single column 3.5 in, double column 7.16 in."""
LOGIT_EPS = 1e-4
"""Proportions of exactly 0 or 1 are moved this far inside (0, 1) before the logit (as reproduce.stats does)."""
UNIT_WORDS = {"fraction": "fraction", "cosine": "cosine", "nats": "nats", "rank": "rank", "dimensions": "dims"}
"""A catalog unit as an axis title prints it (rows and unitless print nothing)."""


# ---- ranges -------------------------------------------------------------------------------
def metric_range(key: str) -> tuple[float, float]:
    """(lo, hi) a metric can take from the catalog, ±inf for an unbounded end or an unknown key."""
    entry = catalog.BY_KEY.get(key)
    rng = entry.range if entry is not None else None
    low, high = rng if rng is not None else (None, None)
    return (-math.inf if low is None else float(low), math.inf if high is None else float(high))


def clip_bands(
    frame: pd.DataFrame, metric: str | None = None, columns: Sequence[str] = ("lo", "hi"), metric_column: str = "metric"
) -> pd.DataFrame:
    """The frame with its band columns clipped to each row's metric range (``metric_column``, or ``metric``):
    the one place a gap band stops at 0 and a recall band at [0, 1]."""
    present = [c for c in columns if c in frame.columns]
    if frame.empty or not present or (metric is None and metric_column not in frame.columns):
        return frame
    keys = pd.Series(metric, index=frame.index) if metric is not None else frame[metric_column].astype(str)
    bounds = keys.map(metric_range)
    low, high = bounds.map(lambda b: b[0]).astype(float), bounds.map(lambda b: b[1]).astype(float)
    out = frame.copy()
    for column in present:
        out[column] = pd.to_numeric(out[column], errors="coerce").clip(lower=low, upper=high)
    return out


def axis_domain(key: str, values: Iterable[Any], pad: float = 0.05) -> list[float] | None:
    """A y (or x) domain fitted to the finite ``values`` with a little padding, never beyond the metric's range
    (None when there is nothing finite to fit)."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(float(v))]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    margin = (high - low) * pad or max(abs(high) * pad, 1e-3)
    bound_lo, bound_hi = metric_range(key)
    return [max(low - margin, bound_lo), min(high + margin, bound_hi)]


def log_domain(values: Iterable[Any], pad: float = 0.08) -> list[float] | None:
    """A log-axis domain fitted to the finite positive ``values`` (β of 14–17 is not drawn on 10–100)."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(float(v)) and v > 0]
    if not finite:
        return None
    low, high = math.log(min(finite)), math.log(max(finite))
    margin = (high - low) * pad or 0.02
    return [math.exp(low - margin), math.exp(high + margin)]


# ---- titles and captions ------------------------------------------------------------------
def metric_axis_title(key: str) -> str:
    """A metric's axis title: its symbol or short name from the catalog and its unit (``R@1 image→text
    (fraction)``, ``gap ‖μ_I − μ_T‖ (debiased)``)."""
    entry = catalog.BY_KEY.get(key)
    unit = UNIT_WORDS.get(entry.unit, "") if entry is not None else ""
    name = catalog.axis_name(key)
    return f"{name} ({unit})" if unit else name


def setting_axis_title(path: str) -> str:
    """A setting's axis title from the setting catalog (``τ``), never its dotted path."""
    return setting_catalog.axis_title(path)


def n_text(counts: Iterable[Any]) -> str:
    """``n = 2 per point`` or ``n = 1–3 per point`` from the runs behind each plotted point."""
    ns = sorted({int(n) for n in counts if isinstance(n, (int, float, np.integer)) and not pd.isna(n)})
    if not ns:
        return "n = 0"
    return f"n = {ns[0]} per point" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]} per point"


def band_caption(method: str, counts: Iterable[Any]) -> str:
    """The caption under a chart: which band and n (``band: 95% t-interval over seeds …, n = 2 per point``)."""
    return f"band: {BAND_WORDS[method]}, {n_text(counts)}"


def caption_line(settings: Sequence[str], counts: Iterable[Any], estimator: str, method: str) -> str:
    """One line saying what a figure shows: settings varied, seeds per point, estimator and interval method."""
    varied = ", ".join(setting_axis_title(s) for s in settings) or "none"
    return f"settings varied: {varied}; seeds: {n_text(counts)}; estimator: {estimator}; {band_caption(method, [])}"


# ---- bands over seeds ---------------------------------------------------------------------
def _is_proportion(key: Any) -> bool:
    entry = catalog.BY_KEY.get(str(key))
    return entry is not None and entry.range == (0.0, 1.0) and entry.unit == "fraction"


def _t_interval(frame: pd.DataFrame, keys: Sequence[str], out: pd.DataFrame, value: str, metric: pd.Series) -> None:
    """Adds ci_lo/ci_hi: a t-interval over seeds, on the logit scale for proportions (so recall stays in [0, 1])."""
    from gapviz.reproduce.stats import t_quantile  # the one seed t-interval; scipy only when drawn

    proportion = metric.map(_is_proportion)
    clipped = frame[value].clip(LOGIT_EPS, 1 - LOGIT_EPS)
    scaled = pd.Series(np.where(proportion, np.log(clipped / (1 - clipped)), frame[value]), index=frame.index)
    parts = scaled.groupby([frame[k] for k in keys], sort=True).agg(["mean", "std"]).reset_index(drop=True)
    quantile = out["n"].map(lambda n: t_quantile(n) if n > 1 else 0.0)
    half = parts["std"].fillna(0.0) / np.sqrt(out["n"]) * quantile
    lo, hi = parts["mean"] - half, parts["mean"] + half
    on_logit = out["_metric"].map(_is_proportion)
    out["ci_lo"] = np.where(on_logit, np.minimum(1 / (1 + np.exp(-lo)), out["value"]), lo)
    out["ci_hi"] = np.where(on_logit, np.maximum(1 / (1 + np.exp(-hi)), out["value"]), hi)


def band_summary(
    frame: pd.DataFrame, keys: Sequence[str], *, value: str = "value", metric: str | None = None, method: str = BAND_CI
) -> pd.DataFrame:
    """Mean over the runs of each group with all three bands (``ci_lo``/``ci_hi``, ``sd_lo``/``sd_hi``,
    ``min``/``max``) and the chosen one as ``lo``/``hi``, every band clipped to the metric's range.

    ``frame``: one row per run and group; its metric is its ``metric`` column or ``metric``. Optional
    ``own_lo``/``own_hi`` (a run's own 95% interval, NaN when it has none) are the CI of a group of one run."""
    columns = [*keys, "value", "n", "std", "ci_lo", "ci_hi", "sd_lo", "sd_hi", "min", "max", "lo", "hi"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    metric_of = frame["metric"].astype(str) if metric is None else pd.Series(metric, index=frame.index)
    grouped = frame.assign(_metric=metric_of).groupby(list(keys), sort=True)
    out = grouped[value].agg(value="mean", n="count", std="std", min="min", max="max").reset_index()
    out["_metric"] = grouped["_metric"].first().to_numpy()
    _t_interval(frame, keys, out, value, metric_of)
    sd = out["std"].fillna(0.0)
    out["sd_lo"], out["sd_hi"] = out["value"] - sd, out["value"] + sd
    if {"own_lo", "own_hi"} <= set(frame.columns):
        own = grouped[["own_lo", "own_hi"]].first().reset_index(drop=True)
        one = out["n"] == 1  # no interval of its own: none (NaN), not a zero-width one
        out.loc[one, "ci_lo"], out.loc[one, "ci_hi"] = own.loc[one, "own_lo"], own.loc[one, "own_hi"]
    source = {BAND_CI: ("ci_lo", "ci_hi"), BAND_SD: ("sd_lo", "sd_hi"), BAND_RANGE: ("min", "max")}[method]
    out["lo"], out["hi"] = out[source[0]], out[source[1]]
    bands = ("ci_lo", "ci_hi", "sd_lo", "sd_hi", "min", "max", "lo", "hi")
    return clip_bands(out, None, bands, metric_column="_metric")[columns]


# ---- export -------------------------------------------------------------------------------
def _svg_size(svg: str) -> tuple[float, float]:
    size = [re.search(rf'<svg[^>]*?\s{attr}="([\d.]+)', svg) for attr in ("width", "height")]
    return (float(size[0].group(1)), float(size[1].group(1))) if size[0] and size[1] else (0.0, 0.0)


def _scaled(node: Any, factor: float) -> Any:
    """The spec with every panel's numeric width and height times ``factor`` (fonts kept)."""
    if isinstance(node, list):
        return [_scaled(item, factor) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _scaled(v, factor) for k, v in node.items() if k not in ("data", "datasets")}
    for key in ("width", "height"):
        if isinstance(node.get(key), (int, float)) and not isinstance(node.get(key), bool):
            out[key] = max(40, round(node[key] * factor))
    return {**node, **out}


def sized_spec(spec: dict, width_pt: float, rounds: int = 3) -> dict:
    """The spec laid out again ``width_pt`` wide (1 px = 1 pt): panels shrink or grow, text keeps its size, so
    a single-column figure stays readable when printed."""
    import vl_convert as vlc

    for _ in range(rounds):
        width, _height = _svg_size(vlc.vegalite_to_svg(spec))
        if width <= 0 or abs(width - width_pt) < 4:
            break
        spec = _scaled(spec, width_pt / width)
    return spec


def figure_svg(spec: dict, width_pt: float, unit: str = "pt") -> str:
    """A chart's Vega-Lite spec (charts.to_spec) as SVG ``width_pt`` points wide (sized_spec, then exact)."""
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(sized_spec(spec, width_pt))
    width, height = _svg_size(svg)
    if width <= 0:
        return svg
    svg = re.sub(r'(<svg[^>]*?)\swidth="[\d.]+"', rf'\1 width="{width_pt:g}{unit}"', svg, count=1)
    svg = re.sub(r'(<svg[^>]*?)\sheight="[\d.]+"', rf'\1 height="{height * width_pt / width:.1f}{unit}"', svg, count=1)
    return (
        svg
        if "viewBox" in svg[: svg.index(">")]
        else svg.replace("<svg", f'<svg viewBox="0 0 {width:g} {height:g}"', 1)
    )


def figure_pdf(spec: dict, width_pt: float) -> bytes:
    """A chart's Vega-Lite spec as PDF ``width_pt`` points wide (vl-convert, no browser)."""
    import vl_convert as vlc

    return vlc.svg_to_pdf(figure_svg(spec, width_pt, unit=""))  # a unitless SVG length is one PDF point


def figure_csv(table: pd.DataFrame, caption: str) -> str:
    """The plotted data as CSV, its caption line first as a ``#`` comment (pandas reads it with comment='#')."""
    return f"# {caption}\n" + table.to_csv(index=False)
