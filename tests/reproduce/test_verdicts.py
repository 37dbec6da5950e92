"""Seed statistics and verdicts by rule (gapviz.reproduce.stats / verdicts), on made-up results.

Each of the four verdicts is produced from made-up per-seed numbers, both by the rule itself and
through the experiments' claim builders, and the statistics are checked against scipy.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from gapviz.reproduce.experiments import cone, mismatch, mitigations, procrustes, theory
from gapviz.reproduce.report import claim_rows, format_number, render_markdown, summary_table
from gapviz.reproduce.stats import (
    holm_adjust,
    minimum_detectable_effect,
    paired_comparison,
    proportion_stats,
    seed_stats,
    sign_flip_p_value,
    t_p_value,
)
from gapviz.reproduce.verdicts import (
    ONE_SEED,
    RULE,
    Verdict,
    all_of,
    claim_from_json,
    combined_verdict,
    count_verdicts,
    effect_claim,
    effect_verdict,
    judge_family,
    paired_claim,
    power_line,
)

HOLDS = [0.30, 0.31, 0.29]
"""Clearly positive: the interval excludes 0."""
PARTIAL = [0.30, -0.05, 0.02]
"""Positive mean, but the interval includes 0."""
NULL = [0.01, -0.02, 0.012]
"""No effect: a mean near 0, the interval includes 0."""
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


def test_t_p_value_matches_scipy_and_the_interval():
    for values in ([0.3, 0.1, 0.2], [0.3, -0.1, 0.2, 0.05], PARTIAL, WRONG):
        reference = scipy_stats.ttest_1samp(values, 0.0).pvalue
        assert t_p_value(values) == pytest.approx(reference)
        assert (t_p_value(values) < 0.05) == seed_stats(values).excludes(0.0)
    assert t_p_value([1.0, 1.0, 1.0]) == 0.0 and t_p_value([0.0, 0.0]) == 1.0  # no spread
    assert t_p_value([0.2, 0.2, 0.2]) < 1e-10
    assert math.isnan(t_p_value([0.4]))


def test_sign_flip_cannot_decide_with_three_seeds():
    assert sign_flip_p_value(HOLDS) == pytest.approx(0.25)  # the smallest p three seeds allow: 2 / 2³
    assert t_p_value(HOLDS) < 0.001


def test_holm_adjustment_matches_a_hand_computation():
    # sorted: 0.005 (×4 = 0.02), 0.01 (×3 = 0.03), 0.03 (×2 = 0.06), 0.04 (×1 = 0.04, raised to 0.06 by monotonicity)
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm_adjust([0.02, math.nan, 0.5])  # NaN is kept and not counted: m = 2
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.5)
    assert holm_adjust([0.2, 0.9]) == pytest.approx([0.4, 0.9]) and holm_adjust([0.9, 0.8]) == [1.0, 1.0]


def test_minimum_detectable_effect_by_hand():
    by_hand = (scipy_stats.t.ppf(0.975, 2) + scipy_stats.t.ppf(0.8, 2)) * 0.1 / math.sqrt(3)
    assert minimum_detectable_effect(0.1, 3) == pytest.approx(by_hand) == pytest.approx(0.30966, rel=1e-4)
    holm = (scipy_stats.t.ppf(1 - 0.05 / 12, 2) + scipy_stats.t.ppf(0.8, 2)) * 0.1 / math.sqrt(3)
    assert minimum_detectable_effect(0.1, 3, family=6) == pytest.approx(holm)
    assert minimum_detectable_effect(0.1, 10) < minimum_detectable_effect(0.1, 3)
    assert math.isnan(minimum_detectable_effect(0.1, 1))
    assert math.isnan(minimum_detectable_effect(0.0, 3))  # all seeds equal: no noise estimate


def test_proportion_interval_stays_inside_0_1_and_contains_the_mean():
    low = [0.0, 0.02, 0.1]  # the t-interval of these goes below 0
    assert seed_stats(low).lo < 0
    stats = proportion_stats(low)
    assert 0.0 <= stats.lo <= stats.mean <= stats.hi <= 1.0 and stats.mean == pytest.approx(0.04)
    high = proportion_stats([0.97, 0.99, 1.0])
    assert 0.0 <= high.lo <= high.mean <= high.hi <= 1.0
    middle = proportion_stats([0.4, 0.5, 0.6])  # far from the bounds: close to Student's t
    assert (middle.lo, middle.hi) == pytest.approx(
        (seed_stats([0.4, 0.5, 0.6]).lo, seed_stats([0.4, 0.5, 0.6]).hi), abs=0.05
    )
    assert math.isnan(proportion_stats([0.3]).lo)


@pytest.mark.parametrize(
    ("values", "direction", "expected"),
    [
        (HOLDS, 1, Verdict.HOLDS),  # a clear effect the paper's way
        (NULL, 1, Verdict.INCONCLUSIVE),  # no effect: the interval includes 0
        (PARTIAL, 1, Verdict.INCONCLUSIVE),  # the right sign, but the interval includes 0
        (WRONG, 1, Verdict.CONTRADICTED),  # a clear effect against the paper
        ([-v for v in HOLDS], -1, Verdict.HOLDS),
        ([-v for v in PARTIAL], -1, Verdict.INCONCLUSIVE),
        (HOLDS, -1, Verdict.CONTRADICTED),
        ([0.3], 1, Verdict.INCONCLUSIVE),  # one seed: no interval
        ([0.0, 0.0, 0.0], 1, Verdict.INCONCLUSIVE),  # no effect at all
    ],
)
def test_effect_verdict_follows_the_rule(values, direction, expected):
    stats = seed_stats(values)
    assert effect_verdict(stats, direction) == expected
    assert (expected == Verdict.HOLDS) == (stats.mean * direction > 0 and stats.excludes(0.0))
    assert (expected == Verdict.CONTRADICTED) == (stats.mean * direction < 0 and stats.excludes(0.0))
    claim = effect_claim("c", "s", values, direction)
    assert claim.verdict == expected and claim.p_holm == claim.p_t and claim.family == 1
    assert claim.label == (f"inconclusive ({ONE_SEED})" if len(values) == 1 else expected.value)


def test_holm_turns_a_lone_significant_part_inconclusive_in_a_large_family():
    marginal = [0.30, 0.25, 0.35]  # t-test p = 0.0091 alone
    assert t_p_value(marginal) == pytest.approx(0.00913, rel=1e-2)
    small = judge_family([effect_claim("m", "", marginal)] + [effect_claim(f"n{i}", "", NULL) for i in range(2)])
    assert small[0].verdict == Verdict.HOLDS and small[0].p_holm == pytest.approx(3 * t_p_value(marginal))
    large = judge_family([effect_claim("m", "", marginal)] + [effect_claim(f"n{i}", "", NULL) for i in range(5)])
    assert large[0].verdict == Verdict.INCONCLUSIVE and large[0].p_holm == pytest.approx(6 * t_p_value(marginal))
    assert large[0].family == 6 and large[0].mde == pytest.approx(
        minimum_detectable_effect(seed_stats(marginal).std, 3, family=6)
    )
    assert all(c.verdict == Verdict.INCONCLUSIVE for c in large[1:])  # nulls stay inconclusive


def test_null_family_is_all_inconclusive_and_wrong_way_effects_are_contradicted():
    rng = np.random.default_rng(7)
    nulls = [effect_claim(f"n{i}", "", rng.normal(0.0, 1.0, 3)) for i in range(18)]
    judged = judge_family(nulls)
    assert sum(c.verdict != Verdict.INCONCLUSIVE for c in judged) == 0  # 18 null parts, none decided
    assert combined_verdict(c.verdict for c in judged) == Verdict.INCONCLUSIVE
    wrong = judge_family([effect_claim("w", "", [-0.30, -0.31, -0.29]), effect_claim("n", "", NULL)])
    assert [c.verdict for c in wrong] == [Verdict.CONTRADICTED, Verdict.INCONCLUSIVE]


def test_combined_verdict():
    h, p, i, c = Verdict.HOLDS, Verdict.PARTIAL, Verdict.INCONCLUSIVE, Verdict.CONTRADICTED
    assert combined_verdict([h, h]) == h
    assert combined_verdict([c, c]) == c
    assert combined_verdict([i, i]) == i
    assert combined_verdict([h, c]) == p  # parts disagree
    assert combined_verdict([h, i]) == p
    assert combined_verdict([p, p]) == p
    with pytest.raises(ValueError):
        combined_verdict([])
    assert all_of("x", "y", [effect_claim("a", "", HOLDS), effect_claim("b", "", WRONG)]).verdict == p
    assert all_of("x", "y", [effect_claim("a", "", WRONG), effect_claim("b", "", WRONG)]).verdict == c


def test_paired_claim_each_verdict():
    baseline = [0.40, 0.42, 0.38]
    lower = [b - v for b, v in zip(baseline, HOLDS, strict=True)]
    assert paired_claim("gap", "", lower, baseline, -1).verdict == Verdict.HOLDS
    assert (
        paired_claim("gap", "", [b - v for b, v in zip(baseline, PARTIAL, strict=True)], baseline, -1).verdict
        == Verdict.INCONCLUSIVE
    )
    assert (
        paired_claim("gap", "", [b - v for b, v in zip(baseline, WRONG, strict=True)], baseline, -1).verdict
        == Verdict.CONTRADICTED
    )
    with pytest.raises(ValueError, match="same seeds"):
        paired_claim("gap", "", [1.0], [1.0, 2.0], 1)


def test_power_line_names_the_family_and_the_mde_range():
    claims = judge_family([effect_claim("a", "", HOLDS), effect_claim("b", "", PARTIAL)])
    line = power_line(claims)
    mdes = [c.mde for c in claims]
    assert "m = 2" in line and "3 seeds" in line and f"{min(mdes):.3g} to {max(mdes):.3g}" in line
    assert ONE_SEED in power_line(judge_family([effect_claim("a", "", [0.3])]))


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
        "fixed τ: higher R@1 image→text": Verdict.INCONCLUSIVE,
        "fixed τ: higher R@1 text→image": Verdict.INCONCLUSIVE,  # the mirror image: wrong sign, interval includes 0
    }
    assert claims[0].per_seed == pytest.approx(tuple(-v for v in HOLDS))
    assert mitigations._paper_text("fixed τ", "i2t_r1") == "0.734 vs 0.682"  # recall as fractions, like ours


def test_mismatch_claims_compare_each_fraction_by_seed():
    per_run = [
        {"mismatch": f, "seed": s, "gap": 0.3 + g[s], "tau": 0.02}
        for s in range(3)
        for f, g in ((0.0, [0, 0, 0]), (0.1, HOLDS), (0.3, [h + w for h, w in zip(HOLDS, WRONG, strict=True)]))
    ]
    verdicts = [c.verdict for c in mismatch.fraction_claims(per_run)]
    assert verdicts == [Verdict.HOLDS, Verdict.CONTRADICTED, Verdict.HOLDS]


def test_mismatch_text_says_what_tau_did():
    def runs(tau_shift):
        return [
            {"mismatch": f, "seed": s, "tau": 0.02 + (tau_shift[s] if f == 0.3 else 0.0)}
            for s in range(3)
            for f in mismatch.FRACTIONS
        ]

    rises = " ".join(mismatch.tau_sentences(runs([0.05, 0.06, 0.055])))
    assert "Final τ rises with mismatch" in rises and "does not explain" in rises
    falls = " ".join(mismatch.tau_sentences(runs([-0.005, -0.006, -0.0055])))
    assert "Final τ falls with mismatch" in falls and "as the paper's mechanism" in falls
    unclear = " ".join(mismatch.tau_sentences(runs([0.01, -0.01, 0.001])))
    assert "does not change detectably" in unclear and "cannot say" in unclear


def _theory_run(temperature: str, seed: int, gap_end: float, non_decreasing: bool, slope: float, mismatch=None):
    checks = {
        "bound_non_decreasing": non_decreasing,
        "bound_slope": 1.0 if non_decreasing else -1.0,
        "throttling_slope": slope,
    }
    return {
        "temperature": temperature,
        "mismatch": theory.DEFAULT_MISMATCH if mismatch is None else mismatch,
        "seed": seed,
        "gap_end": gap_end,
        "checks": checks,
    }


def test_theory_claims_each_verdict():
    runs = [_theory_run("learnable", s, 1.0, True, -1.0 + 0.05 * s) for s in range(3)]
    runs += [_theory_run("fixed", s, 0.12 if s == 0 else 0.001, False, math.nan) for s in range(3)]
    closing = [_theory_run("learnable", s, 0.1, False, -1.0, mismatch=0.0) for s in range(3)]
    probe = [
        {"setting": name, "seed": s, "gap_no_mismatch": 0.7, "gap_mismatch": 0.7 + shift[s]}
        for name, shift in (("a", HOLDS), ("b", WRONG))
        for s in range(3)
    ]
    verdicts = {c.name: c.verdict for c in theory.theory_claims(runs + closing, probe)}
    assert verdicts["bound: mismatch keeps gap·log²t from falling"] == Verdict.HOLDS  # it falls without mismatch
    assert verdicts["throttling: dγ/dβ ∝ 1/β"] == Verdict.HOLDS
    assert verdicts["fixed τ closes the gap"] == Verdict.INCONCLUSIVE  # one seed stays open: the interval includes 0
    assert verdicts["mismatch leaves a larger gap"] == Verdict.PARTIAL  # setting a holds, b is contradicted
    shallow = [_theory_run("learnable", s, 1.0, False, -3.0) for s in range(3)] + runs[3:] + closing
    assert {c.name: c.verdict for c in theory.theory_claims(shallow, probe)}[
        "throttling: dγ/dβ ∝ 1/β"
    ] == Verdict.PARTIAL  # negative holds, "about −1" is contradicted


def test_theory_bound_check_does_not_separate_mismatch_zero_from_itself():
    """The bound check passes at mismatch 0 too, so against runs that behave the same it must decide nothing."""
    same = [_theory_run("learnable", s, 1.0, True, -1.0, mismatch=0.0) for s in range(3)]
    same += [_theory_run("learnable", s, 1.0, True, -1.0) for s in range(3)]
    fixed = [_theory_run("fixed", s, 0.0, False, -1.0) for s in range(3)]
    probe = [{"setting": "a", "seed": s, "gap_no_mismatch": 0.7, "gap_mismatch": 0.7 + HOLDS[s]} for s in range(3)]
    claims = {c.name: c for c in theory.theory_claims(same + fixed, probe)}
    bound = claims["bound: mismatch keeps gap·log²t from falling"]
    assert bound.verdict == Verdict.INCONCLUSIVE and all(p.effect.mean == 0 for p in bound.parts)


def test_cone_own_cone_uses_one_value_per_disjoint_seed_pair():
    runs = [{"arch": "a", "seed": s, "cone_image": 0.9, "cone_text": 0.8} for s in range(6)]
    centroids = {}
    rng = np.random.default_rng(0)
    for s in range(6):
        centroids[f"a seed={s}"] = ("a", s, {"image": rng.normal(size=16), "text": rng.normal(size=16)})
    cross = cone._cross_seed(runs, centroids)
    assert len(cross) == 15 * 2  # every pair of 6 seeds, both modalities
    margins = cone.pair_margins(cross, "a")
    assert len(margins) == 3  # pairs 0–1, 2–3, 4–5: no seed in two values
    first = [c for c in cross if (c["seed_a"], c["seed_b"]) == (0, 1)]
    assert margins[0] == pytest.approx(min(cone.CROSS_RATIO_MAX * c["within"] - abs(c["cosine"]) for c in first))
    assert cone.CONE_MIN == 0.7 and len(cone.plan("tiny", seeds=3)) == 6


def test_procrustes_reopening_is_a_fraction_of_the_plain_gap():
    by = {("plain", s): {"gap_final": 0.4} for s in range(3)}
    by.update({("procrustes", s): {"gap_final": g} for s, g in enumerate((0.36, 0.38, 0.34))})
    assert procrustes.reopened_fractions(by, [0, 1, 2]) == pytest.approx([0.9, 0.95, 0.85])
    by[("plain", 2)] = {"gap_final": 0.0}  # an unbiased gap can be 0 or below: no fraction
    assert math.isnan(procrustes.reopened_fractions(by, [2])[0])
    assert procrustes.REOPEN_MIN == 0.5 and procrustes.PAPER_REOPENED == pytest.approx(0.915, abs=1e-3)


def _report_results(claims):
    judged = judge_family(claims)
    return {
        "experiment": "made-up",
        "title": "Made up",
        "scale": "small",
        "claim": "c",
        "paper": "p",
        "seeds": 3,
        "rule": RULE,
        "verdict": combined_verdict(c.verdict for c in judged).value,
        "verdict_counts": count_verdicts(judged),
        "claims": json.loads(json.dumps([c.to_json() for c in judged])),
        "power": power_line(judged),
        "summary": "s",
        "differences": ["one difference"],
        "measured": {"gap_estimator": "gap_distance_unbiased"},
        "runs": {"k": "run-1"},
        "group": "reproduce-made-up-small",
        "train_seconds": 1.0,
        "generated_at": "now",
        "note": "",
    }, judged


def test_report_counts_and_prints_every_verdict():
    claims = [
        effect_claim("up", "", HOLDS),
        effect_claim("maybe", "", PARTIAL),
        effect_claim("down", "", WRONG),
        all_of("mixed", "", [effect_claim("a", "", HOLDS), effect_claim("b", "", [0.2])]),
    ]
    results, judged = _report_results(claims)
    assert results["verdict_counts"] == {"holds": 1, "partial": 1, "inconclusive": 1, "contradicted": 1}
    assert results["verdict"] == "partial"
    text = render_markdown(results, pd.DataFrame(), [])
    assert RULE in text and "compare?group=reproduce-made-up-small" in text and "- one difference" in text
    assert f"**Power.** {results['power']}" in text and "the debiased gap √max(0, U)" in text
    rows = claim_rows(results["claims"])
    assert [r["verdict"] for r in rows] == [
        "**holds**",
        "**inconclusive**",
        "**contradicted**",
        "**partial**",
        "holds",
        f"inconclusive ({ONE_SEED})",
    ]
    up = judged[0]
    assert rows[0]["p (t)"] == format_number(up.p_t) and rows[0]["p Holm (t)"] == format_number(up.p_holm)
    assert up.p_holm == pytest.approx(holm_adjust([c.p_t for c in judged[:3]] + [up.p_t, math.nan])[0])
    assert rows[0]["MDE (80% power)"] == format_number(up.mde) and rows[3]["p (t)"] == ""  # a parent has no test
    assert rows[5]["p (t)"] == "–"  # one seed: no t-test
    assert "| made-up | 3 | partial | 1 | 1 | 1 | 1 |" in summary_table([results])
    assert [claim_from_json(c) for c in results["claims"][:3]] == judged[:3]
    mixed = claim_from_json(results["claims"][3])  # its one-seed part has a NaN interval, so compare what it says
    assert [(p.label, p.p_holm, p.family) for p in mixed.parts] == [
        (p.label, p.p_holm, p.family) for p in judged[3].parts
    ]
