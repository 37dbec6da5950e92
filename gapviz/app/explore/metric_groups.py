"""Explore's whole-set metrics: the headline numbers first, the rest grouped by what they measure.

The groups are read off the metric catalog (gapviz.science.catalog): each metric's unit, gap direction,
kind and key family place it, so a metric the catalog adds to the "explore" view lands in a group
without an edit here. No Streamlit: the page draws the frames these functions return.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from gapviz import format as fmt
from gapviz.charts import metric_title
from gapviz.science import catalog

HEADLINE = catalog.in_view("headline")
"""What Explore answers first, above the plot (the catalog's headline view): the debiased gap with its interval,
relative gap, the probe, R@1 both ways."""
SIGNIFICANT = 3
"""Significant digits Explore shows unless the reader asks for more."""
GROUPS = (
    "Gap and pair distance",
    "Cone and uniformity",
    "Retrieval",
    "Modality probe",
    "The model on this data",
)
RECALL_KS = (1, 5, 10)


def group_of(key: str) -> str:
    """The group a metric belongs to, from its catalog entry (family of its key, kind, gap direction)."""
    metric = catalog.BY_KEY[key]
    if key.startswith(("i2t_r", "t2i_r")):
        return "Retrieval"
    if key.startswith("modality_probe"):
        return "Modality probe"
    if key.startswith(("cone_", "uniformity_")):
        return "Cone and uniformity"
    if metric.kind == catalog.RECORD or metric.gap == 0:
        return "The model on this data"
    return "Gap and pair distance"


def has_number(values: Mapping[str, Any], key: str) -> bool:
    """Whether ``values`` holds a finite number for ``key`` (a NaN zero-shot without classes is left out)."""
    value = values.get(key)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def explore_keys() -> tuple[str, ...]:
    """Every metric Explore lists: the catalog's "explore" view, then every Recall@K both ways."""
    recall = tuple(f"{d}_r{k}" for d in ("i2t", "t2i") for k in RECALL_KS)
    return tuple(dict.fromkeys(catalog.in_view("explore") + recall))


def headline(values: Mapping[str, Any]) -> list[str]:
    """The headline metrics ``values`` has a number for, in HEADLINE's order."""
    return [key for key in HEADLINE if has_number(values, key)]


def grouped(values: Mapping[str, Any], significant: int = SIGNIFICANT) -> dict[str, pd.DataFrame]:
    """Group → table (metric, value [95% interval]) of every listed metric with a number; empty groups left out."""
    rows: dict[str, list[dict[str, str]]] = {group: [] for group in GROUPS}
    for key in explore_keys():
        if has_number(values, key):
            text = fmt.metric_text(values, key, significant=significant)
            rows[group_of(key)].append({"metric": metric_title(key), "value [95% CI]": text})
    return {group: pd.DataFrame(found) for group, found in rows.items() if found}


def headline_parts(values: Mapping[str, Any], key: str, significant: int = SIGNIFICANT) -> tuple[str, str]:
    """(the value, "95% CI [lo, hi]" with "(n = …)" when subsampled): a tile's big number and the line under it."""
    value, ci = values.get(key), values.get(f"{key}{catalog.CI_SUFFIX}")
    digits = fmt.cell_decimals(value, ci, significant)
    interval = fmt.interval_text(ci, digits)
    return fmt.number(value, digits), (f"95% CI {interval}" if interval else "no interval") + fmt.sample_note(
        values, key
    )
