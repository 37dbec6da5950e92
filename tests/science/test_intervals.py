"""The interval constructions of gapviz.science.intervals against brute-force references and exact coverage."""

import itertools

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from gapviz.science.intervals import (
    Z95,
    UStatVariance,
    score_interval,
    trace_sigma_squared,
    unified_interval,
    wilson_interval,
)

UNIT = UStatVariance(slope=0.0, floor=1.0)


def _brute_unified(x: float) -> tuple[float, float]:
    """Feldman–Cousins by explicit Neyman construction: solve each μ's likelihood-ratio region with brentq."""

    def region(mu: float) -> tuple[float, float]:
        def log_r(t: float) -> float:
            return -0.5 * (t - mu) ** 2 + 0.5 * (t - max(0.0, t)) ** 2

        def bounds(c: float) -> tuple[float, float]:
            hi = brentq(lambda t: log_r(t) - c, mu, mu + 30)
            lo = -np.inf if log_r(-60) >= c else brentq(lambda t: log_r(t) - c, -60, mu)
            return lo, hi

        c = brentq(lambda c: np.diff(norm.cdf(np.array(bounds(c)) - mu))[0] - 0.95, -50, -1e-12)
        return bounds(c)

    mus = np.linspace(0, x + 6 if x > 0 else 6, 1500)
    accepted = [mu for mu in mus if region(mu)[0] <= x <= region(mu)[1]]
    return min(accepted), max(accepted)


@pytest.mark.slow  # over 2 s: out of the fast lane
@pytest.mark.parametrize("x", [-2.0, 0.0, 1.0, 2.5, 4.0])
def test_unified_interval_equals_the_neyman_construction(x):
    lo, hi = unified_interval(x, UNIT)
    ref = _brute_unified(x)
    assert lo == pytest.approx(ref[0], abs=0.01) and hi == pytest.approx(ref[1], abs=0.01)


@pytest.mark.parametrize("mu", [0.0, 0.7, 3.0])
def test_unified_interval_covers_a_normal_mean_at_95_percent(mu):
    draws = np.random.default_rng(1).normal(mu, 1.0, 2000)
    covered = np.mean([lo <= mu <= hi for lo, hi in (unified_interval(x, UNIT) for x in draws)])
    assert abs(covered - 0.95) < 3 * np.sqrt(0.95 * 0.05 / 2000)


def test_unified_interval_is_never_empty_nor_zero_width_and_holds_its_point():
    for u in np.linspace(-10, 10, 81):
        lo, hi = unified_interval(float(u), UStatVariance(slope=0.3, floor=0.5))
        assert 0.0 <= lo <= max(u, 0.0) <= hi and hi > lo


@pytest.mark.parametrize("u", [-0.02, 0.0, 0.004, 0.05])
def test_score_interval_ends_solve_the_score_equation(u):
    var = UStatVariance(slope=0.01, floor=1e-5)
    lo, hi = score_interval(u, var)
    assert lo <= u <= hi
    for end in (lo, hi):
        assert abs(u - end) == pytest.approx(Z95 * float(var.sd(end)), rel=1e-9)


def test_trace_sigma_squared_equals_its_distinct_index_definition():
    d = np.random.default_rng(2).normal(size=(7, 3)) + 0.3
    n = len(d)
    g = d @ d.T
    pairs = [(i, j) for i, j in itertools.permutations(range(n), 2)]
    a = np.mean([g[i, j] ** 2 for i, j in pairs])
    b = np.mean([g[i, j] * g[i, k] for i, j, k in itertools.permutations(range(n), 3)])
    c = np.mean([g[i, j] * g[k, m] for i, j, k, m in itertools.permutations(range(n), 4)])
    assert trace_sigma_squared(d) == pytest.approx(a - 2 * b + c, rel=1e-9)


def test_trace_sigma_squared_is_unbiased():
    rng = np.random.default_rng(3)
    scales = np.array([2.0, 1.0, 0.5, 0.25])
    mean = np.array([0.5, -0.2, 0.0, 0.1])
    estimates = [trace_sigma_squared(mean + rng.normal(size=(12, 4)) * scales) for _ in range(4000)]
    se = np.std(estimates) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates) - np.sum(scales**4)) < 4 * se


@pytest.mark.parametrize("p,n", [(0.0, 50), (1.0, 50), (0.3, 100), (0.97, 1000)])
def test_wilson_interval_solves_its_score_equation_inside_0_1(p, n):
    lo, hi = wilson_interval(p, n)
    assert 0.0 <= lo <= p <= hi <= 1.0 and hi > lo
    for end in (lo, hi):
        assert (p - end) ** 2 == pytest.approx(Z95**2 * end * (1 - end) / n, abs=1e-12)
