"""The Markdown of a reproduction: one experiment's report.md, and docs/experiments.md built from all of them.

Every number and verdict comes from an experiment's results (``results.json``); nothing here is typed
by hand except the fixed prose of the docs page's introduction (``docs_intro.md`` next to this file).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gapviz import figures
from gapviz.fsio import atomic_write_bytes
from gapviz.queue import APP_HOST, DEFAULT_APP_PORT
from gapviz.reproduce.experiments.base import interval_text
from gapviz.reproduce.verdicts import VERDICTS

COMPARE_URL = f"http://{APP_HOST}:{DEFAULT_APP_PORT}/compare"
"""Where `gapviz up` serves the Compare page (its default port)."""
DOCS_CHARTS = "experiments"
"""Folder of the charts next to docs/experiments.md."""
INTRO = Path(__file__).with_name("docs_intro.md")


def format_number(value: Any) -> str:
    """A table cell: floats with 3 decimals (tiny ones in scientific notation), NaN as an en dash."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "–"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.3f}"


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table; floats with 3 decimals, NaN as an en dash, ``|`` in cells escaped."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = [
        "| " + " | ".join(format_number(v).replace("|", "\\|") for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


def claim_rows(claims: Sequence[Mapping[str, Any]], depth: int = 0) -> list[dict[str, Any]]:
    """One table row per claim and, indented under it, per part: verdict, effect, the three p-values and the MDE."""
    rows = []
    for claim in claims:
        label = claim.get("label", claim["verdict"])
        rows.append(
            {
                "claim": ("↳ " * depth) + claim["name"],
                "verdict": f"**{label}**" if depth == 0 else label,
                "effect: mean [95% interval]": interval_text(claim.get("effect"), 4) if claim.get("effect") else "",
                "p (t)": _p_cell(claim, "p_t"),
                "p Holm (t)": _p_cell(claim, "p_holm"),
                "p (sign-flip)": _p_cell(claim, "p_value"),
                "MDE (80% power)": _p_cell(claim, "mde"),
                "seeds": (claim.get("effect") or {}).get("n", ""),
            }
        )
        rows += claim_rows(claim.get("parts", ()), depth + 1)
    return rows


def _p_cell(claim: Mapping[str, Any], key: str) -> str:
    """A claim's number, blank for a parent claim (no test of its own); an en dash where it could not be computed."""
    if claim.get("parts") or not claim.get("effect"):
        return ""
    value = claim.get(key)
    return "–" if value is None else format_number(float(value))


def estimator_words(estimator: str) -> str:
    """Which gap estimator a report's tables use, in words."""
    words = {
        "gap_distance_unbiased": "the debiased gap √max(0, U) (`gap_distance_unbiased`, U unbiased for ‖μ_X − μ_Y‖²)",
        "gap_distance": "the plug-in gap (`gap_distance`, ‖mean image − mean text‖)",
    }
    return words.get(estimator, f"the {estimator}")


def figure_caption(results: Mapping[str, Any]) -> str:
    """The caption line under each report figure: seeds per point, the gap estimator and the error bars."""
    estimator = estimator_words(results["measured"].get("gap_estimator", "gap_distance"))
    return (
        f"*Figure: {results['seeds']} seed(s) per point (n = {results['seeds']}); estimator: {estimator}; "
        f"bars: {figures.BAND_WORDS[figures.BAND_CI]}, clipped to each metric's range.*"
    )


def verdict_sentence(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts.get(v.value, 0)} {v.value}" for v in VERDICTS)


def measurement_lines(measurements: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Markdown: every run's final gap with its 95% interval, and a warning per collapsed or null-floor run."""
    from gapviz.format import metric_text, warnings

    if not any("gap_distance_ci95" in m for m in measurements.values()):
        return []
    lines = [
        "",
        "**Final gaps with 95% intervals** (plug-in `gap_distance` and debiased `gap_distance_unbiased` = "
        "√max(0, U); each interval's method and measured coverage: docs/science.md; "
        "null floor = the permutation null's 95th percentile):",
        "",
    ]
    for key, m in measurements.items():
        lines.append(
            f"- `{key}`: plug-in gap {metric_text(m, 'gap_distance', 3)}, debiased "
            f"{metric_text(m, 'gap_distance_unbiased', 3)}, null floor {metric_text(m, 'gap_null95', 3)}"
        )
        lines += [f"  - warning: {w}" for w in warnings(m)]
    return lines


def render_markdown(results: Mapping[str, Any], table: pd.DataFrame, chart_files: Sequence[str], level: int = 1) -> str:
    """report.md of one experiment; ``level`` is the heading level of its title (2 inside the docs page)."""
    h = "#" * level
    lines = [
        f"{h} {results['title']} (`{results['experiment']}`, {results['scale']} scale)",
        "",
        f"**Claim.** {results['claim']}",
        "",
        f"**Paper.** {results['paper']}",
        "",
        f'**Seeds.** {results["seeds"]} per compared condition (`--seeds N` changes it); every "gap" below is '
        f"{estimator_words(results['measured'].get('gap_estimator', 'gap_distance'))}; recall and accuracy are "
        "fractions in [0, 1] (paper percentages divided by 100).",
        "",
        f"**Rule.** {results['rule']}",
        "",
        f"**Verdict: {results['verdict']}** ({verdict_sentence(results['verdict_counts'])}). {results['summary']}",
        "",
        markdown_table(pd.DataFrame(claim_rows(results["claims"]))),
        "",
    ]
    if results.get("power"):
        lines += [f"**Power.** {results['power']}", ""]
    if len(table):
        lines += [markdown_table(table), ""]
    for f in chart_files:
        lines += [f"![{Path(f).stem}]({f})", "", figure_caption(results), ""]
    lines += measurement_lines(results.get("measurements", {}))
    if results.get("differences"):
        lines += ["", "**Differences from the paper.**", "", *[f"- {d}" for d in results["differences"]]]
    if results.get("note"):
        lines += ["", f"**Setting.** {results['note']}"]
    if results["runs"]:
        link = f"{COMPARE_URL}?group={results['group']}"
        lines += [
            "",
            f"**Runs**: sweep group `{results['group']}` ([Compare]({link})), "
            f"{len(set(results['runs'].values()))} runs.",
        ]
    lines += [
        "",
        f"Training time {results['train_seconds']:.0f} s; generated {results['generated_at']} by "
        f"`gapviz reproduce {results['experiment']}`.",
        "",
    ]
    return "\n".join(lines)


def summary_table(reports: Sequence[Mapping[str, Any]]) -> str:
    """Verdicts per experiment: overall, then the count of its claims by verdict."""
    rows = [
        {
            "experiment": r["experiment"],
            "seeds": r["seeds"],
            "verdict": r["verdict"],
            **{v.value: r["verdict_counts"].get(v.value, 0) for v in VERDICTS},
            "run time s (shared runs in each)": round(r["train_seconds"]),
        }
        for r in reports
    ]
    return markdown_table(pd.DataFrame(rows))


def write_docs_page(reports: Sequence[tuple[Mapping[str, Any], Path, str]], docs_file: Path) -> Path:
    """docs/experiments.md from (results, report folder, markdown at level 2) of every experiment;
    the charts are copied to docs/experiments/NAME-STEM.png."""
    charts_dir = docs_file.parent / DOCS_CHARTS
    charts_dir.mkdir(parents=True, exist_ok=True)
    sections = []
    for results, folder, markdown in reports:
        name = results["experiment"]
        for png in sorted(folder.glob("*.png")):
            target = charts_dir / f"{name}-{png.name}"
            shutil.copyfile(png, target)
            markdown = markdown.replace(f"]({png.name})", f"]({DOCS_CHARTS}/{target.name})")
        sections.append(markdown)
    intro = INTRO.read_text()
    body = [intro.rstrip(), "", "## Summary", "", summary_table([r for r, _, _ in reports]), "", *sections]
    atomic_write_bytes(docs_file, ("\n".join(body).rstrip() + "\n").encode())
    return docs_file
