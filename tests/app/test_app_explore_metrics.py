"""Explore's whole-set metrics (gapviz.app.explore.metric_groups): headline first, the rest grouped from the catalog."""

from __future__ import annotations

import numpy as np

from gapviz.app.explore import metric_groups
from gapviz.format import metric_text
from gapviz.science import catalog
from gapviz.science.metrics import compute_all


def _values() -> dict:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(80, 8))
    return compute_all((base + 1).astype(np.float32), (base - 1 + 0.3 * rng.normal(size=(80, 8))).astype(np.float32))


def test_every_listed_metric_has_one_group_read_off_the_catalog():
    keys = metric_groups.explore_keys()
    assert set(catalog.in_view("explore")) <= set(keys) and len(set(keys)) == len(keys)
    groups = {key: metric_groups.group_of(key) for key in keys}
    assert set(groups.values()) <= set(metric_groups.GROUPS)
    assert groups["i2t_r10"] == "Retrieval" and groups["uniformity_joint"] == "Cone and uniformity"
    assert groups["gap_distance"] == "Gap and pair distance" and groups["zero_shot"] == "The model on this data"
    assert groups["modality_probe_logloss"] == "Modality probe"


def test_groups_list_numbers_to_three_significant_digits_and_leave_out_what_is_missing():
    values = {**_values(), "zero_shot": float("nan")}
    tables = metric_groups.grouped(values)
    assert "The model on this data" not in tables  # a NaN zero-shot (no classes) is no row and no empty group
    gap = tables["Gap and pair distance"].set_index("metric")["value [95% CI]"]
    assert gap["plug-in gap"] == metric_text(values, "gap_distance", significant=3)
    assert len(gap["plug-in gap"].split(" [")[0].replace("-", "").replace(".", "").lstrip("0")) == 3
    five = metric_groups.grouped(values, significant=5)["Gap and pair distance"].set_index("metric")
    assert five.loc["plug-in gap", "value [95% CI]"] == metric_text(values, "gap_distance", significant=5)


def test_headline_tiles_are_the_value_and_its_interval_below():
    values = _values()
    assert metric_groups.headline(values) == list(metric_groups.HEADLINE)
    value, interval = metric_groups.headline_parts(values, "relative_gap")
    lo, hi = values["relative_gap_ci95"]
    assert value == f"{values['relative_gap']:.3f}" and interval == f"95% CI [{lo:.3f}, {hi:.3f}]"
    assert metric_groups.headline({"relative_gap": float("nan")}) == []
