"""Measurement views several pages call in one line: warnings and Live's epoch row.

Every string shown here is gapviz's own (metric names, numbers); nothing user-typed is rendered as markup.
"""

from __future__ import annotations

from typing import Any, Mapping

import streamlit as st

from gapviz import charts
from gapviz import format as fmt
from gapviz.science import catalog


def show_warnings(values: Mapping[str, Any]) -> None:
    """Collapse and null-floor warnings as plain text boxes (one line each)."""
    for line in fmt.warnings(values):
        st.warning(line, icon="⚠️")


def epoch_row(values: Mapping[str, Any]) -> None:
    """Live: the shown epoch's gaps (debiased and plug-in) and R@1 both ways with their 95% intervals."""
    shown = catalog.in_view("live")
    for col, key in zip(st.columns(len(shown)), shown, strict=True):
        col.metric(charts.metric_title(key), fmt.metric_text(values, key, digits=3), help=catalog.help_text(key))
    show_warnings(values)
