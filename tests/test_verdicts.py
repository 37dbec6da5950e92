"""Seed statistics and verdicts by rule (gapviz.reproduce.stats / verdicts), on made-up results.

Each of the three verdicts is produced from made-up per-seed numbers, both by the rule itself and
through the experiments' claim builders, and the statistics are checked against scipy.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from gapviz.reproduce.experiments import mismatch, mitigations, theory
from gapviz.reproduce.report import claim_rows, render_markdown, summary_table
from gapviz.reproduce.stats import paired_comparison, seed_stats, sign_flip_p_value
from gapviz.reproduce.verdicts import (
    RULE,
    Verdict,
    all_of,
    claim_from_json,
    combined_verdict,
    count_verdicts,
    effect_claim,
    effect_verdict,
    paired_claim,
)

HOLDS = [0.30, 0.31, 0.29]
"""Clearly positive: the interval excludes 0."""
PARTIAL = [0.30, -0.05, 0.02]
"""Positive mean, but the interval includes 0."""
WRONG = [-0.10, -0.12, -0.08]
"""Negative: the wrong way for a claim of a positive effect."""


def test_seed_stats_match_scipy_t_interval():
    values = [0.2, 0.35, 0.31, 0.18]
    stats = seed_stats(values)
    lo, hi = scipy_stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert (stats.n, stats.mean, stats.std) == (
        4,
        pytest.approx(np.mean(values)),
        pytest.approx(np.std(values, ddof=1)),
    )
    assert (stats.lo, stats.hi) == (pytest.approx(lo), pytest.approx(hi))
    one = seed_stats([0.5, None, float("nan")])
    assert one.n == 1 and one.std == 0.0 and math.isnan(one.lo) and not one.excludes(0.0)
    assert seed_stats([]).n == 0 and math.isnan(seed_stats([]).mean)


@pytest.mark.parametrize("diffs", [[0.3, 0.1, 0.2], [0.3, -0.1, 0.2, 0.05], [1.0, -2.0, 0.5, 0.5, 0.25]])
def test_sign_flip_p_value_matches_scipy_permutation_test(diffs):
    reference = scipy_stats.permutation_test(
        (np.asarray(diffs),), np.mean, permutation_type="samples", alternative="two-sided", n_resamples=np.inf
    ).pvalue
    assert sign_flip_p_value(diffs) == pytest.approx(reference)


def test_paired_comparison_pairs_by_seed_and_drops_missing():
    comparison = paired_comparison([0.5, 0.6, None, 0.7], [0.4, 0.4, 0.3, 0.4])
    assert comparison.difference.n == 3
    assert comparison.difference.mean == pytest.approx(np.mean([0.1, 0.2, 0.3]))
    assert comparison.p_value == pytest.approx(sign_flip_p_value([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="same seeds"):
        paired_comparison([1.0], [1.0, 2.0])


@pytest.mark.parametrize(
    ("values", "direction", "expected"),
    [
        (HOLDS, 1, Verdict.HOLDS),
        (PARTIAL, 1, Verdict.PARTIAL),
        (WRONG, 1, Verdict.DOES_NOT_HOLD),
        ([-v for v in HOLDS], -1, Verdict.HOLDS),
        ([-v for v in PARTIAL], -1, Verdict.PARTIAL),
        (HOLDS, -1, Verdict.DOES_NOT_HOLD),
        ([0.3], 1, Verdict.PARTIAL),  # one seed: no interval
        ([0.0, 0.0, 0.0], 1, Verdict.DOES_NOT_HOLD),  # no effect at all
    ],
)
def test_effect_verdict_follows_the_rule(values, direction, expected):
    stats = seed_stats(values)
    assert effect_verdict(stats, direction) == expected
    right_way = stats.mean * direction > 0
    assert (expected == Verdict.DOES_NOT_HOLD) == (not right_way)
    assert (expected == Verdict.HOLDS) == (right_way and stats.excludes(0.0))
    assert effect_claim("c", "s", values, direction).verdict == expected


def test_combined_verdict():
    h, p, d = Verdict.HOLDS, Verdict.PARTIAL, Verdict.DOES_NOT_HOLD
    assert combined_verdict([h, h]) == h
    assert combined_verdict([h, d]) == p  # some parts fail
    assert combined_verdict([p, p]) == p
    assert combined_verdict([d, d]) == d
    with pytest.raises(ValueError):
        combined_verdict([])
    assert all_of("x", "y", [effect_claim("a", "", HOLDS), effect_claim("b", "", WRONG)]).verdict == p


def test_paired_claim_each_verdict():
    baseline = [0.40, 0.42, 0.38]
    lower = [b - v for b, v in zip(baseline, HOLDS, strict=True)]
    assert paired_claim("gap", "", lower, baseline, -1).verdict == Verdict.HOLDS
    assert (
        paired_claim("gap", "", [b - v for b, v in zip(baseline, PARTIAL, strict=True)], baseline, -1).verdict
        == Verdict.PARTIAL
    )
    assert (
        paired_claim("gap", "", [b - v for b, v in zip(baseline, WRONG, strict=True)], baseline, -1).verdict
        == Verdict.DOES_NOT_HOLD
    )


def _mitigation_rows(gap_shift: list[float], r1_shift: list[float]) -> list[dict]:
    rows = []
    for seed in range(3):
        base = {"gap": 0.4 + 0.01 * seed, "i2t_r1": 0.1 + 0.01 * seed, "t2i_r1": 0.1}
        rows.append({"variant": "learnable", "seed": seed, **base})
        rows.append(
            {
                "variant": "fixed τ",
                "seed": seed,
                "gap": base["gap"] + gap_shift[seed],
                "i2t_r1": base["i2t_r1"] + r1_shift[seed],
                "t2i_r1": base["t2i_r1"] - r1_shift[seed],
            }
        )
    return rows


def test_mitigation_claims_one_verdict_per_variant_and_metric():
    claims = mitigations.variant_claims(_mitigation_rows([-v for v in HOLDS], PARTIAL))
    verdicts = {c.name: c.verdict for c in claims}
    assert verdicts == {
        "fixed τ: smaller gap": Verdict.HOLDS,  # gap lower on every seed
        "fixed τ: higher R@1 image→text": Verdict.PARTIAL,
        "fixed τ: higher R@1 text→image": Verdict.DOES_NOT_HOLD,  # the mirror image of PARTIAL: wrong way
    }
    assert claims[0].per_seed == pytest.approx(tuple(-v for v in HOLDS))


def test_mismatch_claims_compare_each_fraction_by_seed():
    per_run = [
        {"mismatch": f, "seed": s, "gap": 0.3 + g[s]}
        for s in range(3)
        for f, g in ((0.0, [0, 0, 0]), (0.1, HOLDS), (0.3, [h + w for h, w in zip(HOLDS, WRONG, strict=True)]))
    ]
    verdicts = [c.verdict for c in mismatch.fraction_claims(per_run)]
    assert verdicts == [Verdict.HOLDS, Verdict.DOES_NOT_HOLD, Verdict.HOLDS]


def _theory_run(temperature: str, seed: int, gap_end: float, non_decreasing: bool, slope: float) -> dict:
    checks = {
        "bound_non_decreasing": non_decreasing,
        "bound_slope": 1.0 if non_decreasing else -1.0,
        "throttling_slope": slope,
    }
    return {
        "temperature": temperature,
        "mismatch": theory.DEFAULT_MISMATCH,
        "seed": seed,
        "gap_end": gap_end,
        "checks": checks,
    }


def test_theory_claims_each_verdict():
    runs = [_theory_run("learnable", s, 1.0, True, -1.0 + 0.05 * s) for s in range(3)]
    runs += [_theory_run("fixed", s, 0.12 if s == 0 else 0.001, False, math.nan) for s in range(3)]
    probe = [
        {"setting": name, "seed": s, "gap_no_mismatch": 0.7, "gap_mismatch": 0.7 + shift[s]}
        for name, shift in (("a", HOLDS), ("b", WRONG))
        for s in range(3)
    ]
    verdicts = {c.name: c.verdict for c in theory.theory_claims(runs, probe)}
    assert verdicts["bound: gap·log²t does not fall"] == Verdict.HOLDS
    assert verdicts["throttling: dγ/dβ ∝ 1/β"] == Verdict.HOLDS
    assert verdicts["fixed τ closes the gap"] == Verdict.PARTIAL  # one seed stays open: the interval includes 0
    assert verdicts["mismatch leaves a larger gap"] == Verdict.PARTIAL  # setting a holds, b goes the wrong way
    shallow = [_theory_run("learnable", s, 1.0, False, -3.0) for s in range(3)] + runs[3:]
    assert {c.name: c.verdict for c in theory.theory_claims(shallow, probe)}[
        "throttling: dγ/dβ ∝ 1/β"
    ] == Verdict.PARTIAL


def test_report_counts_and_prints_every_verdict():
    claims = [effect_claim("up", "", HOLDS), effect_claim("maybe", "", PARTIAL), effect_claim("down", "", WRONG)]
    results = {
        "experiment": "made-up",
        "title": "Made up",
        "scale": "small",
        "claim": "c",
        "paper": "p",
        "seeds": 3,
        "rule": RULE,
        "verdict": combined_verdict(c.verdict for c in claims).value,
        "verdict_counts": count_verdicts(claims),
        "claims": json.loads(json.dumps([c.to_json() for c in claims])),
        "summary": "s",
        "differences": ["one difference"],
        "measured": {},
        "runs": {"k": "run-1"},
        "group": "reproduce-made-up-small",
        "train_seconds": 1.0,
        "generated_at": "now",
        "note": "",
    }
    assert (
        results["verdict_counts"] == {"holds": 1, "partial": 1, "does not hold": 1} and results["verdict"] == "partial"
    )
    text = render_markdown(results, pd.DataFrame(), [])
    assert RULE in text and "compare?group=reproduce-made-up-small" in text and "- one difference" in text
    assert [r["verdict"] for r in claim_rows(results["claims"])] == ["**holds**", "**partial**", "**does not hold**"]
    assert "| made-up | 3 | partial | 1 | 1 | 1 |" in summary_table([results])
    assert [claim_from_json(c) for c in results["claims"]] == claims
