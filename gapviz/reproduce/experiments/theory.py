"""The gradient-flow sandbox (Yaras et al. 2024, Theorem 3.2 and Fig. 1), via :mod:`gapviz.science.theory`.

Free unit features of n pairs trained by gradient flow on the contrastive loss, from two narrow
cones, with learnable s = exp(ν), softplus s = softplus(ν) or a fixed temperature, with and
without mismatched pairs. No training runs: every scale simulates in this process (seconds).
The gap's slow phase (after every pair is matched, ``TheoryResult.slow_phase``) is fitted with
a / log(b·t + e)² and with a·exp(−b·t), the same fits the Theory page shows (``fit_gap``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gapviz.reproduce.experiments.base import PlannedRun, RunResults, Scale
from gapviz.science.theory import DEFAULT_MISMATCH, SANDBOX_TEMPERATURES, TheoryConfig, TheoryResult, fit_exponential, fit_inverse_log_squared, simulate

NAME = "theory"
TITLE = "Theory sandbox: how fast the gap closes"
CLAIM = (
    "With a learnable temperature s = exp(ν) and mismatched pairs, τ keeps falling and the gap closes only like "
    "a / log(t)²: that curve fits the gap better than an exponential; with a fixed temperature the gap closes "
    "(exponentially) to zero."
)
PAPER = (
    "Yaras et al. 2024, Theorem 3.2: with mismatched pairs and learnable temperature the gap closes no faster than "
    "Ω(1/log² t), because the growing β = exp(ν) throttles it ((dγ/dt)/(dβ/dt) = Θ(1/β)); Fig. 1 shows the slow "
    "closing in a 2-D/3-D sandbox."
)
NOTE = (
    "The sandbox is the same at every scale (free features, plain gradient descent); `paper` only takes more "
    "pairs and dimensions. Without mismatch the learnable run also closes slowly here: once every pair is matched "
    "nothing stops s from growing, so τ falls and throttles the gap just the same."
)

MISMATCHES = (0.0, DEFAULT_MISMATCH)
CLAIM_RUN = ("learnable", DEFAULT_MISMATCH)
"""The run whose gap curve must be fitted better by a / log(t)² than by an exponential."""
CLOSED_GAP = 0.05
"""A fixed-τ run 'closes the gap' when its final gap is below this."""
MIN_FIT_POINTS = 5
SCALE_SETTINGS: dict[str, dict[str, Any]] = {
    "tiny": {"steps": 20_000},
    "small": {},
    "paper": {"n": 64, "d": 32, "steps": 200_000, "lr": 0.005},
}
"""TheoryConfig changes per scale (small: the sandbox's defaults, n = 16 pairs in d = 8)."""


def plan(scale: Scale, overrides: Mapping[str, Any] | None = None) -> list[PlannedRun]:
    """No training runs: the sandbox is simulated when the report is written."""
    return []


def configs(scale: Scale) -> list[TheoryConfig]:
    return [
        TheoryConfig(temperature=temperature, mismatch=mismatch, **SCALE_SETTINGS[scale]).check()
        for temperature in SANDBOX_TEMPERATURES
        for mismatch in MISMATCHES
    ]


def fit_window(result: TheoryResult) -> np.ndarray:
    """The records the gap is fitted on: its slow phase when it has enough points, else the whole run."""
    mask = result.slow_phase()
    return mask if int(mask.sum()) >= MIN_FIT_POINTS else result.t > 0


def fit_gap(result: TheoryResult) -> dict[str, Any]:
    """Both fits of the gap over ``fit_window``: name, parameters, R², RMSE, and which fits better."""
    mask = fit_window(result)
    out: dict[str, Any] = {"fit_from_t": float(result.t[mask][0]) if mask.any() else None, "points": int(mask.sum())}
    fits = {}
    for label, fit_fn in (("inverse_log_squared", fit_inverse_log_squared), ("exponential", fit_exponential)):
        try:
            fits[label] = fit_fn(result.t[mask], result.gap[mask])
        except ValueError:
            continue
    out["fits"] = {k: {"name": f.name, "params": f.params, "r2": f.r2, "rmse": f.rmse} for k, f in fits.items()}
    if len(fits) == 2:
        out["better"] = min(fits, key=lambda k: fits[k].rmse)
        out["rmse_ratio_exp_over_ils"] = fits["exponential"].rmse / max(fits["inverse_log_squared"].rmse, 1e-300)
    out["_fit_objects"] = fits
    return out


def run_label(temperature: str, mismatch: float) -> str:
    return f"{temperature}, mismatch {mismatch:g}"


def analyze(results: RunResults, scale: Scale) -> dict[str, Any]:
    runs, curves, fit_curves = [], [], []
    for cfg in configs(scale):
        result = simulate(cfg)
        fitted = fit_gap(result)
        objects = fitted.pop("_fit_objects")
        label = run_label(cfg.temperature, cfg.mismatch)
        runs.append({
            "temperature": cfg.temperature, "mismatch": cfg.mismatch, "label": label, "gap_start": float(result.gap[0]),
            "gap_end": float(result.gap[-1]), "tau_end": float(result.tau[-1]), "t_end": float(result.t[-1]),
            "t_matched": result.t_matched, "warnings": list(result.warnings), **fitted,
        })
        for metric, values in (("gap_distance", result.gap), ("tau", result.tau)):
            curves += [{"t": float(t), "metric": metric, "value": float(v), "series": label} for t, v in zip(result.t, values) if t > 0]
        if (cfg.temperature, cfg.mismatch) == CLAIM_RUN:
            mask = fit_window(result)
            t_fit = result.t[mask]
            grid = np.geomspace(t_fit[t_fit > 0].min(), t_fit.max(), 100)
            for fit in objects.values():
                fit_curves += [{"t": float(t), "metric": "gap_distance", "value": float(v), "fit": fit.name} for t, v in zip(grid, fit.predict(grid))]
            claim_curve = [{"t": float(t), "metric": "gap_distance", "value": float(v)} for t, v in zip(result.t, result.gap)]
    claim_run = next(r for r in runs if (r["temperature"], r["mismatch"]) == CLAIM_RUN)
    fixed = [r for r in runs if r["temperature"] == "fixed"]
    slow = claim_run.get("better") == "inverse_log_squared"
    closes = all(r["gap_end"] < CLOSED_GAP for r in fixed)
    ratio = claim_run.get("rmse_ratio_exp_over_ils", float("nan"))
    summary = (
        f"Learnable τ with mismatch: gap {claim_run['gap_start']:.3f} → {claim_run['gap_end']:.3f} while τ falls to "
        f"{claim_run['tau_end']:.4f}; a / log(t)² fits its slow phase with {ratio:.1f}× lower RMSE than an exponential. "
        f"Fixed τ: final gap {max(r['gap_end'] for r in fixed):.1e}."
    )
    return {
        "runs": runs, "curves": curves, "fit_curves": fit_curves, "claim_curve": claim_curve,
        "log_squared_fits_better": bool(slow), "fixed_closes": bool(closes), "claim_holds": bool(slow and closes), "summary": summary,
    }


def table(analysis: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for r in analysis["runs"]:
        fits = r.get("fits", {})
        rows.append({
            "temperature": r["temperature"], "mismatch": f"{r['mismatch']:g}", "gap at t=0": r["gap_start"], "final gap": r["gap_end"],
            "final τ": r["tau_end"], "RMSE a/log(t)²": fits.get("inverse_log_squared", {}).get("rmse"),
            "RMSE exponential": fits.get("exponential", {}).get("rmse"), "better fit": {"inverse_log_squared": "a/log(t)²", "exponential": "exponential"}.get(r.get("better"), "–"),
        })
    return pd.DataFrame(rows)


def charts(analysis: dict[str, Any]) -> dict[str, Any]:
    from gapviz import charts as gapviz_charts
    from gapviz.reproduce import charts as report_charts

    curves = pd.DataFrame(analysis["curves"])
    overview = report_charts.metric_vs_parameter(
        curves, x="t", x_title="t (gradient-flow time, log)", log_x=True, metrics=["gap_distance", "tau"], columns=2, width=320, height=220,
        points=False,
    )
    fits = pd.DataFrame(analysis["fit_curves"])
    claim = pd.DataFrame(analysis["claim_curve"])
    fitted = gapviz_charts.time_curves(claim, fits=fits if len(fits) else None, columns=1, width=420, height=240)
    return {"gap_and_tau_vs_t": overview, "gap_fits": fitted}
