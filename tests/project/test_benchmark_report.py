"""docs/benchmarks.md is generated from the results files by a stated rule, and no measured number is typed."""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import report


def result(value: float, busy: float | None = 0.1, target: tuple[str, float] | None = ("<=", 1.5)) -> dict:
    session = report.Session("analyze", ["--pairs", "20000", "--record", "--json", "/tmp/x.json"], sample_s=0)
    session.busy_before = busy
    measures = [report.measure("ratio", "compute_all, × matmul", value, "×", target)]
    tables = [report.table("steps", ["step", "seconds"], [["matmul", 2.281], ["a|b", 3.9]], [None, 2])]
    return session.save(measures, tables, None)


def test_a_target_is_met_or_missed_by_its_comparison():
    assert "**met**" in report.verdict_line(result(1.5)["measures"][0])
    assert "**missed**" in report.verdict_line(result(1.51)["measures"][0])
    just_over = report.verdict_line(result(1.504)["measures"][0])
    assert just_over == "- compute_all, × matmul: 1.504× (target ≤ 1.500×): **missed**"
    above = result(0.9, target=(">=", 0.95))["measures"][0]
    assert report.verdict_line(above) == "- compute_all, × matmul: 0.90× (target ≥ 0.95×): **missed**"
    with pytest.raises(ValueError, match="operator"):
        report.measure("x", "x", 1.0, target=("=", 1.0))


def test_other_processes_busy_on_a_quarter_of_the_cores_mark_the_result_under_load():
    cpus = report.machine()["cpus"]
    assert "**under load**" in report.measured_line(result(1.0, busy=cpus / 4 + 0.01))
    assert "**under load**" in report.measured_line(result(1.0, busy=None))
    idle = report.measured_line(result(1.0, busy=cpus / 4))
    assert "idle" in idle and "under load" not in idle


def test_busy_cores_counts_what_other_processes_use():
    idle = report.busy_cores(0.2)
    spinning = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        busy = report.busy_cores(1.0)
    finally:
        spinning.kill()
    assert idle is not None and 0 <= idle <= report.machine()["cpus"]
    assert busy is not None and busy >= 0.8  # the spinner alone keeps most of a core busy


def test_the_command_shown_is_the_one_to_rerun_without_the_output_flags():
    assert result(1.0)["command"] == "python -m benchmarks.bench_analyze --pairs 20000"
    parser = argparse.ArgumentParser()
    report.add_output_arguments(parser)
    assert report.output_path("train", parser.parse_args(["--record"])) == report.RESULTS / "train.json"
    assert report.output_path("train", parser.parse_args([])) is None


def test_placeholders_are_filled_and_a_missing_result_says_so():
    page = "{{value analyze.ratio}}\n{{verdicts analyze}}\n{{table analyze.steps}}\n{{measured queue}}\n"
    text = report.render(page, {"analyze": result(1.72)})
    assert "1.72×\n- compute_all, × matmul: 1.72× (target ≤ 1.50×): **missed**\n" in text
    assert "| matmul | 2.28 |\n| a\\|b | 3.90 |" in text
    assert "*(not measured: benchmarks/results/queue.json does not exist)*" in text
    with pytest.raises(KeyError, match="no measure 'nope'"):
        report.render("{{value analyze.nope}}", {"analyze": result(1.0)})
    with pytest.raises(ValueError, match="malformed placeholder"):
        report.render("{{ value analyze.ratio}}", {"analyze": result(1.0)})


def test_a_step_that_measured_nothing_says_so_and_misses_its_target(tmp_path):
    failed = report.measure("ratio", "ratio", float("nan"), "×", ("<=", 1.5))
    assert report.verdict_line(failed) == "- ratio: not measured (target ≤ 1.50×): **missed**"
    cells = report.table("t", ["a", "b"], [["x", float("inf")]], [None, 2])
    assert report.render_table(cells).endswith("| x | not measured |")
    session = report.Session("train", [], sample_s=0)
    session.save([failed], [cells], tmp_path / "train.json")  # strict JSON: no NaN written
    assert report.load_results(tmp_path)["train"]["measures"][0]["value"] is None


def test_saved_file_round_trips(tmp_path):
    session = report.Session("train", [], sample_s=0.1)
    session.save([report.measure("r", "ratio", 0.98, target=(">=", 0.95))], [], tmp_path / "train.json")
    loaded = report.load_results(tmp_path)
    assert report.target_met(loaded["train"]["measures"][0])
    assert loaded["train"]["machine"]["cpus"] >= 1


RESULT_NUMBER = re.compile(r"\d[\d,.]*(?:\s?(?:s|ms|%|GiB|MB|samples/s)(?![\w/])|×)")


def test_the_page_types_no_measured_number_and_the_doc_is_current():
    prose = report.PLACEHOLDER.sub("", report.page_text())
    prose = re.sub(r"`[^`]*`", "", prose)
    assert RESULT_NUMBER.findall(prose) == []
    assert report.main(["--check"]) == 0, "docs/benchmarks.md is out of date: run python -m benchmarks.report"


FORBIDDEN = ("gapviz.app", "tests", "app_fixtures", "queue_fixtures", "conftest")
"""Modules a benchmark must not import: the app's internals (they move) and the tests' helpers."""


APP_IN_TEXT = re.compile(r"(?:from|import)\s+(gapviz\.app|tests)\b|gapviz/app/")
"""Code in a string (a child process's script, a page path for AppTest) reaching into the app or the tests."""


def imported_modules(path: Path) -> set[str]:
    """Every module a Python file imports, at any depth (inside functions and child scripts' strings too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.update(match.group(1) or "gapviz.app" for match in APP_IN_TEXT.finditer(node.value))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_benchmarks_depend_only_on_public_functions():
    files = sorted((Path(report.ROOT) / "benchmarks").glob("*.py"))
    assert files
    bad = {
        f"{path.name}: {name}"
        for path in files
        for name in imported_modules(path)
        if any(name == root or name.startswith(root + ".") for root in FORBIDDEN)
    }
    assert not bad, f"benchmarks import app internals or test helpers: {sorted(bad)}"
