"""Benchmark of run listing at a lab's scale: `gapviz runs list` and RunStore.summaries() on a store of N runs
(default 10,000 copies of one real run folder) against a store of 1 run, measured in the same process.

1. ``gapviz runs list`` as a user runs it (a new process each time; the index warm on disk): median of
   ``--repeats`` runs at 1 run and at N runs, interleaved against drift. Target: N runs ≤ 1.5× 1 run.
2. RunStore.summaries() in one process: the first listing (no index yet: every run's files read, the index
   written), a warm listing (nothing changed), and a listing after one run changed; with the number of runs
   whose files each listing opened (through the public ``summary_or_unreadable``). Target: a warm listing
   opens no run's files, whatever N.

Usage (from the repository root): python -m benchmarks.bench_store [--runs 10000] [--repeats 3] [--record]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.bench_compare import bench_record
from gapviz.runs.store import RunStore

RATIO_TARGET = 1.5
"""The issue's bound: listing N runs costs at most 1.5× listing one."""


def one_run(home: Path) -> str:
    """A real run folder written through the store: three evaluated epochs, finished."""
    from gapviz.config import preset

    store = RunStore(home)
    run_id = store.create(preset("tiny-test").replace(name="bench run"), group="bench", tags=("store",))
    for epoch in range(3):
        store.append_epoch(run_id, bench_record(epoch, seed=0, tau=0.07))
    store.queued(run_id, job_id="bench", queue_name="bench")
    store.running(run_id)
    store.finished(run_id, 2)
    return run_id


def copies(source: Path, run_id: str, home: Path, count: int) -> None:
    """``count`` copies of the run folder under new ids (what a term of sweeps leaves behind)."""
    runs = home / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        shutil.copytree(source / "runs" / run_id, runs / f"{run_id}-{index:05d}")


def cli_list_s(home: Path) -> float:
    """Wall time of one `gapviz runs list` in a new process."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gapviz.cli.main", "--home", str(home), "runs", "list"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


class CountingStore(RunStore):
    """A RunStore whose listings count the runs whose files they open."""

    opened = 0

    def summary_or_unreadable(self, run_id: str) -> Any:
        CountingStore.opened += 1
        return super().summary_or_unreadable(run_id)


def timed_listing(store: CountingStore) -> tuple[float, int]:
    before = CountingStore.opened
    started = time.perf_counter()
    count = sum(1 for _ in store.summaries())
    elapsed = time.perf_counter() - started
    assert count > 0
    return elapsed, CountingStore.opened - before


def in_process(home: Path, run_id: str) -> list[list[Any]]:
    """First, warm and after-one-change listings: seconds and runs opened."""
    store = CountingStore(home)
    rows = []
    for label in ("first listing (builds the index)", "warm (nothing changed)"):
        elapsed, opened = timed_listing(store)
        rows.append([label, elapsed * 1000, opened])
    store.update_meta(f"{run_id}-00000", name="renamed")
    elapsed, opened = timed_listing(store)
    rows.append(["after one run changed", elapsed * 1000, opened])
    fresh = CountingStore(home)
    elapsed, opened = timed_listing(fresh)
    rows.append(["a second RunStore in this process", elapsed * 1000, opened])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    session = report.Session("store", argv)
    with tempfile.TemporaryDirectory() as folder:
        small, large = Path(folder) / "one", Path(folder) / "many"
        run_id = one_run(small)
        built = time.perf_counter()
        copies(small, run_id, large, args.runs)
        print(f"{args.runs} run folders copied in {time.perf_counter() - built:.0f} s", flush=True)
        listings = in_process(large, run_id)
        one, many = [], []
        for _ in range(args.repeats):
            one.append(cli_list_s(small))
            many.append(cli_list_s(large))
    ratio = statistics.median(many) / statistics.median(one)
    measures = [
        report.measure("cli_one_s", "`gapviz runs list`, 1 run (median)", statistics.median(one), "s"),
        report.measure("cli_many_s", f"`gapviz runs list`, {args.runs:,} runs (median)", statistics.median(many), "s"),
        report.measure("cli_ratio", f"{args.runs:,} runs ÷ 1 run", ratio, "×", target=("<=", RATIO_TARGET)),
        report.measure("warm_opened", "runs whose files a warm listing opens", listings[1][2], "", ("<=", 0), 0),
    ]
    tables = [report.table("listings", ["listing", "ms", "runs opened"], listings, [None, 1, 0])]
    report.show(measures, tables)
    session.save(measures, tables, report.output_path("store", args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
