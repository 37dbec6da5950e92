"""The gradient-flow sandbox (gapviz.science.theory): mechanics, then Yaras et al.'s claims on the defaults."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from gapviz.science import theory
from gapviz.science.theory import (
    TheoryConfig,
    caption_assignment,
    contrastive_loss_and_grads,
    fit_exponential,
    fit_inverse_log_squared,
    record_steps,
    simulate,
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
    reference = 0.5 * (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target))
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
    monkeypatch.setattr(theory, "_SEGMENT", False)
    plain = simulate(cfg)
    np.testing.assert_allclose(compiled.gap, plain.gap, atol=1e-10)
    np.testing.assert_allclose(compiled.tau, plain.tau, rtol=1e-10)
    np.testing.assert_allclose(compiled.features[-1][0], plain.features[-1][0], atol=1e-10)


def test_deterministic_by_seed():
    a, b = simulate(SHORT), simulate(SHORT)
    for name in ("t", "gap", "tau", "loss", "matched", "basis", "caption_of"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for (xa, ya), (xb, yb) in zip(a.features, b.features):
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
    for snap, (image, text) in zip(result.snapshots, result.features):
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
    code = "import sys, gapviz.science.theory; print(any(m.startswith(('streamlit', 'gapviz.app', 'torch')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- fits --------------------------------------------------------------------------------


def test_fits_recover_their_own_curves():
    t = np.geomspace(1.0, 1e4, 40)
    slow = 3.0 / np.log(20.0 * t + math.e) ** 2
    fast = 0.8 * np.exp(-0.01 * t)
    inverse_log = fit_inverse_log_squared(t, slow)
    assert inverse_log.r2 > 0.9999 and inverse_log.params["a"] == pytest.approx(3.0, rel=1e-3)
    assert inverse_log.params["log_b"] == pytest.approx(math.log(20.0), abs=1e-3)
    np.testing.assert_allclose(inverse_log.predict(t), slow, rtol=1e-4)
    assert inverse_log.predict(0.0) == pytest.approx(3.0, rel=1e-3)
    assert fit_exponential(t, slow).rmse > 10 * inverse_log.rmse

    exponential = fit_exponential(t, fast)
    assert exponential.r2 > 0.9999 and exponential.params["b"] == pytest.approx(0.01, rel=1e-3)
    assert fit_inverse_log_squared(t, fast).rmse > 10 * exponential.rmse
    with_offset = fit_exponential(t, fast + 0.2, offset=True)
    assert with_offset.params["c"] == pytest.approx(0.2, abs=1e-4)


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        fit_exponential([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 3"):
        fit_inverse_log_squared([1.0, np.nan, 3.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=">= 0"):
        fit_inverse_log_squared([-1.0, 2.0, 3.0], [1.0, 1.0, 1.0])


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


def test_learnable_gap_closes_like_inverse_log_squared_not_exponentially(runs):
    result = runs["learnable"]
    slow = result.slow_phase()
    t, gap = result.t[slow], result.gap[slow]
    assert np.all(np.diff(gap) < 0)  # it does close ...
    assert gap[-1] > 0.5 * result.gap[0]  # ... but barely: the gap persists
    for offset in (False, True):
        inverse_log = fit_inverse_log_squared(t, gap, offset=offset)
        exponential = fit_exponential(t, gap, offset=offset)
        assert inverse_log.rmse < 0.5 * exponential.rmse, (offset, inverse_log, exponential)
        assert inverse_log.r2 > exponential.r2
    assert fit_inverse_log_squared(t, gap).r2 > 0.95


def test_gap_over_temperature_ratio_is_order_one_over_beta(runs):
    """Yaras et al.: (dγ/dt)/(dβ/dt) = Θ(1/β), i.e. β·dγ/dβ stays of one size while β grows."""
    result = runs["learnable"]
    slow = result.slow_phase()
    beta, gap = result.logit_scale[slow], result.gap[slow]
    beta_dgap_dbeta = np.diff(gap) / np.diff(np.log(beta))
    assert np.all(beta_dgap_dbeta < 0)
    assert beta_dgap_dbeta.max() / beta_dgap_dbeta.min() > 0.8  # same sign, within 20 %


def test_fixed_temperature_closes_the_gap_and_learnable_does_not(runs):
    learnable, softplus, fixed = runs["learnable"], runs["softplus"], runs["fixed"]
    assert fixed.gap[-1] < 0.01 < 0.5 < learnable.gap[-1]
    # Yaras et al.'s table orders the final gap fixed < softplus < learnable
    assert fixed.gap[-1] < softplus.gap[-1] < learnable.gap[-1]
    slow = fixed.slow_phase()
    assert fit_exponential(fixed.t[slow], fixed.gap[slow]).rmse < fit_inverse_log_squared(fixed.t[slow], fixed.gap[slow]).rmse


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
