"""The gradient-flow sandbox (gapviz.science.theory): mechanics, then Yaras et al.'s claims on the defaults."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from gapviz.science import theory, theory_sandbox
from gapviz.science.theory import (
    GapTrend,
    TheoryConfig,
    candidate_fits,
    caption_assignment,
    contrastive_loss_and_grads,
    fit_exponential,
    fit_log_bound,
    fit_log_bound_offset,
    fit_power_law,
    gap_trend,
    record_steps,
    simulate,
    slow_phase_checks,
)

SHORT = TheoryConfig(steps=2000, lr=0.02, record_points=20, snapshot_points=4)


@pytest.fixture(scope="module")
def runs() -> dict[str, theory.TheoryResult]:
    """The default run (mismatch 0.25) under each temperature mode; about a second each."""
    return {mode: simulate(TheoryConfig(temperature=mode)) for mode in theory.SANDBOX_TEMPERATURES}


# --- mechanics ---------------------------------------------------------------------------


def test_loss_and_gradients_match_autograd():
    rng = np.random.default_rng(3)
    n, d, scale = 9, 5, 3.7
    x = theory._normalise(rng.standard_normal((n, d)))
    y = theory._normalise(rng.standard_normal((n, d)))
    caption_of = caption_assignment(n, 0.5, rng)
    assert np.any(caption_of != np.arange(n))
    loss, dx, dy, d_scale = contrastive_loss_and_grads(x, y, caption_of, scale)

    tx = torch.tensor(x, requires_grad=True)
    ty = torch.tensor(y, requires_grad=True)
    ts = torch.tensor(scale, dtype=torch.float64, requires_grad=True)
    logits = ts * tx @ ty[torch.as_tensor(caption_of)].T
    target = torch.arange(n)
    reference = 0.5 * (
        torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target)
    )
    reference.backward()
    assert loss == pytest.approx(reference.item(), abs=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(dy, ty.grad.numpy(), atol=1e-12)
    assert d_scale == pytest.approx(ts.grad.item(), abs=1e-12)


@pytest.mark.parametrize("mode", theory.SANDBOX_TEMPERATURES)
def test_compiled_loop_matches_numpy_loop(mode, monkeypatch):
    if theory._compiled_segment() is None:
        pytest.skip("numba is not installed")
    cfg = dataclasses.replace(SHORT, temperature=mode, steps=300)
    compiled = simulate(cfg)
    monkeypatch.setattr(theory_sandbox, "_SEGMENT", False)
    plain = simulate(cfg)
    np.testing.assert_allclose(compiled.gap, plain.gap, atol=1e-10)
    np.testing.assert_allclose(compiled.tau, plain.tau, rtol=1e-10)
    np.testing.assert_allclose(compiled.features[-1][0], plain.features[-1][0], atol=1e-10)


def test_deterministic_by_seed():
    a, b = simulate(SHORT), simulate(SHORT)
    for name in ("t", "gap", "tau", "loss", "matched", "basis", "caption_of"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for (xa, ya), (xb, yb) in zip(a.features, b.features, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    other = simulate(dataclasses.replace(SHORT, seed=1))
    assert not np.array_equal(a.gap, other.gap)


def test_cone_init_starts_with_a_large_gap():
    result = simulate(SHORT)
    assert result.t[0] == 0.0
    assert result.gap[0] > 1.2  # two narrow cones 90° apart: the gap is close to √2
    assert result.matched[0] < 0.5  # nothing is matched yet
    x0, y0 = result.features[0]
    assert np.mean(x0 @ x0.T) > 0.9 and np.mean(y0 @ y0.T) > 0.9  # narrow cones
    narrow = simulate(dataclasses.replace(SHORT, cone_angle=30.0))
    assert narrow.gap[0] < result.gap[0]


def test_mismatched_pairs_borrow_another_items_caption():
    rng = np.random.default_rng(0)
    caption_of = caption_assignment(40, 0.25, rng)
    borrowed = np.flatnonzero(caption_of != np.arange(40))
    assert borrowed.size == 10
    assert np.all((caption_of >= 0) & (caption_of < 40))
    np.testing.assert_array_equal(caption_assignment(40, 0.0, rng), np.arange(40))


def test_record_steps_are_log_spaced_and_end_at_the_last_step():
    steps = record_steps(50_000, 60)
    assert steps[0] == 0 and steps[-1] == 50_000
    assert np.all(np.diff(steps) > 0) and len(steps) <= 60
    ratios = steps[2:] / steps[1:-1]
    assert ratios.max() / ratios.min() < 1.5
    assert list(record_steps(3, 60)) == [0, 1, 2, 3]


def test_result_shapes_snapshots_and_progress():
    calls = []
    result = simulate(SHORT, progress=lambda step, total: calls.append((step, total)))
    assert calls[-1] == (SHORT.steps, SHORT.steps) and len(calls) == len(result.t)
    assert len(result.t) == len(result.gap) == len(result.tau) == len(result.loss) == len(result.matched)
    assert result.t[-1] == pytest.approx(SHORT.steps * SHORT.lr)
    assert len(result.snapshots) == SHORT.snapshot_points == len(result.features)
    assert result.snapshots[0].t == 0.0 and result.snapshots[-1].t == pytest.approx(result.t[-1])
    np.testing.assert_allclose(result.basis @ result.basis.T, np.eye(2), atol=1e-12)
    for snap, (image, _text) in zip(result.snapshots, result.features, strict=True):
        t, image_xy, text_xy = snap
        assert image_xy.shape == text_xy.shape == (SHORT.n, 2)
        np.testing.assert_allclose(image_xy, image @ result.basis.T)
        np.testing.assert_allclose(np.linalg.norm(image, axis=1), 1.0)
    last_image, last_text = result.features[-1]
    assert np.linalg.norm(last_image.mean(0) - last_text.mean(0)) == pytest.approx(result.gap[-1])
    frame = result.long_frame()
    assert len(frame["t"]) == len(frame["metric"]) == len(frame["value"]) == 4 * len(result.t)


def test_fixed_temperature_stays_fixed():
    result = simulate(dataclasses.replace(SHORT, temperature="fixed", tau0=0.1))
    np.testing.assert_allclose(result.tau, 0.1)


def test_a_too_large_step_is_flagged():
    assert simulate(TheoryConfig(lr=0.2, steps=5000)).warnings
    assert not simulate(SHORT).warnings


def test_theory_imports_nothing_from_the_app():
    code = (
        "import sys, gapviz.science.theory; "
        "print(any(m.startswith(('streamlit', 'gapviz.app', 'gapviz.reproduce', 'torch')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- fits --------------------------------------------------------------------------------


def test_fits_recover_their_own_curves_and_aic_prefers_the_true_shape():
    t = np.geomspace(2.0, 1e4, 40)
    shapes = {
        "a / log²t": 3.0 / np.log(t) ** 2,
        "a / log²t + c": 3.0 / np.log(t) ** 2 + 0.4,
        "a·exp(−b·t) + c": 0.8 * np.exp(-0.001 * t) + 0.2,
        "a·t^(−p) + c": 0.7 * t**-0.4 + 0.3,
    }
    noise = np.random.default_rng(0).normal(0.0, 1e-4, t.size)
    for true, gap in shapes.items():
        fits = candidate_fits(t, gap + noise)
        assert set(fits) == set(shapes), true
        assert fits[true].rmse < 2e-4, (true, fits[true])
        np.testing.assert_allclose(fits[true].predict(t), gap, atol=1e-3)
        nested = {"a / log²t": "a / log²t + c"}  # the offset form contains the plain one
        others = [k for k in fits if k not in (true, nested.get(true))]
        assert all(fits[true].aic < fits[k].aic for k in others), (true, {k: f.aic for k, f in fits.items()})
    assert fit_log_bound(t, shapes["a / log²t"]).params["a"] == pytest.approx(3.0)
    power = fit_power_law(t, shapes["a·t^(−p) + c"])
    assert power.params["p"] == pytest.approx(0.4, rel=1e-3) and power.params["c"] == pytest.approx(0.3, abs=1e-3)
    exponential = fit_exponential(t, shapes["a·exp(−b·t) + c"], offset=True)
    assert exponential.params["b"] == pytest.approx(0.001, rel=1e-3)


def test_aic_counts_parameters():
    t = np.geomspace(2.0, 100.0, 20)
    fit = fit_power_law(t, 0.5 * t**-0.5 + 0.1 + np.random.default_rng(1).normal(0, 1e-3, t.size))
    rss = fit.rmse**2 * fit.points
    assert fit.points == 20 and fit.aic == pytest.approx(20 * math.log(rss / 20) + 2 * 3)


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        fit_exponential([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 3"):
        fit_exponential([1.0, np.nan, 3.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=">= 0"):
        fit_exponential([-1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="t > 1"):
        fit_log_bound([0.5, 0.7, 0.9, 2.0], [1.0, 1.0, 1.0, 1.0])


# --- does the gap close? (gap_trend on synthetic traces) ---------------------------------

TRACE_T = np.geomspace(30.0, 1000.0, 40)
"""Log-spaced times like a default run's slow phase (t ≥ 30 after matching, to t = 1000)."""


def _trend(gap: np.ndarray, t: np.ndarray = TRACE_T) -> theory.GapLevel:
    return gap_trend(t, gap, fit_log_bound_offset(t, gap))


@pytest.mark.parametrize("a", [2.0, 20.0])
def test_a_gap_closing_like_one_over_log_squared_is_closing(a):
    level = _trend(a / np.log(TRACE_T) ** 2)
    assert level.trend is GapTrend.CLOSING and level.change < -0.3
    assert level.plateau_low < 0.05 * a / np.log(1000.0) ** 2 + 1e-6  # no plateau under it
    assert level.sentence().startswith("The gap is closing")


def test_a_gap_that_levels_off_is_reported_with_its_plateau():
    level = _trend(1.0 + 0.5 / np.log(TRACE_T) ** 2)
    assert level.trend is GapTrend.LEVELS_OFF and -0.05 < level.change < 0
    assert level.plateau == pytest.approx(1.0, abs=1e-3) and level.plateau_low <= 1.0 <= level.plateau_high + 1e-6
    assert level.sentence().startswith("The gap is not closing: it levels off at ≈ 1.00 (")


def test_noisy_traces_keep_their_verdicts():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.005, TRACE_T.size)
    assert _trend(1.0 + 0.5 / np.log(TRACE_T) ** 2 + noise).trend is GapTrend.LEVELS_OFF
    assert _trend(5.0 / np.log(TRACE_T) ** 2 + noise).trend is GapTrend.CLOSING
    flat_noise = _trend(0.02 + rng.normal(0.0, 0.02, TRACE_T.size))  # pure noise about a tiny gap
    assert flat_noise.trend is not GapTrend.LEVELS_OFF


def test_a_rising_gap_and_too_short_a_trace_are_not_levelling_off():
    assert _trend(0.5 + 0.1 * np.log(TRACE_T)).trend is GapTrend.RISING
    short = TRACE_T[:4]
    assert gap_trend(short, 1.0 / np.log(short) ** 2).trend is GapTrend.UNCLEAR
    assert gap_trend(TRACE_T, 1.0 + 0.0 * TRACE_T).trend is GapTrend.UNCLEAR  # flat, but no plateau fit to judge


def test_an_exponential_closing_is_at_most_minus_one_hundred_percent():
    level = _trend(0.3 * np.exp(-TRACE_T / 100.0))
    assert level.trend is GapTrend.CLOSING and level.change >= -1.0


# --- Yaras et al. on the default run -----------------------------------------------------


def test_learnable_temperature_grows_and_keeps_growing(runs):
    result = runs["learnable"]
    s = result.logit_scale
    assert s[0] == pytest.approx(1.0)
    assert s[-1] > 30 * s[0]
    slow = result.slow_phase()
    assert slow.sum() >= 15
    assert np.all(np.diff(s[slow]) > 0)  # still growing long after every pair is matched
    assert not result.warnings


def test_bound_check_is_gap_times_log_squared_over_the_slow_phase(runs):
    result = runs["learnable"]
    checks = slow_phase_checks(result)
    slow = result.slow_phase()
    product = result.gap[slow] * np.log(result.t[slow]) ** 2
    assert checks.points == int(slow.sum()) and checks.t_from == result.t[slow][0]
    assert checks.bound_start == pytest.approx(product[0]) and checks.bound_end == pytest.approx(product[-1])
    assert checks.bound_non_decreasing == bool(np.all(np.diff(product) >= 0))
    assert checks.bound_non_decreasing and checks.bound_slope > 0  # Yaras: the gap stays above the bound
    assert np.all(np.diff(result.gap[slow]) < 0) and result.gap[-1] > 0.5 * result.gap[0]  # it closes, barely


def test_on_the_default_run_the_gap_levels_off_so_the_bound_check_is_not_informative(runs):
    """Researchers saw the default gap level off at ≈ 1.0: gap·log²t then grows whatever the bound."""
    checks = slow_phase_checks(runs["learnable"])
    assert checks.level.trend is GapTrend.LEVELS_OFF and 0.9 < checks.level.plateau < 1.1
    assert checks.bound_non_decreasing and not checks.bound_informative
    assert checks.to_json()["bound_informative"] is False and checks.to_json()["level"]["trend"] == "levels off"
    fixed = slow_phase_checks(runs["fixed"])
    assert fixed.level.trend is GapTrend.CLOSING and fixed.bound_informative


def test_throttling_slope_is_about_minus_one(runs):
    """Yaras et al.: (dγ/dt)/(dβ/dt) = dγ/dβ = Θ(1/β), so log|dγ/dβ| against log β has slope −1."""
    result = runs["learnable"]
    checks = slow_phase_checks(result)
    slow = result.slow_phase()
    beta, gap, t = result.logit_scale[slow], result.gap[slow], result.t[slow]
    ratio = (np.diff(gap) / np.diff(t)) / (np.diff(beta) / np.diff(t))
    reference = np.polyfit(np.log(np.sqrt(beta[1:] * beta[:-1])), np.log(np.abs(ratio)), 1)[0]
    assert checks.throttling_slope == pytest.approx(reference)
    assert abs(checks.throttling_slope + 1.0) < 0.5
    assert math.isnan(slow_phase_checks(runs["fixed"]).throttling_slope)  # β does not move


def test_fixed_temperature_closes_the_gap_and_learnable_does_not(runs):
    learnable, softplus, fixed = runs["learnable"], runs["softplus"], runs["fixed"]
    assert fixed.gap[-1] < 0.01 < 0.5 < learnable.gap[-1]
    # Yaras et al.'s table orders the final gap fixed < softplus < learnable
    assert fixed.gap[-1] < softplus.gap[-1] < learnable.gap[-1]
    assert not slow_phase_checks(fixed).bound_non_decreasing


def test_fixed_closes_faster_than_learnable_at_clip_temperature():
    """The ordering does not hinge on starting hot: from CLIP's τ = 0.07 it holds too."""
    learnable = simulate(TheoryConfig(tau0=0.07, steps=20_000))
    fixed = simulate(TheoryConfig(tau0=0.07, steps=20_000, temperature="fixed"))
    assert learnable.tau[-1] < 0.07 / 2
    assert fixed.gap[-1] < learnable.gap[-1] - 0.3


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"n": 1}, "n"),
        ({"d": 1}, "d"),
        ({"mismatch": 1.5}, "mismatch"),
        ({"mismatch": -0.1}, "mismatch"),
        ({"temperature": "scheduled"}, "temperature"),
        ({"tau0": 0.0}, "tau0"),
        ({"tau0": float("nan")}, "tau0"),
        ({"tau0": 1e-5}, "tau0"),
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"lr": -0.1}, "lr"),
        ({"lr": float("inf")}, "lr"),
        ({"seed": -1}, "seed"),
        ({"record_points": 1}, "record_points"),
        ({"snapshot_points": 0}, "snapshot_points"),
        ({"cone_angle": 0.0}, "cone_angle"),
        ({"cone_spread": -1.0}, "cone_spread"),
        ({"max_logit_scale": 0.0}, "max_logit_scale"),
    ],
)
def test_validation_names_each_problem(changes, field):
    cfg = TheoryConfig(**changes)
    problems = cfg.validate()
    assert len(problems) == 1 and problems[0].startswith(field), problems
    assert all("\n" not in problem for problem in problems)
    with pytest.raises(ValueError, match=field):
        simulate(cfg)


def test_validation_lists_every_problem_and_accepts_defaults():
    assert TheoryConfig().validate() == []
    assert len(TheoryConfig(n=0, lr=0.0, mismatch=2.0).validate()) == 3
