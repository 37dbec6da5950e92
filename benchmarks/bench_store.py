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
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from benchmarks import report
from benchmarks.bench_compare import CURVES_TARGET_S, DRAWN, GROUP, REPO, bench_record, wait_healthy
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


def copies(source: Path, run_id: str, home: Path, count: int, grouped: int = 100) -> None:
    """``count`` copies of the run folder under new ids (what a term of sweeps leaves behind); the first
    ``grouped`` of them moved into the group GROUP, so ``?group=`` selects that many."""
    runs = home / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        shutil.copytree(source / "runs" / run_id, runs / f"{run_id}-{index:05d}")
    store = RunStore(home)
    for index in range(min(grouped, count)):
        store.update_meta(f"{run_id}-{index:05d}", group=GROUP)


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


@contextlib.contextmanager
def streamlit_app(home: Path) -> Iterator[str]:
    """`streamlit run` of the app on ``home`` (a free port, no token: every page open); yields its URL."""
    from benchmarks.browser import free_port

    port = free_port()
    env = dict(os.environ, GAPVIZ_HOME=str(home), PYTHONPATH=str(REPO))
    env.pop("REDIS_URL", None)
    env.pop("GAPVIZ_TOKEN", None)
    command = [sys.executable, "-m", "streamlit", "run", str(REPO / "streamlit_app.py"), "--server.port"]
    command += [str(port), "--server.address", "127.0.0.1", "--server.headless", "true"]
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_healthy(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


IDLE = "() => !document.querySelector('[data-testid=stStatusWidget]')"
"""The script is idle: Streamlit shows its status widget ("Running…") while a script run is under way."""
PAGES = {
    "compare": ("Compare runs", "() => document.body.innerText.includes('Choose runs, a group or a filter above')"),
    "live": ("Live", f"() => ({DRAWN})(1)"),
}
"""Page -> (its title, a JavaScript test of its last element drawn: Compare's hint, Live's first chart)."""


def ready_s(context: Any, url: str, title: str, drawn: str) -> float:
    """Seconds from navigation to the page ready: its title shown, ``drawn`` true and the script idle."""
    page = context.new_page()
    started = time.perf_counter()
    page.goto(url, timeout=180_000)
    page.get_by_test_id("stHeadingWithActionElements").get_by_text(title, exact=True).wait_for(timeout=180_000)
    page.wait_for_function(drawn, timeout=180_000, polling=25)
    page.wait_for_function(IDLE, timeout=180_000, polling=25)
    elapsed = time.perf_counter() - started
    page.close()
    return elapsed


def curves_s(context: Any, url: str) -> float:
    """Seconds from navigation to ``?group=GROUP``'s curves drawn (the first Vega canvas with pixels)."""
    page = context.new_page()
    started = time.perf_counter()
    page.goto(f"{url}/compare?group={GROUP}", timeout=180_000)
    page.get_by_text("Compare runs", exact=True).wait_for(timeout=180_000)
    page.wait_for_function(DRAWN, arg=1, timeout=180_000, polling=25)
    elapsed = time.perf_counter() - started
    page.close()
    return elapsed


def browser_times(small: Path, large: Path, repeats: int) -> dict[str, list[float]]:
    """Compare and Live ready on each home, alternating homes and pages; the group's curves on the large home.
    The first round warms both apps and the browser cache and is not counted."""
    from playwright.sync_api import sync_playwright

    from benchmarks.browser import launch_browser

    times: dict[str, list[float]] = {}
    with streamlit_app(small) as one, streamlit_app(large) as many, sync_playwright() as playwright:
        browser = launch_browser(playwright)
        context = browser.new_context(viewport={"width": 1400, "height": 1100})
        for attempt in range(repeats + 1):
            for page, (title, drawn) in PAGES.items():
                for home, url in (("one", one), ("many", many)):
                    elapsed = ready_s(context, f"{url}/{page}", title, drawn)
                    times.setdefault(f"{page}_{home}", []).extend([elapsed] if attempt else [])
            elapsed = curves_s(context, many)
            times.setdefault("curves", []).extend([elapsed] if attempt else [])
        browser.close()
    return times


def browser_results(times: dict[str, list[float]], runs: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The browser's measures (ratios and the curves, with targets) and its table of medians."""
    median = {key: statistics.median(values) for key, values in times.items()}
    measures, rows = [], []
    for page in PAGES:
        one, many = median[f"{page}_one"], median[f"{page}_many"]
        name = page.capitalize()
        rows.append([f"{name} ready", one, many, many / one])
        measures += [
            report.measure(f"{page}_one_s", f"{name} ready, 1 run (median)", one, "s"),
            report.measure(f"{page}_many_s", f"{name} ready, {runs:,} runs (median)", many, "s"),
            report.measure(
                f"{page}_ratio", f"{name} ready, {runs:,} runs ÷ 1 run", many / one, "×", ("<=", RATIO_TARGET)
            ),
        ]
    label = f"`/compare?group=` of 100 runs among {runs:,} → curves drawn (median)"
    measures.append(report.measure("curves_s", label, median["curves"], "s", ("<=", CURVES_TARGET_S)))
    rows.append(["100 runs' curves drawn (`?group=`)", "—", median["curves"], "—"])
    columns = ["page (median of visits)", "1 run (s)", f"{runs:,} runs (s)", "ratio"]
    return measures, report.table("browser", columns, rows, [None, 2, 2, 2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also time Compare and Live in headless Chromium")
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
        browser = browser_times(small, large, args.repeats) if args.browser else None
    ratio = statistics.median(many) / statistics.median(one)
    measures = [
        report.measure("cli_one_s", "`gapviz runs list`, 1 run (median)", statistics.median(one), "s"),
        report.measure("cli_many_s", f"`gapviz runs list`, {args.runs:,} runs (median)", statistics.median(many), "s"),
        report.measure("cli_ratio", f"{args.runs:,} runs ÷ 1 run", ratio, "×", target=("<=", RATIO_TARGET)),
        report.measure("warm_opened", "runs whose files a warm listing opens", listings[1][2], "", ("<=", 0), 0),
    ]
    tables = [report.table("listings", ["listing", "ms", "runs opened"], listings, [None, 1, 0])]
    if browser is not None:
        browser_measures, browser_table = browser_results(browser, args.runs)
        measures += browser_measures
        tables.append(browser_table)
    report.show(measures, tables)
    session.save(measures, tables, report.output_path("store", args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
