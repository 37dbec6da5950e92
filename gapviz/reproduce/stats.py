"""Statistics over seeds for the reproductions: mean, std and 95% interval, and a paired test.

Pure functions on plain numbers. The interval is Student's t over seeds (mean ± t₀.₉₇₅,ₙ₋₁ · std/√n);
the paired test is the exact sign-flip permutation test on the per-seed differences (every one of
the 2ⁿ sign patterns; Monte Carlo with a fixed seed above ``EXACT_MAX`` seeds). With n seeds its
smallest two-sided p-value is 2/2ⁿ (0.25 for 3 seeds): after a multiple-testing correction it could
never reach 0.05, so the verdicts use the one-sample t-test on the same differences (``t_p_value``:
p < 0.05 exactly when the t-interval excludes 0), Holm-adjusted across the parts of a claim
(``holm_adjust``); the sign-flip p is reported beside it as a check that needs no normality.
``minimum_detectable_effect`` is the power line, and ``proportion_stats`` the logit-scale interval
for recall and accuracy over seeds (it stays inside [0, 1]).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import special as scipy_special
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
EXACT_MAX = 16
"""Up to this many seeds the sign-flip test enumerates every sign pattern."""
MONTE_CARLO_DRAWS = 20_000


@dataclass(frozen=True)
class SeedStats:
    """Mean, sample std and 95% t-interval of one quantity over seeds (lo = hi = NaN for one seed)."""

    n: int
    mean: float
    std: float
    lo: float
    hi: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def excludes(self, value: float = 0.0) -> bool:
        """Whether the interval lies entirely on one side of ``value``."""
        return math.isfinite(self.lo) and (self.lo > value or self.hi < value)


@dataclass(frozen=True)
class PairedComparison:
    """A condition against the baseline, seed by seed: the differences' stats and the test's p-value."""

    difference: SeedStats
    p_value: float

    def to_json(self) -> dict[str, Any]:
        return {"difference": self.difference.to_json(), "p_value": self.p_value}


def seed_stats_from_json(data: Mapping[str, Any]) -> SeedStats:
    """``SeedStats.to_json`` read back (results.json writes NaN as null)."""

    def number(key: str) -> float:
        value = data.get(key)
        return math.nan if value is None else float(value)

    return SeedStats(int(data.get("n", 0)), number("mean"), number("std"), number("lo"), number("hi"))


def finite_values(values: Sequence[Any]) -> np.ndarray:
    """The finite numbers among ``values`` (None, NaN and inf dropped)."""
    out = []
    for value in values:
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out.append(number)
    return np.asarray(out, dtype=np.float64)


@functools.lru_cache(maxsize=256)
def t_quantile(n: int) -> float:
    """The two-sided 95% quantile of Student's t with n - 1 degrees of freedom (nan below 2 samples)."""
    if n < 2:
        return math.nan
    return float(scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))


def seed_stats(values: Sequence[Any]) -> SeedStats:
    """Mean, std (ddof 1) and 95% t-interval of the finite values; NaNs where there are too few."""
    arr = finite_values(values)
    n = int(arr.size)
    if n == 0:
        return SeedStats(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(arr.mean())
    if n == 1:
        return SeedStats(1, mean, 0.0, math.nan, math.nan)
    std = float(arr.std(ddof=1))
    half = t_quantile(n) * std / math.sqrt(n)
    return SeedStats(n, mean, std, mean - half, mean + half)


def sign_flip_p_value(differences: Sequence[float], seed: int = 0) -> float:
    """Two-sided p-value of the paired sign-flip test that the mean difference is 0."""
    diffs = finite_values(differences)
    n = int(diffs.size)
    if n == 0:
        return math.nan
    observed = abs(float(diffs.mean()))
    if n <= EXACT_MAX:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(MONTE_CARLO_DRAWS, n))
    means = np.abs(signs @ diffs) / n
    return float(np.mean(means >= observed - 1e-12 * max(observed, 1.0)))


def paired_comparison(treatment: Sequence[Any], baseline: Sequence[Any]) -> PairedComparison:
    """treatment − baseline seed by seed (pairs where either is missing are dropped)."""
    if len(treatment) != len(baseline):
        raise ValueError(f"paired values need the same seeds, got {len(treatment)} and {len(baseline)}")
    diffs = []
    for a, b in zip(treatment, baseline, strict=True):
        pair = finite_values([a, b])
        if pair.size == 2:
            diffs.append(float(pair[0] - pair[1]))
    return PairedComparison(seed_stats(diffs), sign_flip_p_value(diffs))


ALPHA = 0.05
"""Family-wise error rate of the Holm step and the level of the power line."""
POWER = 0.8
LOGIT_EPS = 1e-3
"""Proportions of exactly 0 or 1 are moved this far inside (0, 1) before the logit."""


def t_p_value(differences: Sequence[Any]) -> float:
    """Two-sided one-sample t-test p-value that the mean difference is 0 (the same t as the interval).

    With the t-interval, p < 0.05 exactly when the 95% interval excludes 0. All differences equal: 0 when
    they are not 0 (no spread, a sure sign), 1 when they are; NaN for fewer than two values."""
    arr = finite_values(differences)
    n = int(arr.size)
    if n < 2:
        return math.nan
    mean, std = float(arr.mean()), float(arr.std(ddof=1))
    if std == 0.0:
        return 0.0 if mean != 0.0 else 1.0
    t = mean / (std / math.sqrt(n))
    return float(2.0 * scipy_stats.t.sf(abs(t), n - 1))


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (NaN stays NaN and does not count in the family).

    Sorted ascending, the i-th (from 0) of m gets max over j ≤ i of min(1, (m − j)·p₍ⱼ₎); a test is
    rejected at family-wise level α when its adjusted p is below α."""
    indexed = [(p, i) for i, p in enumerate(p_values) if p is not None and math.isfinite(p)]
    m = len(indexed)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def minimum_detectable_effect(std: float, n: int, family: int = 1, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest mean effect the paired t-test finds with ``power`` at two-sided level alpha/family over ``n`` seeds.

    (t₁₋α′/₂,ₙ₋₁ + t_power,ₙ₋₁)·sd/√n with α′ = alpha/family (Holm's strictest step, so the bound holds at
    every step); NaN for fewer than two seeds or no spread (all seeds equal: the test has no noise estimate)."""
    if n < 2 or not math.isfinite(std) or std <= 0.0 or family < 1:
        return math.nan
    level = alpha / family
    quantiles = scipy_stats.t.ppf(1.0 - level / 2.0, n - 1) + scipy_stats.t.ppf(power, n - 1)
    return float(quantiles * std / math.sqrt(n))


def proportion_stats(values: Sequence[Any], eps: float = LOGIT_EPS) -> SeedStats:
    """Mean of proportions over seeds with a 95% interval inside [0, 1]: a t-interval on the logit scale, mapped back.

    The mean is the plain mean of the proportions; the interval is widened to contain it when the logit
    scale's centre falls on the other side (skewed values). Values are clipped to [eps, 1 − eps] first."""
    arr = finite_values(values)
    n = int(arr.size)
    plain = seed_stats(arr.tolist())
    if n < 2:
        return plain
    logits = scipy_special.logit(np.clip(arr, eps, 1.0 - eps))
    on_logit = seed_stats(logits.tolist())
    lo, hi = float(scipy_special.expit(on_logit.lo)), float(scipy_special.expit(on_logit.hi))
    return SeedStats(n, plain.mean, plain.std, min(lo, plain.mean), max(hi, plain.mean))
