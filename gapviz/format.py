"""How a measured value is written for people: with its 95% interval, and with the warnings it needs.

Pure text helpers (no Streamlit), shared by the app pages and `gapviz analyze`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from gapviz.science import catalog

NULL_FLOOR_MARK = "≈ 0"
"""Appended to a gap at or below its permutation null floor (gap_null95)."""


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def number(value: Any, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals, or "—" when it is missing or not finite."""
    return f"{float(value):.{digits}f}" if _finite(value) else "—"


def decimals(values: Sequence[Any], significant: int) -> int:
    """Decimals that show the largest finite of ``values`` to ``significant`` significant digits (whole part kept)."""
    sizes = [abs(float(v)) for v in values if _finite(v) and float(v) != 0.0]
    if not sizes:
        return max(0, significant - 1)
    return max(0, significant - 1 - math.floor(math.log10(max(sizes))))


def cell_decimals(value: Any, ci: Any, significant: int) -> int:
    """Decimals of a ``value [lo, hi]`` cell: its largest number to ``significant`` digits, the same for all three."""
    return decimals([value, *(ci if isinstance(ci, (list, tuple)) else ())], significant)


def interval_text(ci: Any, digits: int) -> str:
    """``[lo, hi]`` with ``digits`` decimals, or "" when there is no finite interval."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2 or not all(_finite(v) for v in ci):
        return ""
    return f"[{float(ci[0]):.{digits}f}, {float(ci[1]):.{digits}f}]"


def with_interval(value: Any, ci: Sequence[Any] | None, digits: int = 3, significant: int | None = None) -> str:
    """``0.093 [0.071, 0.115]``: the value and its [lo, hi] interval (just the value when there is none).

    ``significant``: instead of ``digits`` decimals, as many as give the cell's largest number that many
    significant digits (cell_decimals), so the value and both ends line up."""
    if significant is not None:
        digits = cell_decimals(value, ci, significant)
    text, interval = number(value, digits), interval_text(ci, digits)
    return f"{text} {interval}" if interval and text != "—" else text


def interval_ends(ci: Any) -> tuple[float, float]:
    """(lo, hi) of a ``<metric>_ci95`` value, (nan, nan) when there is none."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return float(ci[0]), float(ci[1])
    return float("nan"), float("nan")


def interval_cells(
    values: Sequence[Any], los: Sequence[Any], his: Sequence[Any], digits: int = 4, significant: int | None = None
) -> list[str]:
    """:func:`with_interval` of each value with its [lo, hi] (columns of a table)."""
    return [with_interval(v, [lo, hi], digits, significant) for v, lo, hi in zip(values, los, his, strict=True)]


def excludes_zero(lo: float, hi: float) -> str:
    """ "yes" when the interval [lo, hi] excludes 0, "no" when it holds 0, "—" without an interval."""
    if not (_finite(lo) and _finite(hi)):
        return "—"
    return "yes" if lo > 0 or hi < 0 else "no"


def under_null_floor(values: Mapping[str, Any]) -> bool:
    """True when gap_distance is at or below gap_null95: the gap cannot be told from 0."""
    gap, floor = values.get("gap_distance"), values.get("gap_null95")
    return bool(
        isinstance(gap, (int, float))
        and isinstance(floor, (int, float))
        and _finite(gap)
        and _finite(floor)
        and float(gap) <= float(floor)
    )


def metric_text(values: Mapping[str, Any], name: str, digits: int = 4, significant: int | None = None) -> str:
    """A metric for tables: with its interval when ``<name>_ci95`` exists, the null-floor mark on the plug-in gap,
    and "(n = …)" when it was measured on a subsample of known size (``significant``: see with_interval)."""
    text = with_interval(values.get(name), values.get(f"{name}_ci95"), digits, significant)
    if name == "gap_distance" and under_null_floor(values):
        text += f" {NULL_FLOOR_MARK}"
    return text + sample_note(values, name)


def sample_note(values: Mapping[str, Any], name: str) -> str:
    """ " (n = 1,000)" for a metric measured on a subsample whose size ``values`` carries, else ""."""
    n = catalog.subsample_size(dict(values), name)
    return "" if n is None else f" (n = {n:,})"


def warnings(values: Mapping[str, Any]) -> list[str]:
    """One-line warnings a reader must see next to these numbers (collapse, a gap under the null floor)."""
    out = []
    for side in ("image", "text"):
        if values.get(f"collapsed_{side}") is True:
            out.append(
                f"the {side} embeddings are collapsed (mean cosine between two {side}s "
                f"{number(values.get(f'cone_{side}'), 4)} > 0.999): recall is at chance and the gap "
                "measures one point"
            )
    if under_null_floor(values):
        out.append(
            f"plug-in gap {number(values.get('gap_distance'), 3)} is indistinguishable from 0: at or below the "
            f"permutation null floor {number(values.get('gap_null95'), 3)} (gap_null95)"
        )
    return out
