"""Yaras et al.'s statements checked on one sandbox run's slow phase: the Ω(1/log²t) bound and the throttling.

What the default run shows (Yaras et al., Thm 3.2, and their Table "fixed τ" row): with a
learnable s = exp(ν), s keeps growing after every pair is matched and throttles the closing
of the gap (dγ/dβ ∝ 1/β), which then creeps down, staying above the Ω(1/log²t) bound; with a
fixed τ the gap closes to ≈ 0. ``slow_phase`` picks the part of a run after the matching
transient; ``slow_phase_checks`` checks the bound and the throttling there and fits four
candidate shapes (``candidate_fits``: RMSE and AIC, no winner forced). ``gap_trend`` says whether the
gap is closing at all (``GapTrend``): when it levels off or rises, gap·log²t grows with log²t whatever
the bound, so "gap·log²t never falls" is not informative there (``SlowPhaseChecks.bound_informative``).

Pure: numpy; no IO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from gapviz.science.theory_fits import Fit, candidate_fits
from gapviz.science.theory_sandbox import TheoryResult

MIN_WINDOW_POINTS = 5
BOUND_TOLERANCE = 1e-9
"""Relative slack of the 'non-decreasing' check on gap·log²t (float round-off only)."""
TAIL_SHARE = 0.5
"""The tail judged by ``gap_trend``: the last half of the window, in log t."""
LEVEL_CHANGE = 0.05
"""The gap 'levels off' when the straight line of gap against log t moves it by less than 5% over the tail."""
PLATEAU_SHARE = 0.5
"""... and the plateau c of a / log²t + c, at the low end of its interval, is above half the final gap."""
PLATEAU_FIT = "a / log²t + c"
"""The candidate fit whose offset c is the plateau (the bound's own shape, over a floor)."""
Z95 = 1.96


class GapTrend(str, Enum):
    """What the gap does over the tail of the window (``gap_trend``)."""

    CLOSING = "closing"
    LEVELS_OFF = "levels off"
    RISING = "rising"
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class GapLevel:
    """``gap_trend``'s verdict with its numbers: the tail's relative change, the fitted plateau c and its interval."""

    trend: GapTrend
    change: float
    """Relative change of the gap over the tail (the straight line of gap against log t, end / start − 1, ≥ −1)."""
    t_from: float
    t_to: float
    plateau: float
    plateau_low: float
    plateau_high: float
    """c of a / log²t + c and its ≈95% interval (±1.96 standard errors from the fit's covariance)."""

    def sentence(self) -> str:
        """The verdict in plain words, with the rule's numbers."""
        tail = f"over the last half of the window (t = {self.t_from:,.4g} → {self.t_to:,.4g}, log scale)"
        moved = f"it changed by {self.change:+.1%}".replace("-", "−")
        interval = f"{self.plateau_low:.3f}–{self.plateau_high:.3f}"
        plateau = f"plateau c of {PLATEAU_FIT} = {self.plateau:.3f}, ≈95% interval {interval}"
        if self.trend is GapTrend.LEVELS_OFF:
            return f"The gap is not closing: it levels off at ≈ {self.plateau:.2f} ({plateau}); {tail} {moved}."
        if self.trend is GapTrend.RISING:
            return f"The gap is not closing: it rises; {tail} {moved}."
        if self.trend is GapTrend.CLOSING:
            return f"The gap is closing: {tail} {moved}."
        return f"Too little of the gap's course to tell whether it closes: {tail} {moved} ({plateau})."


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
    level: GapLevel

    @property
    def bound_informative(self) -> bool:
        """Whether 'gap·log²t never falls' says anything: only while the gap closes (else it grows trivially)."""
        return self.level.trend is GapTrend.CLOSING

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
        out["bound_informative"] = self.bound_informative
        out["level"] = {**{k: v for k, v in vars(self.level).items() if k != "trend"}, "trend": self.level.trend.value}
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
    fits = candidate_fits(t, gap)
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
        fits=fits,
        level=gap_trend(t, gap, fits.get(PLATEAU_FIT)),
    )


def _plateau(fit: Fit | None) -> tuple[float, float, float]:
    """c of the plateau fit and its ≈95% interval; NaN without a fit or a finite standard error."""
    if fit is None or not math.isfinite(fit.errors.get("c", math.nan)):
        return math.nan, math.nan, math.nan
    c, half = fit.params["c"], Z95 * fit.errors["c"]
    return c, c - half, c + half


def gap_trend(t: np.ndarray, gap: np.ndarray, plateau_fit: Fit | None = None) -> GapLevel:
    """Whether the gap closes, levels off or rises over the last ``TAIL_SHARE`` of the window (in log t).

    The rule: fit a straight line to gap against log t over the tail and take its relative change
    across the tail. ≤ −``LEVEL_CHANGE``: closing; ≥ +``LEVEL_CHANGE``: rising; in between it levels
    off when the plateau c of a / log²t + c (``plateau_fit``, fitted by the caller on the window) is,
    at the low end of its ≈95% interval, above ``PLATEAU_SHARE`` of the final gap; otherwise unclear.
    A gap closing like 1/log²t falls by ≥ 5% over the tail unless the window spans less than ~5% of log t.
    """
    keep = (t > 0) & np.isfinite(t) & np.isfinite(gap)
    t, gap = t[keep], gap[keep]
    plateau = _plateau(plateau_fit)
    if t.size < MIN_WINDOW_POINTS:
        return GapLevel(GapTrend.UNCLEAR, math.nan, math.nan, math.nan, *plateau)
    log_t = np.log(t)
    tail = log_t >= log_t[-1] - TAIL_SHARE * (log_t[-1] - log_t[0])
    lo, hi = float(log_t[tail][0]), float(log_t[-1])
    if int(tail.sum()) < 3 or hi - lo < 1e-9:
        return GapLevel(GapTrend.UNCLEAR, math.nan, float(t[tail][0]), float(t[-1]), *plateau)
    slope, intercept = np.polyfit(log_t[tail], gap[tail], 1)
    start = slope * lo + intercept
    change = max(float((slope * hi + intercept) / start - 1.0), -1.0) if start > 0 else math.nan
    if change <= -LEVEL_CHANGE:
        trend = GapTrend.CLOSING
    elif change >= LEVEL_CHANGE:
        trend = GapTrend.RISING
    elif plateau[1] > PLATEAU_SHARE * float(gap[-1]):
        trend = GapTrend.LEVELS_OFF
    else:
        trend = GapTrend.UNCLEAR
    return GapLevel(trend, change, float(t[tail][0]), float(t[-1]), *plateau)
