"""Benchmark of the Compare page at research scale: 100 runs of 20 epochs (10 τ values × 10 seeds, one group).

1. Store: what the page reads for ``?group=`` of all 100 runs, through the public
   gapviz.runs.store.RunStore (every run's summary, config and per-epoch metrics): cold (a new store, the
   first read in the process) and warm (median of repeats). The page script itself is an app internal: its
   cost is measured in the browser (2.), not here.
2. Browser (``--browser``): `streamlit run` on a free port, headless Chromium opens
   ``/compare?group=bench-100`` in a new tab of one browser (a returning user: its HTTP cache is warm);
   time from navigation to the page's title (Streamlit's own start: page,
   scripts, websocket), to the curves drawn (the first Vega canvas with pixels), and to every chart of
   the page drawn. Target: curves within 3 s. The same for one run alone (``?runs=<id>``) shows the
   page's fixed cost, so the difference is what 100 runs add.

Usage (from the repository root): python -m benchmarks.bench_compare [--runs 100] [--epochs 20] [--repeats 3]
       [--browser] [--home DIR] [--record | --json PATH]
It writes its runs into a temporary GAPVIZ_HOME (or --home). ``--record`` writes
benchmarks/results/compare.json (docs/benchmarks.md's source; record it with ``--browser``: the
target is the browser's), ``--json PATH`` the same file elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report

REPO = Path(__file__).resolve().parents[1]
GROUP = "bench-100"
CURVES_TARGET_S = 3.0
"""The issue's target: navigation to the curves drawn within 3 s at 100 runs."""
TAUS = (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.2, 0.3, 0.5, 1.0)


def bench_record(epoch: int, seed: int, tau: float, n: int = 32, dim: int = 16):
    """An EpochRecord whose gap shrinks with the epoch and grows with τ, plus seed noise."""
    from gapviz.runs.records import EpochRecord

    rng = np.random.default_rng([seed, epoch, int(tau * 1000)])
    image = rng.normal(size=(n, dim)).astype(np.float32)
    text = image + 0.3 * rng.normal(size=(n, dim)).astype(np.float32)
    gap = 0.4 + tau * 0.5 + 0.6 / (1 + epoch) + 0.02 * rng.normal()
    metrics = {
        "gap_distance": gap,
        "relative_gap": gap / 2,
        "tau": tau,
        "loss": 3.0 / (1 + epoch) + 0.05 * rng.normal(),
        "i2t_r1": min(1.0, 0.05 * epoch + 0.01 * seed),
        "t2i_r1": min(1.0, 0.04 * epoch),
        "i2t_r5": 0.3,
        "t2i_r5": 0.3,
        "i2t_r10": 0.5,
        "t2i_r10": 0.5,
        "zero_shot": 0.2,
    }
    coords = rng.normal(size=(2 * n, 2)).astype(np.float32)
    return EpochRecord(
        epoch=epoch,
        global_step=epoch * 10,
        metrics=metrics,
        image_embeddings=image,
        text_embeddings=text,
        text_image_index=np.arange(n, dtype=np.int32),
        projections={"pca": coords},
    )


def make_runs(home: Path, runs: int, epochs: int) -> list[str]:
    """``runs`` finished runs of ``epochs`` epochs in one group, τ cycling through TAUS, seeds within each τ."""
    from gapviz.config import preset
    from gapviz.runs.store import RunStore

    store = RunStore(home)
    made = []
    for i in range(runs):
        tau, seed = TAUS[i % len(TAUS)], i // len(TAUS)
        cfg = preset("tiny-test").with_overrides(
            {
                "temperature.mode": "fixed",
                "temperature.tau": tau,
                "seed": seed,
                "train.epochs": epochs,
                "name": f"tau {tau:g}",
            }
        )
        run_id = store.create(cfg, group=GROUP)
        for epoch in range(epochs + 1):
            store.append_epoch(run_id, bench_record(epoch, seed, tau))
        store.finished(run_id, epochs)
        made.append(run_id)
    return made


def read_group(home: Path) -> int:
    """Every run of the group read as the Compare page reads it, through RunStore: summary, config, metrics."""
    from gapviz.runs.store import RunStore

    store = RunStore(home)
    rows = 0
    for summary in store.summaries():
        if summary.group == GROUP:
            store.config(summary.run_id)
            rows += len(store.metrics(summary.run_id))
    return rows


def server_times(home: Path, repeats: int) -> dict[str, float]:
    """Seconds to read the whole group through RunStore: cold (first read in the process), warm (median)."""
    start = time.perf_counter()
    assert read_group(home) > 0
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        read_group(home)
        warm.append(time.perf_counter() - start)
    return {"cold_s": cold, "warm_median_s": statistics.median(warm)}


DRAWN = """(n) => { const c = [...document.querySelectorAll('.vega-embed canvas')];
  if (c.length < n) return false;
  return c.slice(0, n).every(x => { if (!x.width || !x.height) return false;
    const d = x.getContext('2d').getImageData(0, 0, x.width, x.height).data;
    for (let i = 3; i < d.length; i += 64) { if (d[i] > 0) return true; }
    return false; }); }"""
"""The first ``n`` Vega canvases exist and each has pixels painted (every 16th pixel's alpha is read)."""


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until the app answers its health check (or its process exits)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer on port {port}")


def _visits(context: Any, url: str, repeats: int, charts: int) -> dict[str, float]:
    """Median seconds from navigation to the title, to the first Vega canvas drawn and to ``charts`` drawn."""
    titles, curves, everything = [], [], []
    for attempt in range(repeats + 1):  # the first visit warms the app and the browser cache: not counted
        page = context.new_page()
        start = time.perf_counter()
        page.goto(url, timeout=180_000)
        page.get_by_text("Compare runs", exact=True).wait_for(timeout=180_000)
        title = time.perf_counter() - start
        page.wait_for_function(DRAWN, arg=1, timeout=180_000, polling=25)
        first = time.perf_counter() - start
        page.wait_for_function(DRAWN, arg=charts, timeout=180_000, polling=50)
        if attempt:
            titles.append(title)
            curves.append(first)
            everything.append(time.perf_counter() - start)
        page.close()
    return {
        "title_median_s": statistics.median(titles),
        "curves_median_s": statistics.median(curves),
        "curves_max_s": max(curves),
        "all_charts_median_s": statistics.median(everything),
        "visits": repeats,
    }


def browser_times(home: Path, repeats: int, one_run: str) -> dict[str, Any]:
    """The group of every run, and one run alone (the page's fixed cost), in tabs of one headless Chromium."""
    from playwright.sync_api import sync_playwright

    from benchmarks.browser import free_port, launch_browser

    port = free_port()
    env = dict(os.environ, GAPVIZ_HOME=str(home), PYTHONPATH=str(REPO))
    env.pop("REDIS_URL", None)
    env.pop("GAPVIZ_TOKEN", None)  # a bare `streamlit run`: every page open, as docs/security.md says
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO / "streamlit_app.py"),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
    ]
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}/compare"
    try:
        wait_healthy(port, proc)
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            context = browser.new_context(viewport={"width": 1400, "height": 1100})
            group = _visits(context, f"{base}?group={GROUP}", repeats, charts=5)  # curves, settings, 3 scatters
            single = _visits(context, f"{base}?runs={one_run}", repeats, charts=2)  # curves and its scatter
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)
    return {"group": group, "one_run": single}


def measures_of(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline numbers (the tables hold the rest): the settings, the warm rerun, the curves drawn."""
    runs, server = results["runs"], results["server"]
    out = [
        report.measure("runs", "runs in the group", runs, digits=0),
        report.measure("epochs", "epochs per run", results["epochs"], digits=0),
        report.measure(
            "repeats", "warm reruns and browser visits timed (medians over them)", results["repeats"], digits=0
        ),
        report.measure("store_cold_s", "RunStore reads of the group, first in the process", server["cold_s"], "s"),
        report.measure("store_warm_s", "RunStore reads of the group, warm (median)", server["warm_median_s"], "s"),
    ]
    if "browser" not in results:
        return out
    group, single = results["browser"]["group"], results["browser"]["one_run"]
    curves = f"navigation → curves drawn, {runs} runs (median of {group['visits']} visits)"
    out += [
        report.measure("curves_s", curves, group["curves_median_s"], "s", ("<=", CURVES_TARGET_S)),
        report.measure("curves_max_s", f"navigation → curves drawn, {runs} runs (max)", group["curves_max_s"], "s"),
        report.measure(
            "one_run_curves_s", "navigation → curves drawn, one run (median)", single["curves_median_s"], "s"
        ),
        report.measure(
            "runs_added_s",
            f"what {runs} runs add to the curves drawn (median with {runs} runs − median with one)",
            group["curves_median_s"] - single["curves_median_s"],
            "s",
        ),
    ]
    return out


def server_table(results: dict[str, Any]) -> dict[str, Any]:
    """The group's RunStore reads: first in the process, warm (median)."""
    server = results["server"]
    rows = [["first read in the process", server["cold_s"]], ["warm read (median)", server["warm_median_s"]]]
    return report.table("server", ["RunStore reads, whole group", "seconds"], rows, [None, 2])


def browser_table(results: dict[str, Any]) -> dict[str, Any]:
    """Navigation to title, curves drawn (median, max) and every chart drawn: the group beside one run."""
    group, single = results["browser"]["group"], results["browser"]["one_run"]
    steps = [
        ("navigation → title (median)", "title_median_s"),
        ("navigation → curves drawn (median)", "curves_median_s"),
        ("navigation → curves drawn (max)", "curves_max_s"),
        ("navigation → every chart drawn (median)", "all_charts_median_s"),
    ]
    rows = [[label, group[key], single[key]] for label, key in steps]
    return report.table("browser", ["measure", f"{results['runs']} runs (s)", "1 run (s)"], rows, [None, 2, 2])


def main(argv: list[str] | None = None) -> int:
    """Write the runs, time the store reads (and with ``--browser`` the page in Chromium), print the results."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also time the page in headless Chromium")
    parser.add_argument("--home", help="GAPVIZ_HOME to use (default: a new temporary folder)")
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    session = report.Session("compare", argv)
    home = Path(args.home or tempfile.mkdtemp(prefix="gapviz-bench-compare-")) / "home"
    os.environ["GAPVIZ_HOME"] = str(home)
    start = time.perf_counter()
    made = make_runs(home, args.runs, args.epochs)
    results: dict[str, Any] = {"runs": len(made), "epochs": args.epochs, "repeats": args.repeats}
    results["make_runs_s"] = time.perf_counter() - start
    results["server"] = server_times(home, args.repeats)
    if args.browser:
        results["browser"] = browser_times(home, args.repeats, made[0])
    print(json.dumps(results, indent=2))
    tables = [server_table(results), *([browser_table(results)] if args.browser else [])]
    session.save(measures_of(results), tables, report.output_path("compare", args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
