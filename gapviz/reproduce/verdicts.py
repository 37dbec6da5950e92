"""Verdicts by a stated rule: each claim of a reproduction is judged, never written by hand.

An *effect* is a number per seed whose sign says the paper's direction (e.g. baseline gap −
mitigated gap). Over the seeds it has a mean, a 95% t-interval and a two-sided one-sample t-test
p-value (``gapviz.reproduce.stats``); the p-values of every part an experiment tests form one
family and are Holm-adjusted together (``judge_family``), so the experiment's verdict keeps a
family-wise error rate of 0.05 however many parts it has. Four levels:

- **holds**: Holm-adjusted p < 0.05 and the interval excludes 0 in the paper's direction;
- **contradicted**: the same, but against the paper's direction;
- **inconclusive**: otherwise (the interval includes 0, the correction leaves p ≥ 0.05, or one
  seed, labelled "one seed");
- **partial**: a claim of several parts whose verdicts disagree.

The exact sign-flip p is kept as a check that needs no normality; with 3 seeds its smallest value
is 0.25, so it cannot decide a verdict. Each part also carries its minimum detectable effect (80%
power at level 0.05/m), so "inconclusive" says how large an effect could have gone unseen.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from gapviz.reproduce.stats import (
    ALPHA,
    POWER,
    SeedStats,
    finite_values,
    holm_adjust,
    minimum_detectable_effect,
    seed_stats,
    seed_stats_from_json,
    sign_flip_p_value,
    t_p_value,
)


class Verdict(str, Enum):
    HOLDS = "holds"
    PARTIAL = "partial"
    INCONCLUSIVE = "inconclusive"
    CONTRADICTED = "contradicted"


VERDICTS: tuple[Verdict, ...] = tuple(Verdict)
ONE_SEED = "one seed"
RULE = (
    "Each part is an effect measured once per seed, its sign the paper's direction. Its p is the two-sided "
    "one-sample t-test on the per-seed effects (p < 0.05 exactly when the 95% t-interval excludes 0), "
    f"Holm-adjusted across all m parts the experiment tests (family-wise error {ALPHA:g}). "
    f"holds: Holm-adjusted p < {ALPHA:g} and the interval excludes 0 in the paper's direction; "
    "contradicted: the same against the paper's direction; "
    f"inconclusive: otherwise (interval includes 0, adjusted p ≥ {ALPHA:g}, or one seed: labelled '{ONE_SEED}'); "
    "partial: a claim whose parts' verdicts disagree. The exact sign-flip p is printed as a check needing no "
    "normality; with 3 seeds it cannot go below 0.25, so it cannot decide a verdict. "
    f"MDE: the smallest effect the test finds with {POWER:.0%} power at level {ALPHA:g}/m "
    "((t₁₋α/2m,k−1 + t₀.₈,k−1)·sd/√k over k seeds)."
)


def effect_verdict(effect: SeedStats, direction: int = 1, p_adjusted: float | None = None) -> Verdict:
    """The rule for one effect; ``direction`` +1 when the paper says the effect is positive, −1 negative.

    ``p_adjusted`` is the Holm-adjusted p (None: a family of one, where the interval alone decides)."""
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction!r}")
    if effect.n < 2 or not math.isfinite(effect.mean) or not effect.excludes(0.0):
        return Verdict.INCONCLUSIVE
    if p_adjusted is not None and not p_adjusted < ALPHA:
        return Verdict.INCONCLUSIVE
    return Verdict.HOLDS if effect.mean * direction > 0 else Verdict.CONTRADICTED


def combined_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    """The parts' common verdict when they all agree, else partial."""
    parts = list(verdicts)
    if not parts:
        raise ValueError("a combined verdict needs at least one part")
    return parts[0] if all(v == parts[0] for v in parts) else Verdict.PARTIAL


@dataclass(frozen=True)
class Claim:
    """One judged statement: what it says, the effect (per seed and over seeds), its tests and the verdict."""

    name: str
    statement: str
    verdict: Verdict
    effect: SeedStats | None = None
    p_value: float | None = None
    """The exact paired sign-flip p (a check; it does not decide the verdict)."""
    per_seed: tuple[float, ...] = ()
    paper: str = ""
    parts: tuple[Claim, ...] = field(default=())
    direction: int = 1
    """The paper's sign of the effect: +1 or −1."""
    p_t: float | None = None
    """Two-sided one-sample t-test p of the per-seed effects."""
    p_holm: float | None = None
    """``p_t`` Holm-adjusted over the family of ``family`` parts."""
    family: int = 1
    mde: float | None = None
    """Minimum detectable effect (80% power at level 0.05/family)."""

    @property
    def label(self) -> str:
        """The verdict as printed: 'inconclusive (one seed)' for a part measured on one seed."""
        if not self.parts and self.effect is not None and self.effect.n < 2:
            return f"{self.verdict.value} ({ONE_SEED})"
        return self.verdict.value

    def leaves(self) -> list[Claim]:
        """The tested parts under this claim (itself when it has none)."""
        return [leaf for part in self.parts for leaf in part.leaves()] if self.parts else [self]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "statement": self.statement,
            "verdict": self.verdict.value,
            "label": self.label,
            "paper": self.paper,
            "effect": self.effect.to_json() if self.effect else None,
            "p_value": self.p_value,
            "p_t": self.p_t,
            "p_holm": self.p_holm,
            "family": self.family,
            "mde": self.mde,
            "per_seed": list(self.per_seed),
            "parts": [part.to_json() for part in self.parts],
            "direction": self.direction,
        }


def _tested(name: str, statement: str, values: Sequence[float], direction: int, paper: str) -> Claim:
    """A leaf claim judged alone (a family of one) from its per-seed effects."""
    stats = seed_stats(values)
    p_t = _number(t_p_value(values))
    return Claim(
        name,
        statement,
        effect_verdict(stats, direction),
        stats,
        _number(sign_flip_p_value(values)),
        tuple(values),
        paper,
        (),
        direction,
        p_t=p_t,
        p_holm=p_t,
        family=1,
        mde=_number(minimum_detectable_effect(stats.std, stats.n)),
    )


def effect_claim(name: str, statement: str, per_seed: Sequence[Any], direction: int = 1, paper: str = "") -> Claim:
    """A claim about an effect measured once per seed (tested against 0)."""
    return _tested(name, statement, [float(v) for v in finite_values(per_seed)], direction, paper)


def paired_claim(
    name: str, statement: str, treatment: Sequence[Any], baseline: Sequence[Any], direction: int, paper: str = ""
) -> Claim:
    """A claim that ``treatment`` − ``baseline`` (paired by seed; pairs missing a side dropped) has ``direction``."""
    if len(treatment) != len(baseline):
        raise ValueError(f"paired values need the same seeds, got {len(treatment)} and {len(baseline)}")
    per_seed = [float(a) - float(b) for a, b in zip(treatment, baseline, strict=True) if _both_finite(a, b)]
    return _tested(name, statement, per_seed, direction, paper)


def judge_family(claims: Sequence[Claim]) -> list[Claim]:
    """``claims`` with every leaf re-judged on its Holm-adjusted p over all leaves, and parents recombined."""
    leaves = [leaf for claim in claims for leaf in claim.leaves()]
    adjusted = holm_adjust([leaf.p_t if leaf.p_t is not None else math.nan for leaf in leaves])
    family = sum(math.isfinite(p) for p in adjusted)
    judged = {}
    for leaf, p_holm in zip(leaves, adjusted, strict=True):
        p = _number(p_holm)
        stats = leaf.effect or seed_stats([])
        verdict = effect_verdict(stats, leaf.direction, 1.0 if p is None else p)
        mde = _number(minimum_detectable_effect(stats.std, stats.n, max(family, 1)))
        judged[id(leaf)] = replace(leaf, verdict=verdict, p_holm=p, family=max(family, 1), mde=mde)
    return [_rebuild(claim, judged) for claim in claims]


def _rebuild(claim: Claim, judged: Mapping[int, Claim]) -> Claim:
    if not claim.parts:
        return judged[id(claim)]
    parts = tuple(_rebuild(part, judged) for part in claim.parts)
    return replace(claim, parts=parts, verdict=combined_verdict(p.verdict for p in parts))


def all_of(name: str, statement: str, parts: Sequence[Claim], paper: str = "") -> Claim:
    """A claim made of parts: Holm across its parts, then ``combined_verdict``."""
    judged = tuple(judge_family(parts))
    return Claim(name, statement, combined_verdict(p.verdict for p in judged), paper=paper, parts=judged)


def count_verdicts(claims: Iterable[Claim]) -> dict[str, int]:
    """How many top-level claims got each verdict (every verdict listed, zeros included)."""
    counts = Counter(c.verdict for c in claims)
    return {v.value: counts.get(v, 0) for v in VERDICTS}


def power_line(claims: Sequence[Claim]) -> str:
    """One sentence: the seeds, the family size and the range of minimum detectable effects of the tested parts."""
    leaves = [leaf for claim in claims for leaf in claim.leaves()]
    seeds = sorted({leaf.effect.n for leaf in leaves if leaf.effect is not None})
    mdes = [leaf.mde for leaf in leaves if leaf.mde is not None and math.isfinite(leaf.mde)]
    family = max((leaf.family for leaf in leaves), default=1)
    head = (
        f"{len(leaves)} tested parts (Holm family m = {family}) on {'/'.join(map(str, seeds)) or 0} seeds each. "
        f"With {POWER:.0%} power at level {ALPHA:g}/{family} a part detects a mean effect of at least its MDE"
    )
    if not mdes:
        return head + f": none can be computed ({ONE_SEED} or no spread), so every inconclusive part says nothing."
    return (
        head + f": here {min(mdes):.3g} to {max(mdes):.3g} in the effect's own units (column MDE); "
        "an inconclusive part leaves effects smaller than its MDE unseen."
    )


def claim_from_json(data: Mapping[str, Any]) -> Claim:
    """The inverse of ``Claim.to_json`` (reports are regenerated from results.json)."""
    effect = seed_stats_from_json(data["effect"]) if data.get("effect") else None
    return Claim(
        data["name"],
        data["statement"],
        Verdict(data["verdict"]),
        effect,
        data.get("p_value"),
        tuple(data.get("per_seed", ())),
        data.get("paper", ""),
        tuple(claim_from_json(p) for p in data.get("parts", ())),
        int(data.get("direction", 1)),
        p_t=data.get("p_t"),
        p_holm=data.get("p_holm"),
        family=int(data.get("family", 1)),
        mde=data.get("mde"),
    )


def _number(value: float) -> float | None:
    """None for NaN (results.json writes NaN as null, so a claim read back compares equal)."""
    return None if value is None or not math.isfinite(value) else float(value)


def _both_finite(a: Any, b: Any) -> bool:
    try:
        return math.isfinite(float(a)) and math.isfinite(float(b))
    except (TypeError, ValueError):
        return False
