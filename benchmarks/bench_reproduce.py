"""Time `gapviz reproduce` for every experiment at small scale (the budget: 20 minutes on 2 CPU cores).

Usage: python benchmarks/bench_reproduce.py [--scale small|tiny] [--home DIR] [--threads N] [NAME ...]

Runs the experiments in registry order in a fresh GAPVIZ_HOME (a temp folder unless --home), so
runs shared between experiments (the pretraining run) are trained once, as a user's
`gapviz reproduce all` would. Prints a Markdown table: wall seconds per experiment, runs it
trained, whether the paper's direction held, and the total against the budget. Exit code 1 when
the total is over budget.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BUDGET_S = {"small": 20 * 60, "tiny": 4 * 60}
"""Small: the issue's 20 minutes on 2 cores; tiny: what tests/test_experiments.py may take."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="experiments (default: all)")
    parser.add_argument("--scale", choices=sorted(BUDGET_S), default="small")
    parser.add_argument("--home", default=None, help="GAPVIZ_HOME to use (default: a new temp folder)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)

    import torch

    from gapviz.reproduce import experiments
    from gapviz.reproduce.runner import reproduce
    from gapviz.runs.store import RunStore

    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.names or experiments.names()
    home = args.home or tempfile.mkdtemp(prefix="gapviz-bench-reproduce-")
    print(f"# reproduce benchmark: {args.scale} scale, home {home}")
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads)\n"
    )
    rows = []
    started_all = time.perf_counter()
    for name in names:
        before = set(RunStore(home).run_ids())
        started = time.perf_counter()
        report = reproduce(name, args.scale, home, log=lambda line: print(f"    {line}", file=sys.stderr, flush=True))
        elapsed = time.perf_counter() - started
        trained = len(set(RunStore(home).run_ids()) - before)
        rows.append((name, elapsed, trained, report.verdict.value))
        print(f"{name}: {elapsed:.1f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - started_all
    print("| experiment | seconds | runs trained | verdict |")
    print("| --- | ---: | ---: | --- |")
    for name, elapsed, trained, holds in rows:
        print(f"| {name} | {elapsed:.1f} | {trained} | {holds} |")
    budget = BUDGET_S[args.scale]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(
        f"| **total** | **{total:.1f}** | {sum(r[2] for r in rows)} | "
        f"budget {budget} s: {'within' if total <= budget else 'OVER'} |"
    )
    print(f"\nCPU time of this process: {cpu:.0f} s for {total:.0f} s of wall time (less CPU than wall: it waited)")
    return 0 if total <= budget else 1


if __name__ == "__main__":
    sys.exit(main())
