"""Theory page: Yaras et al.'s gradient-flow sandbox (gapviz.science.theory) in the browser.

Free unit features of n pairs in d dimensions trained on the contrastive loss, some pairs
mismatched. Shows the features moving (pairs linked, a time slider that redraws in the
browser), the gap, τ and loss against t with the candidate fits (RMSE, AIC), and the checks of
the bound and the throttling that the theory experiment makes (``gapviz.science.theory``).
numpy only: no torch, no queue, no reproduce module.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from gapviz import charts
from gapviz.app.shared import common
from gapviz.science import catalog
from gapviz.science.theory import (
    DEFAULT_STEPS,
    SANDBOX_TEMPERATURES,
    GapTrend,
    SlowPhaseChecks,
    TheoryConfig,
    TheoryResult,
    fit_window,
    simulate,
    slow_phase_checks,
)

MAX_STEPS = 200_000
MAX_N = 512
MAX_D = 256
GAP_METRIC = catalog.PLUG_IN_GAP_KEY
"""The sandbox's gap (the plug-in centroid distance: exact here, no sampling), drawn with its fits."""


def snapshot_frame(result: TheoryResult) -> pd.DataFrame:
    """Long frame for charts.snapshot_scatter: every snapshot's image and caption-slot points."""
    mismatched = result.caption_of != np.arange(len(result.caption_of))
    frames = []
    for k, snap in enumerate(result.snapshots):
        n = len(snap.image_xy)
        for modality, xy, other in (("image", snap.image_xy, snap.text_xy), ("text", snap.text_xy, snap.image_xy)):
            frames.append(
                pd.DataFrame(
                    {
                        "snapshot": k,
                        "t": snap.t,
                        "x": xy[:, 0],
                        "y": xy[:, 1],
                        "x2": other[:, 0],
                        "y2": other[:, 1],
                        "modality": modality,
                        "pair": np.arange(n),
                        "mismatched": mismatched,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def fit_frames(result: TheoryResult, checks: SlowPhaseChecks) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The candidate fits of the gap on a fine log grid, and a table of their parameters, RMSE and AIC."""
    mask, _ = fit_window(result)
    t = result.t[mask]
    positive = t[t > 0]
    grid = np.logspace(math.log10(positive.min()), math.log10(t.max()), 120) if len(positive) else t
    curves = [
        pd.DataFrame({"t": grid, "metric": GAP_METRIC, "value": f.predict(grid), "fit": f.name})
        for f in checks.fits.values()
    ]
    rows = [
        {
            "fit of the gap": f.name,
            "parameters": ", ".join(f"{k} = {v:.4g}" for k, v in f.params.items()),
            "RMSE": f.rmse,
            "AIC": round(f.aic, 1),
        }
        for f in checks.fits.values()
    ]
    frame = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=["t", "metric", "value", "fit"])
    return frame, pd.DataFrame(rows)


NOT_CLOSING = {GapTrend.LEVELS_OFF: "levels off", GapTrend.RISING: "rises", GapTrend.UNCLEAR: "is not clearly closing"}
TRIVIAL_BOUND = (
    "gap·log²t never falling is trivially true when the gap does not close: it then grows with log²t "
    "whether or not the bound holds, so that check is reported as not informative."
)


def bound_verdict(checks: SlowPhaseChecks) -> str:
    """What 'gap·log²t never falls' says here: not informative unless the gap closes (it then grows trivially)."""
    if not checks.bound_informative:
        return f"not informative: the gap {NOT_CLOSING[checks.level.trend]}"
    return "never falls" if checks.bound_non_decreasing else "falls somewhere"


def checks_frame(checks: SlowPhaseChecks) -> pd.DataFrame:
    """Yaras et al.'s statements on this run's slow phase, as the theory experiment checks them."""
    return pd.DataFrame(
        [
            {
                "check": "gap·log²t over the window",
                "value": f"{checks.bound_start:.3g} → {checks.bound_end:.3g}",
                "paper": "does not fall (gap = Ω(1/log²t))",
                "here": bound_verdict(checks),
            },
            {
                "check": "slope of log|dγ/dβ| against log β",
                "value": f"{checks.throttling_slope:.3g}",
                "paper": "−1 (dγ/dβ ∝ 1/β)",
                "here": "–"
                if not math.isfinite(checks.throttling_slope)
                else ("within ±0.5 of −1" if abs(checks.throttling_slope + 1) <= 0.5 else "not near −1"),
            },
            {
                "check": "slope of log|dγ/dt| against log β",
                "value": f"{checks.dgamma_dt_slope:.3g}",
                "paper": "(for comparison)",
                "here": "",
            },
        ]
    )


def _system_inputs(defaults: TheoryConfig) -> dict[str, Any]:
    """n, d, the mismatched fraction and the temperature mode."""
    c = st.columns(4)
    modes = list(SANDBOX_TEMPERATURES)
    return {
        "n": int(c[0].number_input("pairs n", min_value=2, max_value=MAX_N, value=defaults.n, step=1, key="theory_n")),
        "d": int(
            c[1].number_input("dimensions d", min_value=2, max_value=MAX_D, value=defaults.d, step=1, key="theory_d")
        ),
        "mismatch": float(
            c[2].slider("mismatched fraction", 0.0, 1.0, float(defaults.mismatch), 0.05, key="theory_mismatch")
        ),
        "temperature": c[3].selectbox(
            "temperature",
            modes,
            index=modes.index(defaults.temperature),
            key="theory_temperature",
            help="learnable: s = exp(ν); softplus: s = softplus(ν); fixed: s = 1/τ₀ throughout",
        ),
    }


def _run_inputs(defaults: TheoryConfig) -> dict[str, Any]:
    """τ₀, steps, step size, the clamp on s and the seed."""
    c = st.columns(5)
    number = {"format": "%g"}
    return {
        "tau0": float(
            c[0].number_input(
                "initial τ₀",
                min_value=1e-4,
                max_value=100.0,
                value=float(defaults.tau0),
                step=0.1,
                key="theory_tau0",
                **number,
            )
        ),
        "steps": int(
            c[1].number_input(
                "steps", min_value=10, max_value=MAX_STEPS, value=DEFAULT_STEPS, step=1000, key="theory_steps"
            )
        ),
        "lr": float(
            c[2].number_input(
                "step size (t = step · lr)",
                min_value=1e-5,
                max_value=10.0,
                value=float(defaults.lr),
                step=0.01,
                key="theory_lr",
                **number,
            )
        ),
        "max_logit_scale": float(
            c[3].number_input(
                "max s = 1/τ",
                min_value=1.0,
                max_value=1e4,
                value=float(defaults.max_logit_scale),
                key="theory_clamp",
                help="the clamp on the logit scale s (CLIP's: 100)",
                **number,
            )
        ),
        "seed": int(c[4].number_input("seed", min_value=0, value=0, step=1, key="theory_seed")),
    }


def _form() -> TheoryConfig:
    """The sandbox settings from the form (defaults: TheoryConfig's)."""
    defaults = TheoryConfig()
    with st.form("theory_form"):
        settings = {**_system_inputs(defaults), **_run_inputs(defaults)}
        settings["snapshot_points"] = int(st.slider("snapshots of the features", 2, 40, 16, key="theory_snapshots"))
        st.form_submit_button("Simulate", type="primary")
    return TheoryConfig(**settings)


def _show(result: TheoryResult) -> None:
    """The features, the curves with their fits, the headline numbers and the checks."""
    checks = slow_phase_checks(result)
    fits, table = fit_frames(result, checks)
    for warning in result.warnings:
        st.warning(warning)
    say = st.info if checks.level.trend is GapTrend.CLOSING else st.warning
    say(common.md_escape(checks.level.sentence()))
    curves = pd.DataFrame(result.long_frame())
    is_gap = curves["metric"] == GAP_METRIC
    left, right = st.columns([2, 3])
    with left:
        common.show_chart(charts.snapshot_scatter(snapshot_frame(result)), key="theory_snapshots_chart")
        st.caption("Drag the slider under the chart to move through time. Red lines link mismatched pairs.")
    with right:
        common.show_chart(
            charts.time_curves(curves[is_gap], fits=fits, columns=1, width=470, height=260, renderer="svg"),
            key="theory_gap_chart",
        )
        st.caption(
            "Click a fit in the legend to show it alone (shift-click for several); each fit is named at its end."
        )
    common.show_chart(charts.time_curves(curves[~is_gap], columns=3, width=300, height=150), key="theory_curves")
    c = st.columns(4)
    c[0].metric("gap at t = 0", f"{result.gap[0]:.4f}")
    c[1].metric(f"gap at t = {result.t[-1]:g}", f"{result.gap[-1]:.4f}")
    c[2].metric("final τ", f"{result.tau[-1]:.4g}")
    c[3].metric("pairs matched to their caption", f"{result.matched[-1]:.0%}")
    st.dataframe(checks_frame(checks), hide_index=True, width="stretch")
    if not checks.bound_informative:
        st.caption(TRIVIAL_BOUND)
    if not table.empty:
        st.dataframe(table, hide_index=True, width="stretch")
    st.caption(
        f"Checked and fitted on {checks.window}; no fit is declared the winner (lower AIC: better on these points)."
    )


def render() -> None:
    st.title("Theory sandbox")
    st.caption(
        "Yaras et al. (2024): n pairs of free unit vectors trained by gradient flow on the contrastive loss, "
        "starting in two narrow cones. Their theorem is a lower bound, gap = Ω(1/log²t), with a growing β = 1/τ "
        "throttling the closing (dγ/dβ ∝ 1/β); the tables below check both on the run's slow phase."
    )
    cfg = _form()
    problems = cfg.validate()
    if problems:
        for problem in problems:
            st.error(common.md_escape(problem))
        return
    key = "theory:" + repr(sorted(asdict(cfg).items()))

    def compute(progress):
        return simulate(
            cfg, progress=lambda done, total: progress(f"step {done:,} of {total:,}", done / total if total else 1.0)
        )

    try:
        result = common.shared_compute(key, "Simulating", compute, kind="derived")
    except Exception as error:  # noqa: BLE001 - never a traceback
        common.show_error("simulation failed", error)
        return
    with common.guard("could not draw the simulation"):
        _show(result)


if __name__ == "__main__":
    render()
