"""Statistics over seeds for the reproductions: mean, std and 95% interval, and a paired test.

Pure functions on plain numbers. The interval is Student's t over seeds (mean ± t₀.₉₇₅,ₙ₋₁ · std/√n);
the paired test is the exact sign-flip permutation test on the per-seed differences (every one of
the 2ⁿ sign patterns; Monte Carlo with a fixed seed above ``EXACT_MAX`` seeds). With n seeds its
smallest two-sided p-value is 2/2ⁿ (0.25 for 3 seeds), so the verdicts use the interval, and the
p-value is reported beside it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
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
    half = float(scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * std / math.sqrt(n)
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
