"""The gradient-flow sandbox of Yaras et al. (2024): free unit-norm features, no encoders.

n pairs of free vectors (image x_i, caption y_i) in d dimensions are trained directly on the
symmetric contrastive (InfoNCE) loss with logit scale s = 1/τ. The two modalities start in
separate narrow cones (Liang et al.'s cone effect), so the gap is large at t = 0. A fraction
of the pairs is *mismatched*: their caption slot holds another item's caption (the very same
free vector), so that caption is the positive of two images and no relabelling undoes it.
On log-spaced times we record the gap ‖c_X − c_Y‖ (centroids over the n image features and
the n caption slots), τ, the loss, the fraction of images whose positive is their nearest
caption, and snapshots of the features (SCIENCE.md, "Theory sandbox").

The run itself lives here (TheoryConfig, simulate, TheoryResult); ``theory_fits`` fits gap curves and
``theory_checks`` checks Yaras et al.'s statements on a run; ``gapviz.science.theory`` re-exports all three.

Pure: numpy (numba, when installed, compiles the inner loop); no IO.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

import numpy as np

from gapviz.science.scales import inverse_softplus, softplus, softplus_slope

SandboxTemperature = Literal["learnable", "softplus", "fixed"]
SANDBOX_TEMPERATURES: tuple[str, ...] = get_args(SandboxTemperature)

DEFAULT_N = 16
"""Pairs: few pairs keep every step cheap and the scatter readable."""
DEFAULT_D = 8
"""Dimensions. On S² (d = 3) the pairs crowd, s grows past 200 and the flow gets so stiff
that plain GD needs lr ≈ 0.001 (seconds become minutes); d = 8 keeps s ≈ 40."""
DEFAULT_MISMATCH = 0.25
"""Fraction of pairs whose caption is another item's."""
DEFAULT_TAU0 = 1.0
"""Initial τ, and the τ of "fixed" mode. Starting hot lets the cones open up and every pair
match before s runs away; at CLIP's 0.07 the same ordering holds with a smaller contrast."""
DEFAULT_STEPS = 50_000
DEFAULT_LR = 0.02
"""GD step size; t = step · lr. Agrees with lr = 0.005 to 3 decimals on the default run,
while lr = 0.05 already drifts once s passes ≈ 40 (see ``simulate``)."""
DEFAULT_CONE_ANGLE = 90.0
"""Angle in degrees between the axes of the two initial cones."""
DEFAULT_CONE_SPREAD = 0.3
"""Angular radius (radians, roughly) of each initial cone."""
MAX_LOGIT_SCALE = 1e4
"""Cap on s, far above what the default run reaches (CLIP's 100 would change the dynamics)."""
MAX_N = 1024
MAX_D = 1024
MAX_STEPS = 10_000_000


@dataclass(frozen=True)
class TheoryConfig:
    """One sandbox run. ``validate()`` lists every problem; ``simulate`` refuses a bad config."""

    n: int = DEFAULT_N
    d: int = DEFAULT_D
    mismatch: float = DEFAULT_MISMATCH
    temperature: SandboxTemperature = "learnable"
    tau0: float = DEFAULT_TAU0
    steps: int = DEFAULT_STEPS
    lr: float = DEFAULT_LR
    seed: int = 0
    record_points: int = 60
    """Steps at which gap, τ and loss are recorded: step 0, then log-spaced from steps/10⁴."""
    snapshot_points: int = 8
    """How many of the record steps (evenly spread over them, first and last included) keep
    the features for plotting."""
    cone_angle: float = DEFAULT_CONE_ANGLE
    cone_spread: float = DEFAULT_CONE_SPREAD
    max_logit_scale: float = MAX_LOGIT_SCALE

    def validate(self) -> list[str]:
        """Every problem with this config, one line each; empty when it can run."""
        problems = []
        if not _is_int(self.n) or not 2 <= self.n <= MAX_N:
            problems.append(
                f"n must be an integer in [2, {MAX_N}] (a contrastive loss needs negatives), got {self.n!r}"
            )
        if not _is_int(self.d) or not 2 <= self.d <= MAX_D:
            problems.append(f"d must be an integer in [2, {MAX_D}], got {self.d!r}")
        if not _is_real(self.mismatch) or not 0.0 <= self.mismatch <= 1.0:
            problems.append(f"mismatch must be a fraction in [0, 1], got {self.mismatch!r}")
        if self.temperature not in SANDBOX_TEMPERATURES:
            problems.append(f"temperature must be one of {', '.join(SANDBOX_TEMPERATURES)}, got {self.temperature!r}")
        if not _is_real(self.max_logit_scale) or not self.max_logit_scale > 0:
            problems.append(f"max_logit_scale must be a positive number, got {self.max_logit_scale!r}")
        if not _is_real(self.tau0) or not self.tau0 > 0:
            problems.append(f"tau0 must be a positive number, got {self.tau0!r}")
        elif _is_real(self.max_logit_scale) and 0 < self.max_logit_scale < 1.0 / self.tau0:
            problems.append(f"tau0 = {self.tau0:g} puts s = 1/tau0 above max_logit_scale = {self.max_logit_scale:g}")
        if not _is_int(self.steps) or not 1 <= self.steps <= MAX_STEPS:
            problems.append(f"steps must be an integer in [1, {MAX_STEPS}], got {self.steps!r}")
        if not _is_real(self.lr) or not self.lr > 0:
            problems.append(f"lr must be a positive number, got {self.lr!r}")
        if not _is_int(self.seed) or self.seed < 0:
            problems.append(f"seed must be a non-negative integer, got {self.seed!r}")
        if not _is_int(self.record_points) or self.record_points < 2:
            problems.append(f"record_points must be an integer >= 2, got {self.record_points!r}")
        if not _is_int(self.snapshot_points) or self.snapshot_points < 1:
            problems.append(f"snapshot_points must be an integer >= 1, got {self.snapshot_points!r}")
        if not _is_real(self.cone_angle) or not 0.0 < self.cone_angle <= 180.0:
            problems.append(f"cone_angle must be in (0, 180] degrees, got {self.cone_angle!r}")
        if not _is_real(self.cone_spread) or self.cone_spread < 0.0:
            problems.append(f"cone_spread must be a number >= 0, got {self.cone_spread!r}")
        return problems

    def check(self) -> "TheoryConfig":
        """Return self, or raise ValueError listing every problem."""
        problems = self.validate()
        if problems:
            raise ValueError("invalid TheoryConfig: " + "; ".join(problems))
        return self


class Snapshot(NamedTuple):
    """Features at time t on the result's fixed 2-D basis; row i of each is pair i."""

    t: float
    image_xy: np.ndarray
    text_xy: np.ndarray


@dataclass
class TheoryResult:
    """Recorded curves (index 0 is t = 0), snapshots and the raw features behind them."""

    t: np.ndarray
    """Gradient-flow time, step · lr."""
    gap: np.ndarray
    tau: np.ndarray
    loss: np.ndarray
    snapshots: list[Snapshot]
    config: TheoryConfig
    step: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    matched: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Fraction of images whose own caption slot is their nearest caption."""
    basis: np.ndarray = field(default_factory=lambda: np.zeros((2, 0)))
    """(2, d) orthonormal rows: the gap direction at t = 0, then the top principal direction
    of all snapshot features orthogonal to it."""
    features: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    """Per snapshot, the unit features in d dimensions: images (n, d) and caption slots (n, d)."""
    caption_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Caption slot i holds caption ``caption_of[i]``; it differs from i for mismatched pairs."""
    warnings: list[str] = field(default_factory=list)
    """Signs the run left the gradient-flow regime (e.g. the loss rose: lr too large)."""

    @property
    def logit_scale(self) -> np.ndarray:
        return 1.0 / self.tau

    @property
    def t_matched(self) -> float | None:
        """The first record time from which every image stays matched to its own caption."""
        settled = self.matched >= 1.0
        if not settled.any() or not settled[-1]:
            return None
        last_unsettled = np.flatnonzero(~settled)
        first = int(last_unsettled[-1]) + 1 if last_unsettled.size else 0
        return float(self.t[first])

    def slow_phase(self, factor: float = 2.0) -> np.ndarray:
        """Mask of the records after the matching transient: t >= factor · t_matched (and t > 0).

        Once every pair is matched the only thing left to happen is the slow closing of the
        gap; the first doubling after that still carries the transient's tail. Empty mask when
        the pairs never settle.
        """
        t_matched = self.t_matched
        if t_matched is None:
            return np.zeros_like(self.t, dtype=bool)
        return (self.t >= factor * t_matched) & (self.t > 0)

    def long_frame(self) -> dict[str, np.ndarray]:
        """Columns t, metric, value (gap_distance, tau, loss, matched), for a long data frame."""
        metrics = {"gap_distance": self.gap, "tau": self.tau, "loss": self.loss, "matched": self.matched}
        return {
            "t": np.concatenate([self.t] * len(metrics)),
            "metric": np.repeat(list(metrics), len(self.t)),
            "value": np.concatenate(list(metrics.values())),
        }


def simulate(cfg: TheoryConfig, progress: Callable[[int, int], None] | None = None) -> TheoryResult:
    """Train the free features by plain gradient descent and record the gap's trajectory.

    Plain gradient descent, not Adam: the theorem is about gradient flow, and Adam's
    per-coordinate normalisation would undo the very throttling we want to see (it rescales
    the shrinking gradients back up). Each step moves every free vector along its Riemannian
    gradient (the loss gradient projected onto the sphere's tangent plane) and renormalises
    it; ν (s = exp(ν), or s = softplus(ν)) takes a step of the same size, and s is clipped at
    ``max_logit_scale``. That is explicit Euler for gradient flow on the sphere, t = step · lr.

    It tracks the flow only while lr stays below the stability limit 2/λ_max, and λ_max grows
    like s² (the images that share a mismatched caption sit in a stiff equilibrium around
    it). Above the limit GD does not merely add noise: it pushes s back down and closes the
    gap much faster than the flow would, so the defaults keep lr small and the loop is
    compiled with numba when it is installed (plain numpy otherwise: same arithmetic, about
    ten times slower). A loss that rises between records is reported in ``warnings``.
    ``progress(step, steps)`` is called at every record step.
    """
    cfg.check()
    rng = np.random.default_rng(cfg.seed)
    x, y = cone_init(cfg.n, cfg.d, cfg.cone_angle, cfg.cone_spread, rng)
    caption_of = caption_assignment(cfg.n, cfg.mismatch, rng)
    trace = _trace(cfg, x, y, caption_of, progress)
    basis = _plot_basis(trace.snaps)
    return TheoryResult(
        t=trace.steps.astype(float) * cfg.lr,
        gap=np.asarray(trace.gaps),
        tau=np.asarray(trace.taus),
        loss=np.asarray(trace.losses),
        snapshots=[Snapshot(step * cfg.lr, xs @ basis.T, ys @ basis.T) for step, xs, ys in trace.snaps],
        config=cfg,
        step=trace.steps,
        matched=np.asarray(trace.matched),
        basis=basis,
        features=[(xs, ys) for _, xs, ys in trace.snaps],
        caption_of=caption_of,
        warnings=_loss_rise_warnings(trace.losses, trace.steps, cfg.lr),
    )


@dataclass
class _Trace:
    """What ``_trace`` records at each record step."""

    steps: np.ndarray
    gaps: list[float] = field(default_factory=list)
    taus: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    matched: list[float] = field(default_factory=list)
    snaps: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)


def _trace(cfg: TheoryConfig, x: np.ndarray, y: np.ndarray, caption_of: np.ndarray, progress) -> _Trace:
    """Advance the features from record step to record step (in place) and record gap, τ, loss, matching."""
    nu = _nu_from_scale(1.0 / cfg.tau0, cfg.temperature)
    nu_max = _nu_from_scale(cfg.max_logit_scale, cfg.temperature)
    mode = SANDBOX_TEMPERATURES.index(cfg.temperature)
    advance = _compiled_segment() or _numpy_segment
    trace = _Trace(record_steps(cfg.steps, cfg.record_points))
    picks = np.unique(np.round(np.linspace(0, len(trace.steps) - 1, cfg.snapshot_points)).astype(int))
    snap_steps = set(trace.steps[picks].tolist())
    done = 0
    for step in trace.steps.tolist():
        if step > done:
            nu = advance(x, y, nu, caption_of, mode, cfg.lr, step - done, nu_max)
            done = step
        scale = _scale_from_nu(nu, cfg.temperature)
        slots = y[caption_of]
        loss, *_ = contrastive_loss_and_grads(x, y, caption_of, scale)
        trace.gaps.append(float(np.linalg.norm(x.mean(axis=0) - slots.mean(axis=0))))
        trace.taus.append(1.0 / scale)
        trace.losses.append(loss)
        nearest = np.argmax(x @ slots.T, axis=1)
        trace.matched.append(float(np.mean(caption_of[nearest] == caption_of)))
        if step in snap_steps:
            trace.snaps.append((step, x.copy(), slots.copy()))
        if progress is not None:
            progress(step, cfg.steps)
    return trace


def _loss_rise_warnings(losses: list[float], steps: np.ndarray, lr: float) -> list[str]:
    """A warning when the loss rose between records: gradient flow never does that (lr too large)."""
    arr = np.asarray(losses)
    rises = np.flatnonzero(np.diff(arr) > 1e-9 * (1.0 + np.abs(arr[:-1])))
    if not rises.size:
        return []
    return [
        f"the loss rose between {rises.size} pair(s) of records (first after t = {steps[rises[0]] * lr:.3g}): "
        "gradient flow never does that, so lr is above the stability limit there; lower lr"
    ]


def record_steps(steps: int, points: int) -> np.ndarray:
    """Step 0, then up to ``points`` − 1 distinct steps log-spaced from steps/10⁴ to ``steps``.

    Nothing happens in the first ten-thousandth of a run, so the spacing starts there (or at
    step 1) and spends its points where the dynamics are.
    """
    first = max(steps / 10_000, 1.0)
    raw = np.unique(np.round(np.geomspace(first, steps, max(points - 1, 1))).astype(np.int64))
    return np.concatenate([[0], raw[(raw >= 1) & (raw <= steps)]]).astype(np.int64)


def caption_assignment(n: int, mismatch: float, rng: np.random.Generator) -> np.ndarray:
    """Which caption each pair's caption slot holds: its own, or (mismatched) another item's.

    round(mismatch · n) pairs, chosen at random, get the caption of a uniformly random other
    pair. With free features a mere permutation of captions would be a relabelling the
    optimiser can undo; here the borrowed caption stays the positive of its own image too.
    """
    caption_of = np.arange(n)
    count = int(round(mismatch * n))
    if count == 0:
        return caption_of
    chosen = rng.choice(n, size=count, replace=False)
    others = rng.integers(0, n - 1, size=count)
    caption_of[chosen] = others + (others >= chosen)  # skip the pair's own index
    return caption_of


def cone_init(
    n: int, d: int, angle_deg: float, spread: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Unit features in two narrow cones whose axes are ``angle_deg`` apart.

    Each feature is its cone's axis plus Gaussian noise of norm ≈ ``spread``, normalised.
    """
    angle = math.radians(angle_deg)
    axis_x = np.zeros(d)
    axis_x[0] = 1.0
    axis_y = np.zeros(d)
    axis_y[0], axis_y[1] = math.cos(angle), math.sin(angle)
    noise = spread / math.sqrt(d)
    x = axis_x + noise * rng.standard_normal((n, d))
    y = axis_y + noise * rng.standard_normal((n, d))
    return _normalise(x), _normalise(y)


def contrastive_loss_and_grads(
    x: np.ndarray, y: np.ndarray, caption_of: np.ndarray, scale: float
) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Symmetric InfoNCE of unit features, and its gradients.

    Image i's positive is caption slot i, which holds caption ``caption_of[i]``; the loss is
    the mean of the image→caption and caption→image cross-entropies of the logits s·⟨x_i, y_j⟩.
    Returns (loss, dL/dx, dL/dy, dL/ds); the feature gradients are ambient (not projected).
    """
    n = x.shape[0]
    slots = y[caption_of]
    cos = x @ slots.T
    logits = scale * cos
    row_max = logits.max(axis=1, keepdims=True)
    col_max = logits.max(axis=0, keepdims=True)
    row_exp = np.exp(logits - row_max)
    col_exp = np.exp(logits - col_max)
    row_sum = row_exp.sum(axis=1, keepdims=True)
    col_sum = col_exp.sum(axis=0, keepdims=True)
    diag = np.diagonal(logits)
    loss = 0.5 * (
        np.mean(row_max.ravel() + np.log(row_sum.ravel()) - diag)
        + np.mean(col_max.ravel() + np.log(col_sum.ravel()) - diag)
    )
    d_logits = (row_exp / row_sum + col_exp / col_sum - 2.0 * np.eye(n)) / (2 * n)
    d_scale = float(np.sum(d_logits * cos))
    d_cos = scale * d_logits
    dx = d_cos @ slots
    dy = np.zeros_like(y)
    np.add.at(dy, caption_of, d_cos.T @ x)
    return float(loss), dx, dy, d_scale


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _normalise(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _tangent(v: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Each row's gradient projected onto the sphere's tangent plane at that row."""
    return grad - v * np.sum(grad * v, axis=-1, keepdims=True)


def _scale_from_nu(nu: float, mode: str) -> float:
    if mode == "softplus":
        return softplus(nu)
    return math.exp(nu)  # learnable: s = exp(ν); fixed uses the same map and ν never moves


def _nu_from_scale(scale: float, mode: str) -> float:
    if mode == "softplus":
        return inverse_softplus(scale)
    return math.log(scale)


def _dscale_dnu(nu: float, mode: str) -> float:
    if mode == "softplus":
        return softplus_slope(nu)
    return math.exp(nu)


def _numpy_segment(x, y, nu, caption_of, mode, lr, steps, nu_max):
    """``steps`` gradient-descent steps, in place on x and y; returns the new ν."""
    name = SANDBOX_TEMPERATURES[mode]
    for _ in range(steps):
        _, dx, dy, d_scale = contrastive_loss_and_grads(x, y, caption_of, _scale_from_nu(nu, name))
        x[:] = _normalise(x - lr * _tangent(x, dx))
        y[:] = _normalise(y - lr * _tangent(y, dy))
        if name != "fixed":
            nu = min(nu - lr * d_scale * _dscale_dnu(nu, name), nu_max)
    return nu


_SEGMENT: Callable | bool | None = None


def _compiled_segment() -> Callable | None:
    """The numba-compiled twin of ``_numpy_segment`` (compiled once per process), or None."""
    global _SEGMENT
    if _SEGMENT is None:
        try:
            import numba
        except ImportError:  # numba comes with umap-learn; without it the numpy loop runs
            _SEGMENT = False
        else:
            try:
                _SEGMENT = numba.njit(cache=True)(_segment_loops)
            except RuntimeError:  # no writable cache location: compile per process
                _SEGMENT = numba.njit(cache=False)(_segment_loops)
    return _SEGMENT if callable(_SEGMENT) else None


def _segment_loops(x, y, nu, caption_of, mode, lr, steps, nu_max):  # pragma: no cover - runs compiled
    """``_numpy_segment`` as explicit loops for numba: the same arithmetic, no temporaries.

    Over 60 lines on purpose: a numba kernel, one body so the compiler keeps every loop in registers
    (split into helpers it would allocate the temporaries this version avoids).
    """
    n, d = x.shape
    slots = np.empty((n, d))
    cos = np.empty((n, n))
    grad = np.empty((n, n))
    col = np.empty(n)
    dx = np.empty((n, d))
    dy = np.empty((n, d))
    for _ in range(steps):
        if mode == 1:  # softplus
            scale = nu + math.log1p(math.exp(-nu)) if nu > 0 else math.log1p(math.exp(nu))
            dscale_dnu = 0.5 * (1.0 + math.tanh(0.5 * nu))
        else:
            scale = math.exp(nu)
            dscale_dnu = scale
        for i in range(n):
            for k in range(d):
                slots[i, k] = y[caption_of[i], k]
        for i in range(n):
            for j in range(n):
                acc = 0.0
                for k in range(d):
                    acc += x[i, k] * slots[j, k]
                cos[i, j] = acc
        for i in range(n):  # softmax over caption slots, per image
            top = cos[i, 0]
            for j in range(1, n):
                top = max(top, cos[i, j])
            total = 0.0
            for j in range(n):
                grad[i, j] = math.exp(scale * (cos[i, j] - top))
                total += grad[i, j]
            for j in range(n):
                grad[i, j] /= total
        for j in range(n):  # plus the softmax over images, per caption slot
            top = cos[0, j]
            for i in range(1, n):
                top = max(top, cos[i, j])
            total = 0.0
            for i in range(n):
                col[i] = math.exp(scale * (cos[i, j] - top))
                total += col[i]
            for i in range(n):
                grad[i, j] += col[i] / total
        d_scale = 0.0
        for i in range(n):
            grad[i, i] -= 2.0
            for j in range(n):
                grad[i, j] /= 2 * n
                d_scale += grad[i, j] * cos[i, j]
        dx[:] = 0.0
        dy[:] = 0.0
        for i in range(n):
            for j in range(n):
                g = scale * grad[i, j]
                for k in range(d):
                    dx[i, k] += g * slots[j, k]
                    dy[caption_of[j], k] += g * x[i, k]
        for feats, grads in ((x, dx), (y, dy)):  # Riemannian step, then back onto the sphere
            for i in range(n):
                radial = 0.0
                for k in range(d):
                    radial += grads[i, k] * feats[i, k]
                norm = 0.0
                for k in range(d):
                    feats[i, k] -= lr * (grads[i, k] - radial * feats[i, k])
                    norm += feats[i, k] * feats[i, k]
                norm = math.sqrt(norm)
                for k in range(d):
                    feats[i, k] /= norm
        if mode != 2:  # not fixed
            nu = min(nu - lr * d_scale * dscale_dnu, nu_max)
    return nu


def _plot_basis(snaps: list[tuple[int, np.ndarray, np.ndarray]]) -> np.ndarray:
    """The gap direction at t = 0 and the top principal direction of all snapshots orthogonal to it."""
    _, x0, y0 = snaps[0]
    d = x0.shape[1]
    gap = x0.mean(axis=0) - y0.mean(axis=0)
    first = gap / np.linalg.norm(gap) if np.linalg.norm(gap) > 1e-12 else np.eye(d)[0]
    pooled = np.concatenate([np.concatenate([xs, ys]) for _, xs, ys in snaps])
    pooled = pooled - pooled.mean(axis=0)
    pooled = pooled - np.outer(pooled @ first, first)
    _, _, vt = np.linalg.svd(pooled, full_matrices=False)
    second = vt[0] - (vt[0] @ first) * first
    if np.linalg.norm(second) < 1e-9:  # everything on one line: any orthogonal direction will do
        other = np.eye(d)[int(np.argmin(np.abs(first)))]
        second = other - (other @ first) * first
    return np.stack([first, second / np.linalg.norm(second)])
