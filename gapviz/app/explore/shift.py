"""Explore's embedding-shift section (Liang et al.): a λ slider moves both modalities along the gap
direction; the shifted scatter, its numbers and the sweep curves, redrawn as a fragment."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from gapviz import charts
from gapviz.app.explore import metric_groups, state
from gapviz.app.shared import common, frames
from gapviz.app.shared.analysis import Analysis
from gapviz.format import number


@st.fragment
def shift_fragment(result: Analysis) -> None:
    with common.guard("shift experiment failed"):
        shift_section(result)


def shift_controls(result: Analysis, sample: Any, lambdas: np.ndarray) -> tuple[float, float]:
    default_tau = 1.0 / result.logit_scale if result.logit_scale else 0.01
    c1, c2 = st.columns([3, 1])
    step = float((lambdas[-1] - lambdas[0]) / 100) or 0.01
    lam = c1.slider("λ", float(lambdas[0]), float(lambdas[-1]), 0.0, step=step, format="%.3f", key=state.LAMBDA)
    tau = c2.number_input(
        "τ for the loss",
        min_value=1e-4,
        max_value=10.0,
        value=float(round(default_tau, 4)),
        step=0.001,
        format="%g",
        key=state.TAU,
    )
    return lam, tau


def shifted_view(result: Analysis, sample: Any, lam: float, here: dict[str, float], tau: float) -> None:
    """The shifted sample on fixed axes, and the numbers at the slider's λ."""
    from gapviz.app.shared import analysis

    reference = common.shared_compute(
        f"{result.key}:shift:ref",
        "reference projection",
        lambda progress: analysis.reference_projection(sample),
        kind="derived",
    )
    coords = analysis.shifted_projection(sample, lam, reference)
    points, lines, arrow, _ = frames.scatter_frames(coords, len(sample.image), sample.index, None, max_lines=200)
    x_dom, y_dom = analysis.shift_domain(reference, result.metrics.get("gap_distance", 0.0))
    chart = charts.embedding_scatter(
        points.drop(columns=["caption"]),
        pair_lines=lines,
        arrow=arrow,
        x_domain=x_dom,
        y_domain=y_dom,
        title=f"shifted by λ = {lam:.3f}",
        width=360,
        height=360,
    )
    common.show_chart(chart, key=state.SHIFT_SCATTER)
    shown = [
        ("signed gap", "signed_gap"),
        (f"loss at τ = {tau:g}", "loss"),
        (charts.metric_title("i2t_r1"), "i2t_r1"),
        (charts.metric_title("t2i_r1"), "t2i_r1"),
    ] + ([(charts.metric_title("zero_shot"), "zero_shot")] if metric_groups.has_number(here, "zero_shot") else [])
    for start in range(0, len(shown), 2):
        for col, (label, name) in zip(st.columns(2), shown[start : start + 2], strict=False):
            col.metric(label, number(here.get(name)))
    if sample.note:
        st.caption(sample.note)


def shift_section(result: Analysis) -> None:
    from gapviz.app.shared import analysis

    st.subheader("Embedding shift")
    st.caption(
        "Move both modalities along the gap direction: image − λg, text + λg (renormalised). λ > 0 closes the "
        "gap; past about gap/2 the modalities cross."
    )
    sample = analysis.shift_sample(result)
    lambdas = analysis.shift_lambdas(sample)
    lam, tau = shift_controls(result, sample, lambdas)
    class_text, key = result.class_text, f"{result.key}:shift:{tau}"
    here = common.shared_compute(
        f"{key}:{lam}",
        f"λ = {lam:.3f}",
        lambda progress: analysis.shift_rows(sample, [lam], 1.0 / tau, class_text),
        kind="point",
    )[0]
    left, right = st.columns([2, 3])
    with left:
        shifted_view(result, sample, lam, here, tau)
    with right:
        rows = common.shared_compute(
            key,
            "Shift experiment",
            lambda progress: analysis.shift_rows(sample, lambdas, 1.0 / tau, class_text),
            kind="derived",
        )
        chart = charts.shift_curves(
            analysis.shift_frame(rows), current=here["signed_gap"], columns=2, width=230, height=150
        )
        common.show_chart(chart, key=state.SHIFT_CURVES)
