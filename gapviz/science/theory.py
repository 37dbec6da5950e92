"""The gradient-flow sandbox of Yaras et al. (2024), its fits and its checks: one import for callers.

Who owns what:

- :mod:`gapviz.science.theory_sandbox`: TheoryConfig, simulate, TheoryResult (the run of free unit-norm
  features on the contrastive loss, with the compiled inner loop);
- :mod:`gapviz.science.theory_fits`: Fit and the candidate shapes of a gap curve (RMSE and AIC, no winner forced);
- :mod:`gapviz.science.theory_checks`: SlowPhaseChecks, fit_window, slow_phase_checks (the Ω(1/log²t) bound
  and the throttling dγ/dβ ∝ 1/β on a run's slow phase), gap_trend (whether the gap closes or levels off).

Pure: numpy and scipy (numba, when installed, compiles the inner loop); no IO.
"""

from __future__ import annotations

from gapviz.science.theory_checks import (
    BOUND_TOLERANCE,
    LEVEL_CHANGE,
    MIN_WINDOW_POINTS,
    PLATEAU_FIT,
    PLATEAU_SHARE,
    TAIL_SHARE,
    GapLevel,
    GapTrend,
    SlowPhaseChecks,
    fit_window,
    gap_trend,
    slow_phase_checks,
)
from gapviz.science.theory_fits import (
    CANDIDATE_FITS,
    Fit,
    candidate_fits,
    fit_exponential,
    fit_log_bound,
    fit_log_bound_offset,
    fit_power_law,
)
from gapviz.science.theory_sandbox import (
    DEFAULT_CONE_ANGLE,
    DEFAULT_CONE_SPREAD,
    DEFAULT_D,
    DEFAULT_LR,
    DEFAULT_MISMATCH,
    DEFAULT_N,
    DEFAULT_STEPS,
    DEFAULT_TAU0,
    MAX_D,
    MAX_LOGIT_SCALE,
    MAX_N,
    MAX_STEPS,
    SANDBOX_TEMPERATURES,
    SandboxTemperature,
    Snapshot,
    TheoryConfig,
    TheoryResult,
    _compiled_segment,
    _normalise,
    caption_assignment,
    cone_init,
    contrastive_loss_and_grads,
    record_steps,
    simulate,
)

__all__ = [
    "BOUND_TOLERANCE",
    "CANDIDATE_FITS",
    "DEFAULT_CONE_ANGLE",
    "DEFAULT_CONE_SPREAD",
    "DEFAULT_D",
    "DEFAULT_LR",
    "DEFAULT_MISMATCH",
    "DEFAULT_N",
    "DEFAULT_STEPS",
    "DEFAULT_TAU0",
    "MAX_D",
    "MAX_LOGIT_SCALE",
    "MAX_N",
    "MAX_STEPS",
    "MIN_WINDOW_POINTS",
    "SANDBOX_TEMPERATURES",
    "Fit",
    "GapLevel",
    "GapTrend",
    "LEVEL_CHANGE",
    "PLATEAU_FIT",
    "PLATEAU_SHARE",
    "TAIL_SHARE",
    "SandboxTemperature",
    "SlowPhaseChecks",
    "Snapshot",
    "TheoryConfig",
    "TheoryResult",
    "_compiled_segment",
    "_normalise",
    "candidate_fits",
    "caption_assignment",
    "cone_init",
    "contrastive_loss_and_grads",
    "fit_exponential",
    "fit_log_bound",
    "fit_log_bound_offset",
    "fit_power_law",
    "fit_window",
    "gap_trend",
    "record_steps",
    "simulate",
    "slow_phase_checks",
]
