"""Benchmark of the Compare page at research scale: 100 runs of 20 epochs (10 τ values × 10 seeds, one group).

1. Server: the Compare page's script run (AppTest, the whole app with navigation) for ``?group=`` of all
   100 runs, cold (first run in the process: every store read) and warm (a rerun: cached reads), and
   the same with smoothing on and with the value table at "best".
2. Browser (``--browser``): `streamlit run` on a free port, headless Chromium opens
   ``/compare?group=bench-100`` in a new tab of one browser (a returning user: its HTTP cache is warm);
   time from navigation to the page's title (Streamlit's own start: page,
   scripts, websocket), to the curves drawn (the first Vega canvas with pixels), and to every chart of
   the page drawn. Target: curves within 3 s. The same for one run alone (``?runs=<id>``) shows the
   page's fixed cost, so the difference is what 100 runs add.

Run from the repository root: python -m benchmarks.bench_compare [--runs 100] [--epochs 20] [--browser]
It writes its runs into a temporary GAPVIZ_HOME (or --home).
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

REPO = Path(__file__).resolve().parents[1]
GROUP = "bench-100"
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


def server_times(repeats: int) -> dict[str, float]:
    """Seconds of the Compare script for the whole group: cold, warm (median), smoothed, best values."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=300)
    at.run()
    at.switch_page("gapviz/app/pages/compare.py")
    at.query_params["group"] = GROUP
    start = time.perf_counter()
    at.run()
    cold = time.perf_counter() - start
    assert not at.exception, at.exception
    assert len(at.multiselect(key="runs").value) > 0
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - start)
    at.slider(key="compare_smoothing").set_value(0.6)
    start = time.perf_counter()
    at.run()
    smoothed = time.perf_counter() - start
    at.radio(key="compare_value_mode").set_value("best")
    start = time.perf_counter()
    at.run()
    best = time.perf_counter() - start
    return {"cold_s": cold, "warm_median_s": statistics.median(warm), "smoothing_s": smoothed, "best_values_s": best}


DRAWN = """(n) => { const c = [...document.querySelectorAll('.vega-embed canvas')];
  return c.length >= n && c.slice(0, n).every(x => x.width > 0 && x.height > 0); }"""


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

    from tests.app_fixtures import free_port, launch_browser

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also time the page in headless Chromium")
    parser.add_argument("--home", help="GAPVIZ_HOME to use (default: a new temporary folder)")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    home = Path(args.home or tempfile.mkdtemp(prefix="gapviz-bench-compare-")) / "home"
    os.environ["GAPVIZ_HOME"] = str(home)
    start = time.perf_counter()
    made = make_runs(home, args.runs, args.epochs)
    results: dict[str, object] = {"runs": len(made), "epochs": args.epochs, "make_runs_s": time.perf_counter() - start}
    results["server"] = server_times(args.repeats)
    if args.browser:
        results["browser"] = browser_times(home, args.repeats, made[0])
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
