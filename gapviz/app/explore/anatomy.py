"""Explore's gap anatomy: the coordinates carrying the gap, its spectrum, what remains once the centroids coincide.

The training-free fixes live in one place, the comparison (gapviz.app.explore.compare: "The same embeddings
after a training-free fix"), which draws both layouts and every metric's paired difference.

Every string shown here is gapviz's own (metric names, numbers); nothing user-typed is rendered as markup.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from gapviz import charts
from gapviz import format as fmt
from gapviz.app.explore import metric_groups, state
from gapviz.app.shared import common, frames
from gapviz.science import catalog

ANATOMY_METRICS = catalog.in_view("anatomy")


def anatomy_view(result: Any) -> None:
    """Explore: the gap spectrum, distribution gap, shared structure and effective ranks (NaN ones left out)."""
    from gapviz.science.anatomy import gap_spectrum
    from gapviz.science.projection import unit_mean

    st.subheader("Gap anatomy")
    st.caption(
        "Which coordinates carry ‖c_X − c_Y‖², what remains once the centroids coincide (MMD²), how much "
        "neighbourhood structure the modalities share (mutual 10-NN) and how many directions each uses."
    )
    left, right = st.columns([3, 2])
    with left:
        gap = common.shared_compute(
            f"{result.key}:gap-vector",
            "Gap vector",
            lambda progress: unit_mean(result.image) - unit_mean(result.text),  # chunked: a mapped set is not copied
            kind="derived",
        )
        spectrum = gap_spectrum(gap, k=20)
        common.show_chart(charts.gap_spectrum_bars(frames.spectrum_frame(spectrum)), key=state.SPECTRUM)
    with right:
        for name in ANATOMY_METRICS:
            if metric_groups.has_number(result.metrics, name):
                text = fmt.metric_text(result.metrics, name, significant=state.digits())
                st.text(f"{charts.metric_title(name)}: {text}")
    st.caption(
        "Training-free fixes (centre, standardise, ablate the top-K gap coordinates) are in the comparison above: "
        "pick “The same embeddings after a training-free fix” as the second source."
    )
