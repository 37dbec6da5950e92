"""Explore's gap anatomy (the coordinates carrying the gap, its spectrum) and the training-free fixes.

Every string shown here is gapviz's own (metric names, numbers); nothing user-typed is rendered as markup.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from gapviz import charts
from gapviz import format as fmt
from gapviz.app.explore import state
from gapviz.app.shared import common, frames, measures
from gapviz.errors import GapvizError
from gapviz.science import catalog

ANATOMY_METRICS = catalog.in_view("anatomy")
FIX_TABLE_METRICS = catalog.in_view("fix")
FIX_OPTIONS = {
    "none": "no fix",
    "centre": "centre (C3 step 1)",
    "standardise": "standardise (I0T post-hoc)",
    "ablate": "ablate the top-K gap coordinates",
}


def _fixed_metrics(result: Any, choice: str, k: int) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(before, after, split sentence): the fix fitted on a seeded half of the images, both measured on the other."""
    from gapviz.app.shared.analysis import pair_metrics
    from gapviz.science import metrics
    from gapviz.science.fixes import Fix, held_out_fix

    held = held_out_fix(Fix(choice, k if choice == "ablate" else 0), result.image, result.text, result.text_image_index)
    before = pair_metrics(held.image_before, held.text_before, held.text_image_index)[0]
    after = pair_metrics(held.image, held.text, held.text_image_index)[0]
    if result.class_text is not None and result.labels is not None:
        labels = result.labels[held.split.measured]
        before["zero_shot"] = metrics.zero_shot_accuracy(held.image_before, result.class_text, labels)
        after["zero_shot"] = metrics.zero_shot_accuracy(held.image, held.text_map(result.class_text), labels)
    return before, after, held.split.describe()


def fix_section(result: Any) -> None:
    """A training-free fix fitted on half the images, and every metric of the other half before and after it."""
    c1, c2 = st.columns([3, 1])
    choice = str(
        c1.selectbox("Training-free fix", list(FIX_OPTIONS), format_func=lambda c: FIX_OPTIONS[c], key=state.FIX)
    )
    top = max(1, result.image.shape[1] - 1)
    k = int(
        c2.number_input(
            "K", min_value=1, max_value=top, value=min(5, top), key=state.FIX_K, disabled=choice != "ablate"
        )
    )
    if choice == "none":
        st.caption(
            "Pick a fix to see every metric before and after it (the embeddings are transformed, not the model). "
            "The fix is fitted on a seeded half of the images and measured on the other half."
        )
        return
    label = f"ablate:{k}" if choice == "ablate" else choice
    try:
        before, after, split = common.shared_compute(
            f"{result.key}:fix:{label}:held-out",
            f"Applying {label}",
            lambda progress: _fixed_metrics(result, choice, k),
            kind="derived",
        )
    except (GapvizError, ValueError) as error:  # a message (too few images, ablating every coordinate)
        common.show_error(f"Cannot apply {label}", error)
        return
    st.text(f"{label}: {split}. Before and after are both measured on that held-out part.")
    st.dataframe(frames.before_after_frame(before, after, FIX_TABLE_METRICS), hide_index=True, width="stretch")
    measures.show_warnings(after)


def anatomy_view(result: Any) -> None:
    """Explore: the gap spectrum, distribution gap, shared structure and effective ranks, then the fixes."""
    from gapviz.science.anatomy import gap_spectrum
    from gapviz.science.metrics import gap_vector

    st.subheader("Gap anatomy")
    st.caption(
        "Which coordinates carry ‖c_X − c_Y‖², what remains once the centroids coincide (MMD²), how much "
        "neighbourhood structure the modalities share (mutual 10-NN) and how many directions each uses."
    )
    left, right = st.columns([3, 2])
    with left:
        spectrum = gap_spectrum(gap_vector(result.image, result.text), k=20)
        common.show_chart(charts.gap_spectrum_bars(frames.spectrum_frame(spectrum)), key=state.SPECTRUM)
    with right:
        for name in ANATOMY_METRICS:
            if name in result.metrics:
                st.text(f"{charts.metric_title(name)}: {fmt.metric_text(result.metrics, name)}")
    fix_section(result)
