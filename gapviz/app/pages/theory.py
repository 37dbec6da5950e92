"""Theory page: Yaras et al.'s gradient-flow sandbox (gapviz.science.theory) in the browser.

Free unit features of n pairs in d dimensions trained on the contrastive loss, some pairs
mismatched. Shows the features moving (pairs linked, a time slider that redraws in the
browser) and the gap, τ and loss against t with the a / log(b·t + e)² and exponential fits.
numpy only: no torch, no queue.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pandas as pd
import streamlit as st

from gapviz import charts
from gapviz.app import common

MAX_STEPS = 200_000
MAX_N = 512
MAX_D = 256


def snapshot_frame(result) -> pd.DataFrame:
    """Long frame for charts.snapshot_scatter: every snapshot's image and caption-slot points."""
    mismatched = result.caption_of != np.arange(len(result.caption_of))
    frames = []
    for k, snap in enumerate(result.snapshots):
        n = len(snap.image_xy)
        for modality, xy, other in (("image", snap.image_xy, snap.text_xy), ("text", snap.text_xy, snap.image_xy)):
            frames.append(pd.DataFrame({
                "snapshot": k, "t": snap.t, "x": xy[:, 0], "y": xy[:, 1], "x2": other[:, 0], "y2": other[:, 1],
                "modality": modality, "pair": np.arange(n), "mismatched": mismatched,
            }))
    return pd.concat(frames, ignore_index=True)


def fit_window(result) -> tuple[np.ndarray, str]:
    """The records the gap is fitted on (the experiment's own choice), and a sentence saying which."""
    from gapviz.reproduce.experiments.theory import fit_window as experiment_fit_window

    mask = experiment_fit_window(result)
    if np.array_equal(mask, result.slow_phase()):
        return mask, f"fitted on the slow phase, t ≥ {result.t[mask][0]:.3g} (after every pair is matched)"
    return mask, "fitted on the whole run (the pairs never settled into a slow phase)"


def fit_frames(result) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Fitted gap curves on a fine log grid, a table of their parameters and quality, and which
    records were fitted."""
    from gapviz.science.theory import fit_exponential, fit_inverse_log_squared

    mask, window = fit_window(result)
    t, gap = result.t[mask], result.gap[mask]
    rows, curves = [], []
    positive = t[t > 0]
    grid = np.logspace(math.log10(positive.min()), math.log10(t.max()), 120) if len(positive) else t
    for fit_fn in (fit_inverse_log_squared, fit_exponential):
        try:
            fit = fit_fn(t, gap)
        except ValueError:
            continue
        curves.append(pd.DataFrame({"t": grid, "metric": "gap_distance", "value": fit.predict(grid), "fit": fit.name}))
        rows.append({"fit of the gap": fit.name, **{k: round(v, 5) for k, v in fit.params.items()}, "R²": round(fit.r2, 4), "RMSE": fit.rmse})
    frame = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=["t", "metric", "value", "fit"])
    return frame, pd.DataFrame(rows), window


def render() -> None:
    from gapviz.science.theory import DEFAULT_STEPS, SANDBOX_TEMPERATURES, TheoryConfig, simulate

    st.title("Theory sandbox")
    st.caption(
        "Yaras et al. (2024): n pairs of free unit vectors trained by gradient flow on the contrastive loss, starting in "
        "two narrow cones. With mismatched pairs and a learnable temperature, τ keeps falling and the gap closes only "
        "like 1/log(t)²; with a fixed temperature it closes much faster."
    )
    defaults = TheoryConfig()
    with st.form("theory_form"):
        c = st.columns(4)
        n = c[0].number_input("pairs n", min_value=2, max_value=MAX_N, value=defaults.n, step=1, key="theory_n")
        d = c[1].number_input("dimensions d", min_value=2, max_value=MAX_D, value=defaults.d, step=1, key="theory_d")
        mismatch = c[2].slider("mismatched fraction", 0.0, 1.0, float(defaults.mismatch), 0.05, key="theory_mismatch")
        temperature = c[3].selectbox("temperature", list(SANDBOX_TEMPERATURES), index=list(SANDBOX_TEMPERATURES).index(defaults.temperature), key="theory_temperature",
                                     help="learnable: s = exp(ν); softplus: s = softplus(ν); fixed: s = 1/τ₀ throughout")
        c = st.columns(4)
        tau0 = c[0].number_input("initial τ₀", min_value=1e-4, max_value=100.0, value=float(defaults.tau0), step=0.1, format="%g", key="theory_tau0")
        steps = c[1].number_input("steps", min_value=10, max_value=MAX_STEPS, value=DEFAULT_STEPS, step=1000, key="theory_steps")
        lr = c[2].number_input("step size (t = step · lr)", min_value=1e-5, max_value=10.0, value=float(defaults.lr), step=0.01, format="%g", key="theory_lr")
        seed = c[3].number_input("seed", min_value=0, value=0, step=1, key="theory_seed")
        snapshots = st.slider("snapshots of the features", 2, 40, 16, key="theory_snapshots")
        st.form_submit_button("Simulate", type="primary")

    cfg = TheoryConfig(n=int(n), d=int(d), mismatch=float(mismatch), temperature=temperature, tau0=float(tau0), steps=int(steps),
                       lr=float(lr), seed=int(seed), snapshot_points=int(snapshots))
    problems = cfg.validate()
    if problems:
        for problem in problems:
            st.error(common.md_escape(problem))
        return
    key = "theory:" + repr(sorted(asdict(cfg).items()))

    def compute(progress):
        return simulate(cfg, progress=lambda done, total: progress(f"step {done:,} of {total:,}", done / total if total else 1.0))

    try:
        result = common.shared_compute(key, "Simulating", compute, kind="derived")
    except Exception as error:  # noqa: BLE001 - never a traceback
        common.show_error("simulation failed", error)
        return

    with common.guard("could not draw the simulation"):
        columns = result.long_frame() if hasattr(result, "long_frame") else result.to_frame_dict()
        curves = pd.DataFrame(columns)
        fits, table, window = fit_frames(result)
        for warning in getattr(result, "warnings", []) or []:
            st.warning(warning)
        left, right = st.columns([2, 3])
        with left:
            common.show_chart(charts.snapshot_scatter(snapshot_frame(result)), key="theory_snapshots_chart")
            st.caption("Drag the slider under the chart to move through time. Red lines link mismatched pairs.")
        with right:
            common.show_chart(charts.time_curves(curves, fits=fits, columns=2, width=250, height=170), key="theory_curves")
        c = st.columns(4)
        c[0].metric("gap at t = 0", f"{result.gap[0]:.4f}")
        c[1].metric(f"gap at t = {result.t[-1]:g}", f"{result.gap[-1]:.4f}")
        c[2].metric("final τ", f"{result.tau[-1]:.4g}")
        c[3].metric("pairs matched to their caption", f"{result.matched[-1]:.0%}")
        if not table.empty:
            st.dataframe(table, hide_index=True, width="stretch")
            st.caption(window)


if __name__ == "__main__":
    render()
