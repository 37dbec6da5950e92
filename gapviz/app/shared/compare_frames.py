"""Pure data preparation for Compare and Live's research views: filters, grouping over seeds with 95%
intervals, last / best / at-epoch values, smoothing, results against a setting, gap against β = 1/τ.

No Streamlit, no torch: records and flat configs in, tidy data frames out (charts in gapviz.charts_compare).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from gapviz import figures, setting_catalog
from gapviz import format as fmt
from gapviz.science import catalog

VALUE_MODES = ("last", "best", "at epoch")
INTERVAL_COLUMNS = (catalog.DEFAULT_GAP_KEY, catalog.PLUG_IN_GAP_KEY)
"""Metrics whose own 95% interval (``<metric>_ci95`` in the epoch record) joins the values table: both gaps."""
CI_SUFFIX = "_ci95"
"""Epoch records may carry ``<metric>_ci95 = [lo, hi]``: that measurement's own 95% interval."""


# ---- picking runs -------------------------------------------------------------------------
def run_table(summaries: Mapping[str, Any], flat_configs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run: id, name, state, group, tags (a tuple) and every flattened config value."""
    rows = []
    for run_id, summary in summaries.items():
        row = {
            "run": run_id,
            "name": summary.name,
            "state": summary.state,
            "group": summary.group,
            "tags": tuple(summary.tags),
        }
        row.update({f"cfg:{k}": v for k, v in flat_configs.get(run_id, {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def filter_runs(
    table: pd.DataFrame,
    *,
    groups: Sequence[str] = (),
    tags: Sequence[str] = (),
    states: Sequence[str] = (),
    setting: str = "",
    values: Sequence[Any] = (),
) -> list[str]:
    """Run ids matching every filter given (an empty filter matches all): any of the groups, tags, states,
    and the setting (a flattened config key) equal to any of ``values`` (compared as text)."""
    if table.empty:
        return []
    keep = pd.Series(True, index=table.index)
    if groups:
        keep &= table["group"].isin(list(groups))
    if tags:
        wanted = set(tags)
        keep &= table["tags"].map(lambda have: bool(wanted & set(have)))
    if states:
        keep &= table["state"].isin(list(states))
    if setting and values and f"cfg:{setting}" in table.columns:
        texts = {str(v) for v in values}
        keep &= table[f"cfg:{setting}"].map(lambda v: str(v) in texts)
    return table.loc[keep, "run"].tolist()


def varying_settings(flat_configs: Mapping[str, Mapping[str, Any]], ignore: Sequence[str] = ("name",)) -> list[str]:
    """Flattened config keys whose value differs between the runs (the candidates to group and plot by)."""
    keys = sorted({k for cfg in flat_configs.values() for k in cfg} - set(ignore))
    return [k for k in keys if len({repr(cfg.get(k)) for cfg in flat_configs.values()}) > 1]


def diff_summary(diff: pd.DataFrame, shown: int = 12) -> pd.DataFrame:
    """A settings diff (rows: settings, columns: runs) as one row per setting: its distinct values and how many
    runs have each (``0.07 ×10``), for selections too wide for a column per run."""
    rows = []
    for setting, values in diff.iterrows():
        counts = values.value_counts(sort=False)
        ordered = sorted(counts.items(), key=lambda item: natural_key(str(item[0])))
        text = ", ".join(f"{value} ×{n}" for value, n in ordered[:shown]) + (" …" if len(ordered) > shown else "")
        rows.append({"setting": setting, "distinct values": len(ordered), "values (runs)": text})
    return pd.DataFrame(rows, columns=["setting", "distinct values", "values (runs)"])


def natural_key(text: str) -> tuple[int, float, str]:
    """Sort key that puts numbers (as text) in numeric order before other text."""
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def group_labels(flat_configs: Mapping[str, Mapping[str, Any]], by: Sequence[str]) -> dict[str, str]:
    """A series label per run from the settings ``by``, named by the setting catalog (``"τ = 0.07"``); equal labels
    are one series."""
    if not by:
        return {run: run for run in flat_configs}
    return {
        run: ", ".join(f"{setting_catalog.label(k)} = {_text(cfg.get(k))}" for k in by)[:160]
        for run, cfg in flat_configs.items()
    }


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else "—" if value is None else str(value)


# ---- curves -------------------------------------------------------------------------------
def long_curves(
    histories: Mapping[str, Sequence[Mapping[str, Any]]], labels: Mapping[str, str], metrics: Sequence[str]
) -> pd.DataFrame:
    """(run, series, metric, epoch, value, ci_lo, ci_hi) for every finite metric value of every run."""
    records = []
    for run_id, rows in histories.items():
        for row in rows:
            for name in metrics:
                value = row.get(name)
                if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
                    continue
                lo, hi = _ci(row.get(name + CI_SUFFIX))
                records.append((run_id, labels.get(run_id, run_id), name, int(row["epoch"]), float(value), lo, hi))
    return pd.DataFrame.from_records(records, columns=["run", "series", "metric", "epoch", "value", "ci_lo", "ci_hi"])


def _ci(raw: Any) -> tuple[float, float]:
    if isinstance(raw, (list, tuple)) and len(raw) == 2 and all(isinstance(v, (int, float)) for v in raw):
        return float(raw[0]), float(raw[1])
    return math.nan, math.nan


def smooth(frame: pd.DataFrame, weight: float, *, by: Sequence[str] = ("run", "metric")) -> pd.DataFrame:
    """Exponential moving average of ``value`` along the epochs of each run and metric (TensorBoard's
    smoothing, debiased so the first point is not pulled to zero); the raw value is kept as ``raw``."""
    if frame.empty or weight <= 0:
        return frame.assign(raw=frame["value"])
    frame = frame.sort_values([*by, "epoch"])
    smoothed = frame.groupby(list(by), sort=False)["value"].transform(lambda s: _ema(s.to_numpy(), weight))
    return frame.assign(raw=frame["value"], value=smoothed.to_numpy())


def _ema(values: np.ndarray, weight: float) -> np.ndarray:
    out = np.empty_like(values, dtype=np.float64)
    last, norm = 0.0, 0.0
    for i, value in enumerate(values):
        last = weight * last + (1 - weight) * value
        norm = weight * norm + (1 - weight)
        out[i] = last / norm
    return out


def seed_bands(
    frame: pd.DataFrame, keys: Sequence[str] = ("series", "metric", "epoch"), method: str = figures.BAND_CI
) -> pd.DataFrame:
    """Mean over the runs of each series with the chosen band as ``lo``/``hi`` (figures.band_summary: a
    t-interval over seeds, on the logit scale for proportions; one run: its own interval; or SD or min–max),
    clipped to the metric's range."""
    own = frame.rename(columns={"ci_lo": "own_lo", "ci_hi": "own_hi"})
    return figures.band_summary(own, keys, method=method)[[*keys, "value", "n", "lo", "hi", "std"]]


# ---- one value per run --------------------------------------------------------------------
def run_value(rows: Sequence[Mapping[str, Any]], metric: str, mode: str, epoch: int | None = None) -> tuple[Any, Any]:
    """(value, epoch) of one metric of one run: its last, its best (lowest where the catalog says lower
    is better, else highest) or at a given epoch; (None, None) when the run has no such value."""
    points = [
        (int(r["epoch"]), float(r[metric]))
        for r in rows
        if isinstance(r.get(metric), (int, float)) and math.isfinite(float(r[metric]))
    ]
    if not points:
        return None, None
    if mode == "at epoch":
        found = [p for p in points if p[0] == epoch]
        return (found[0][1], found[0][0]) if found else (None, None)
    if mode == "best":
        pick = min if catalog.lower_is_better(metric) else max
        at, value = pick(points, key=lambda p: p[1])
        return value, at
    return points[-1][1], points[-1][0]


def values_table(
    histories: Mapping[str, Sequence[Mapping[str, Any]]],
    names: Mapping[str, str],
    metrics: Sequence[str],
    mode: str,
    epoch: int | None = None,
) -> pd.DataFrame:
    """One row per run: run, name, and each metric's last / best / at-epoch value (plus the epoch it is from,
    and for metrics in INTERVAL_COLUMNS the 95% interval its record carries, as ``<metric> lo``/``hi``)."""
    rows = []
    for run_id, history in histories.items():
        row: dict[str, Any] = {"run": run_id, "name": names.get(run_id, run_id)}
        by_epoch = {int(r["epoch"]): r for r in history}
        for metric in metrics:
            value, at = run_value(history, metric, mode, epoch)
            if value is None:
                continue
            row[metric] = value
            if mode == "best":
                row[f"{metric} epoch"] = at
            lo, hi = _ci(by_epoch[at].get(metric + CI_SUFFIX)) if metric in INTERVAL_COLUMNS else (math.nan, math.nan)
            if math.isfinite(lo) and math.isfinite(hi):
                row[f"{metric} lo"], row[f"{metric} hi"] = lo, hi
                row[f"{metric} [95% CI]"] = fmt.metric_text(by_epoch[at], metric, 3)  # "≈ 0" under the null floor
        if mode != "best":
            row["epoch"] = epoch if mode == "at epoch" else max((int(r["epoch"]) for r in history), default=None)
        rows.append(row)
    return pd.DataFrame(rows)


def display_columns(table: pd.DataFrame) -> pd.DataFrame:
    """The values table with catalog labels for headers (``plug-in gap [95% CI]``), for people; CSVs keep keys."""
    return table.rename(columns=catalog.short)


# ---- results against a setting ------------------------------------------------------------
def settings_points(
    values: pd.DataFrame, flat_configs: Mapping[str, Mapping[str, Any]], x: str, metric: str, color: str = ""
) -> pd.DataFrame:
    """One point per run (a seed): the setting ``x``, the metric's value, the ``color`` setting's value, and the
    value's own interval (``ci_lo``/``ci_hi``) when the values table carries one (``<metric> lo``/``hi``)."""
    columns = ["run", "x", "y", "color", "ci_lo", "ci_hi"]
    if values.empty or metric not in values:
        return pd.DataFrame(columns=columns)
    rows = [
        {
            "run": r["run"],
            "x": flat_configs[r["run"]].get(x),
            "y": r[metric],
            "color": _text(flat_configs[r["run"]].get(color)) if color else "all runs",
            "ci_lo": r.get(f"{metric} lo", math.nan),
            "ci_hi": r.get(f"{metric} hi", math.nan),
        }
        for _, r in values.iterrows()
        if r.get(metric) is not None and not pd.isna(r.get(metric))
    ]
    return pd.DataFrame(rows, columns=columns)


def settings_summary(points: pd.DataFrame, metric: str = "", method: str = figures.BAND_CI) -> pd.DataFrame:
    """Mean of y per (x, color) with the chosen band (figures.band_summary; a single run's CI is its own
    measurement interval when it has one, else lo = hi = its value), clipped to ``metric``'s range."""
    frame = points.rename(columns={"y": "value", "ci_lo": "own_lo", "ci_hi": "own_hi"})
    out = figures.band_summary(frame, ["x", "color"], metric=metric, method=method)
    out["lo"], out["hi"] = out["lo"].fillna(out["value"]), out["hi"].fillna(out["value"])
    return out.rename(columns={"value": "mean"})[["x", "color", "mean", "lo", "hi", "n", "std"]]


def is_numeric(values: Iterable[Any]) -> bool:
    """Whether a setting's values are all numbers (bools are choices), so the plot gets a numeric axis."""
    items = [v for v in values if v is not None]
    return bool(items) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items)


# ---- gap against beta ---------------------------------------------------------------------
def trace_frame(traces: Mapping[str, Sequence[Mapping[str, Any]]], labels: Mapping[str, str]) -> pd.DataFrame:
    """(run, series, step, beta, gap) from each run's ``RunStore.gap_trace`` rows, finite β > 0 only."""
    records = [
        (run_id, labels.get(run_id, run_id), int(row.get("step", 0)), float(row["beta"]), float(row["gap_distance"]))
        for run_id, rows in traces.items()
        for row in rows
        if _finite(row.get("beta")) and float(row["beta"]) > 0 and _finite(row.get("gap_distance"))
    ]
    return pd.DataFrame.from_records(records, columns=["run", "series", "step", "beta", "gap"])


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(float(value))


def beta_moves(trace: pd.DataFrame, tolerance: float = 1e-6) -> bool:
    """Whether β = 1/τ changes within any run of the trace (a fixed-τ run's gap-against-β is a vertical line)."""
    if trace.empty:
        return False
    spread = trace.assign(log_beta=np.log(trace["beta"])).groupby("run")["log_beta"].agg(np.ptp)
    return bool((spread > tolerance).any())


def log_beta_fits(trace: pd.DataFrame) -> pd.DataFrame:
    """Per run, the least-squares line gap = a + slope · ln β (dγ/dβ ∝ 1/β makes it straight), with its
    points along the observed β range for drawing; runs whose β does not move get no fit."""
    rows = []
    for (run_id, series), part in trace.groupby(["run", "series"], sort=False):
        log_beta = np.log(part["beta"].to_numpy())
        if len(part) < 3 or np.ptp(log_beta) < 1e-6:
            continue
        slope, intercept = np.polyfit(log_beta, part["gap"].to_numpy(), 1)
        rows.append(
            {
                "run": run_id,
                "series": series,
                "slope": float(slope),
                "intercept": float(intercept),
                "beta_lo": float(part["beta"].min()),
                "beta_hi": float(part["beta"].max()),
                "n": len(part),
            }
        )
    return pd.DataFrame(rows, columns=["run", "series", "slope", "intercept", "beta_lo", "beta_hi", "n"])
