"""Yaras et al.'s statements checked on one sandbox run's slow phase: the Ω(1/log²t) bound and the throttling.

What the default run shows (Yaras et al., Thm 3.2, and their Table "fixed τ" row): with a
learnable s = exp(ν), s keeps growing after every pair is matched and throttles the closing
of the gap (dγ/dβ ∝ 1/β), which then creeps down, staying above the Ω(1/log²t) bound; with a
fixed τ the gap closes to ≈ 0. ``slow_phase`` picks the part of a run after the matching
transient; ``slow_phase_checks`` checks the bound and the throttling there and fits four
candidate shapes (``candidate_fits``: RMSE and AIC, no winner forced).

Pure: numpy; no IO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gapviz.science.theory_fits import Fit, candidate_fits
from gapviz.science.theory_sandbox import TheoryResult

MIN_WINDOW_POINTS = 5
BOUND_TOLERANCE = 1e-9
"""Relative slack of the 'non-decreasing' check on gap·log²t (float round-off only)."""


@dataclass(frozen=True)
class SlowPhaseChecks:
    """Yaras et al.'s statements checked on one run's slow phase (``slow_phase_checks``).

    The bound gap = Ω(1/log²t): ``bound_non_decreasing`` (gap·log²t never falls) and
    ``bound_slope`` (its least-squares slope against log t). The throttling dγ/dβ ∝ 1/β with γ the
    gap and β = s = 1/τ: ``throttling_slope``, the slope of log|dγ/dβ| against log β (−1 when it
    holds); ``dgamma_dt_slope`` is the slope of log|dγ/dt| against log β, for comparison. ``fits``:
    the candidate shapes of the gap (``candidate_fits``).
    """

    window: str
    t_from: float | None
    points: int
    bound_start: float
    bound_end: float
    bound_non_decreasing: bool
    bound_slope: float
    throttling_slope: float
    dgamma_dt_slope: float
    fits: dict[str, Fit]

    def to_json(self) -> dict[str, Any]:
        """Numbers only (the fitted functions dropped)."""
        out = {
            k: getattr(self, k)
            for k in (
                "window",
                "t_from",
                "points",
                "bound_start",
                "bound_end",
                "bound_non_decreasing",
                "bound_slope",
                "throttling_slope",
                "dgamma_dt_slope",
            )
        }
        out["fits"] = {k: {"params": f.params, "rmse": f.rmse, "aic": f.aic, "r2": f.r2} for k, f in self.fits.items()}
        return out


def fit_window(result: TheoryResult) -> tuple[np.ndarray, str]:
    """The records checked and fitted: the slow phase when it has enough points, else the whole run; and which."""
    mask = result.slow_phase()
    if int(mask.sum()) >= MIN_WINDOW_POINTS:
        return mask, f"the slow phase, t ≥ {result.t[mask][0]:.3g} (after every pair is matched)"
    return result.t > 0, "the whole run (the pairs never settled into a slow phase)"


def _log_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log|y| against log x over the points where both are usable."""
    keep = (x > 0) & np.isfinite(x) & np.isfinite(y) & (np.abs(y) > 0)
    if int(keep.sum()) < 3 or np.ptp(np.log(x[keep])) < 1e-9:  # too few points, or x does not move (fixed τ)
        return math.nan
    try:
        return float(np.polyfit(np.log(x[keep]), np.log(np.abs(y[keep])), 1)[0])
    except np.linalg.LinAlgError:
        return math.nan


def slow_phase_checks(result: TheoryResult) -> SlowPhaseChecks:
    """The bound, the throttling slope and the candidate fits of ``result`` over ``fit_window``."""
    mask, window = fit_window(result)
    t, gap, beta = result.t[mask], result.gap[mask], 1.0 / result.tau[mask]
    with np.errstate(divide="ignore", invalid="ignore"):
        product = gap * np.log(t) ** 2
    steps = np.diff(product)
    dgap_dt = np.diff(gap) / np.diff(t)
    dbeta_dt = np.diff(beta) / np.diff(t)
    mid_beta = np.sqrt(beta[1:] * beta[:-1])
    closing = dgap_dt < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        dgap_dbeta = np.where(closing & (dbeta_dt > 0), dgap_dt / dbeta_dt, np.nan)
    usable = t > 1.0
    return SlowPhaseChecks(
        window=window,
        t_from=float(t[0]) if t.size else None,
        points=int(t.size),
        bound_start=float(product[0]) if t.size else math.nan,
        bound_end=float(product[-1]) if t.size else math.nan,
        bound_non_decreasing=bool(np.all(steps >= -BOUND_TOLERANCE * np.abs(product[:-1]))),
        bound_slope=float(np.polyfit(np.log(t[usable]), product[usable], 1)[0]) if usable.sum() >= 3 else math.nan,
        throttling_slope=_log_slope(mid_beta, dgap_dbeta),
        dgamma_dt_slope=_log_slope(mid_beta, np.where(closing, dgap_dt, np.nan)),
        fits=candidate_fits(t, gap),
    )
