"""Verdicts by a stated rule: each claim of a reproduction is judged, never written by hand.

An *effect* is a number per seed whose sign says the paper's direction (e.g. baseline gap −
mitigated gap). Over the seeds it has a mean and a 95% interval (``gapviz.reproduce.stats``):

- **holds**: the mean is in the paper's direction and the interval excludes no effect (0);
- **partial**: the mean is in the paper's direction but the interval includes 0 (or there is one
  seed, so no interval); for a claim made of several parts, some parts hold and some do not;
- **does not hold**: the mean is in the wrong direction (or exactly 0).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from gapviz.reproduce.stats import PairedComparison, SeedStats, paired_comparison, seed_stats, seed_stats_from_json


class Verdict(str, Enum):
    HOLDS = "holds"
    PARTIAL = "partial"
    DOES_NOT_HOLD = "does not hold"


VERDICTS: tuple[Verdict, ...] = tuple(Verdict)
RULE = (
    "holds: the mean effect over seeds is in the paper's direction and its 95% interval excludes no effect; "
    "partial: right direction but the interval includes no effect (or one seed), or some parts of the claim fail; "
    "does not hold: wrong direction."
)


def effect_verdict(effect: SeedStats, direction: int = 1) -> Verdict:
    """The rule for one effect; ``direction`` +1 when the paper says the effect is positive, −1 negative."""
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {direction!r}")
    if not math.isfinite(effect.mean) or effect.mean * direction <= 0:
        return Verdict.DOES_NOT_HOLD
    return Verdict.HOLDS if effect.excludes(0.0) else Verdict.PARTIAL


def combined_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    """All parts hold: holds; none holds and all go the wrong way: does not hold; otherwise partial."""
    parts = list(verdicts)
    if not parts:
        raise ValueError("a combined verdict needs at least one part")
    if all(v == Verdict.HOLDS for v in parts):
        return Verdict.HOLDS
    if all(v == Verdict.DOES_NOT_HOLD for v in parts):
        return Verdict.DOES_NOT_HOLD
    return Verdict.PARTIAL


@dataclass(frozen=True)
class Claim:
    """One judged statement: what it says, the effect (per seed and over seeds) and the verdict."""

    name: str
    statement: str
    verdict: Verdict
    effect: SeedStats | None = None
    p_value: float | None = None
    per_seed: tuple[float, ...] = ()
    paper: str = ""
    parts: tuple[Claim, ...] = field(default=())
    direction: int = 1
    """The paper's sign of the effect: +1 or −1."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "statement": self.statement,
            "verdict": self.verdict.value,
            "paper": self.paper,
            "effect": self.effect.to_json() if self.effect else None,
            "p_value": self.p_value,
            "per_seed": list(self.per_seed),
            "parts": [part.to_json() for part in self.parts],
            "direction": self.direction,
        }


def effect_claim(name: str, statement: str, per_seed: Sequence[Any], direction: int = 1, paper: str = "") -> Claim:
    """A claim about an effect measured once per seed (the sign-flip test against 0 gives the p-value)."""
    values = tuple(float(v) for v in per_seed if v is not None and math.isfinite(float(v)))
    stats = seed_stats(values)
    comparison = paired_comparison(values, [0.0] * len(values))
    return Claim(
        name, statement, effect_verdict(stats, direction), stats, comparison.p_value, values, paper, (), direction
    )


def paired_claim(
    name: str, statement: str, treatment: Sequence[Any], baseline: Sequence[Any], direction: int, paper: str = ""
) -> Claim:
    """A claim that ``treatment`` − ``baseline`` (paired by seed) has the sign ``direction``."""
    comparison: PairedComparison = paired_comparison(treatment, baseline)
    per_seed = tuple(float(a) - float(b) for a, b in zip(treatment, baseline, strict=True) if _both_finite(a, b))
    verdict = effect_verdict(comparison.difference, direction)
    return Claim(name, statement, verdict, comparison.difference, comparison.p_value, per_seed, paper, (), direction)


def all_of(name: str, statement: str, parts: Sequence[Claim], paper: str = "") -> Claim:
    """A claim made of parts, judged by ``combined_verdict``."""
    return Claim(name, statement, combined_verdict(p.verdict for p in parts), paper=paper, parts=tuple(parts))


def count_verdicts(claims: Iterable[Claim]) -> dict[str, int]:
    """How many top-level claims got each verdict (every verdict listed, zeros included)."""
    counts = Counter(c.verdict for c in claims)
    return {v.value: counts.get(v, 0) for v in VERDICTS}


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
    )


def _both_finite(a: Any, b: Any) -> bool:
    try:
        return math.isfinite(float(a)) and math.isfinite(float(b))
    except (TypeError, ValueError):
        return False
