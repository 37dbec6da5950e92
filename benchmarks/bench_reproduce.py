"""Time `gapviz reproduce` for every experiment at small scale (the budget: 20 minutes on 2 CPU cores).

Usage: python -m benchmarks.bench_reproduce [--scale small|tiny] [--home DIR] [--threads N] [NAME ...]
                                            [--record | --json PATH]

Runs the experiments in registry order in a fresh GAPVIZ_HOME (a temp folder unless --home), so
runs shared between experiments (the pretraining run) are trained once, as a user's
`gapviz reproduce all` would. Prints a Markdown table: wall seconds per experiment, runs planned and
trained, the verdict its report gives, and the total against the scale's budget. ``--record`` writes
benchmarks/results/reproduce.json (docs/benchmarks.md's source), ``--json PATH`` the same file
elsewhere. Exit code 1 when the total is over budget.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from typing import Any

from benchmarks import report

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BUDGET_S = {"small": 20 * 60, "tiny": 4 * 60}
"""Small: the issue's 20 minutes on 2 cores; tiny: what tests/reproduce/test_experiments.py may take."""
COLUMNS = ["experiment", "what it is", "runs planned", "runs trained", "wall seconds", "verdict"]
DIGITS: list[int | None] = [None, None, 0, 0, 1, None]


def run_all(names: list[str], scale: str, home: str) -> list[list[Any]]:
    """One row per experiment, run in order in ``home``: name, title, runs planned, runs trained, seconds, verdict."""
    from gapviz.reproduce import experiments
    from gapviz.reproduce.runner import plan_for, reproduce
    from gapviz.runs.store import RunStore

    rows = []
    for name in names:
        before = set(RunStore(home).run_ids())
        started = time.perf_counter()
        outcome = reproduce(name, scale, home, log=lambda line: print(f"    {line}", file=sys.stderr, flush=True))
        elapsed = time.perf_counter() - started
        trained = len(set(RunStore(home).run_ids()) - before)
        planned = len(plan_for(name, scale))
        rows.append([name, experiments.get(name).TITLE, planned, trained, elapsed, outcome.verdict.value])
        print(f"{name}: {elapsed:.1f} s", file=sys.stderr, flush=True)
    return rows


def results(
    rows: list[list[Any]], scale: str, total: float, cpu: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The total against the budget, CPU time and runs trained (measures); the experiments (a table)."""
    from gapviz.reproduce.experiments.base import seed_count

    budget = BUDGET_S[scale]
    measures = [
        report.measure(
            "total_s",
            f"`{scale}` scale, {len(rows)} experiment{'s' if len(rows) != 1 else ''}, wall time",
            total,
            "s",
            ("<=", budget),
            0,
        ),
        report.measure("total_min", "the same in minutes", total / 60, "min", digits=1),
        report.measure("cpu_s", "CPU time of the process", cpu, "s", digits=0),
        report.measure("runs_trained", "training runs", sum(row[3] for row in rows), digits=0),
        report.measure("seeds", "seeds per condition", seed_count(scale, None), digits=0),
    ]
    return measures, [report.table("experiments", COLUMNS, rows, DIGITS)]


def main(argv: list[str] | None = None) -> int:
    """Run the experiments, print their table and the total; exit 1 when the total is over budget."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("names", nargs="*", help="experiments (default: all)")
    parser.add_argument("--scale", choices=sorted(BUDGET_S), default="small")
    parser.add_argument("--home", default=None, help="GAPVIZ_HOME to use (default: a new temp folder)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    session = report.Session("reproduce", argv)

    import torch

    from gapviz.reproduce import experiments

    if args.threads:
        torch.set_num_threads(args.threads)
    home = args.home or tempfile.mkdtemp(prefix="gapviz-bench-reproduce-")
    print(f"# reproduce benchmark: {args.scale} scale, home {home}")
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads)\n"
    )
    started = time.perf_counter()
    rows = run_all(args.names or experiments.names(), args.scale, home)
    total = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    measures, tables = results(rows, args.scale, total, cpu)
    report.show(measures, tables)
    session.save(measures, tables, report.output_path("reproduce", args))
    return 0 if report.target_met(measures[0]) else 1


if __name__ == "__main__":
    sys.exit(main())
