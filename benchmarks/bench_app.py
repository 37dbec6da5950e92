"""Benchmark of the app's page response, measured in Debian's Chromium through Playwright.

1. Live latency: for every epoch of a queued run, the time from the epoch's end (the ``ts`` of
   its event in the run's Redis Stream, stamped by the worker right after evaluation) to the
   moment the Live page shows that epoch (a MutationObserver-free poll in the page, every 25 ms,
   stamps when "showing epoch N" first appears). Target: <= 2 s.
2. Explore render: the time from handing the page a 5,000-pair embeddings file to the whole
   page drawn (scatter, metrics, cone histogram, shift experiment: every chart's canvas on the
   page); cold (first analysis in the app process, torch imported) and warm (a second file).
   Also the tiny random-init model encoding 5,000 built-in pairs.

Run: python benchmarks/bench_app.py [--epochs 6] [--pairs 5000] [--json out.json]
It starts its own `gapviz up` (embedded Redis, one worker, the app) on free ports in a temp folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from tests.app_fixtures import GapvizUp, launch_browser, metric_value  # noqa: E402  (run as python -m benchmarks.bench_app)

SEEN_SCRIPT = """
window.__gapvizSeen = window.__gapvizSeen || {};
setInterval(() => {
  const match = document.body && document.body.innerText.match(/showing epoch (\\d+) of/);
  if (match && !(match[1] in window.__gapvizSeen)) window.__gapvizSeen[match[1]] = Date.now() / 1000;
}, 25);
"""


def live_latency(server: GapvizUp, browser, epochs: int, eval_size: int) -> dict:
    from gapviz.config import preset
    from gapviz.queue import client as queue
    from gapviz.queue import events
    from gapviz.runs.store import RunStore

    conn = server.connection()
    store = RunStore(server.home)
    cfg = preset("tiny-test").with_overrides(
        {"train.epochs": epochs, "data.eval_size": eval_size, "name": "bench live"}
    )
    context = server.new_context(browser, viewport={"width": 1400, "height": 1100})
    context.add_init_script(SEEN_SCRIPT)
    page = context.new_page()
    run_id = queue.submit(conn, store, cfg).run_id
    page.goto(f"{server.url}/live?run={run_id}")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and store.state(run_id).value not in ("finished", "failed"):
        time.sleep(0.5)
    page.wait_for_timeout(3000)
    seen = {int(k): v for k, v in page.evaluate("window.__gapvizSeen").items()}
    stream, _ = events.read_events(conn, run_id)
    ended = {e.epoch: e.ts for e in stream if e.kind == "epoch"}
    latencies = {e: seen[e] - ended[e] for e in sorted(ended) if e in seen}
    context.close()
    values = list(latencies.values())
    return {
        "run_id": run_id,
        "epochs": epochs,
        "eval_pairs": eval_size,
        "per_epoch_s": {str(k): round(v, 3) for k, v in latencies.items()},
        "missed_epochs": sorted(set(ended) - set(seen)),
        "median_s": round(statistics.median(values), 3) if values else None,
        "max_s": round(max(values), 3) if values else None,
    }


def _pairs_file(folder: Path, n: int, d: int, seed: int) -> tuple[Path, float]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, d)).astype(np.float32)
    offset = np.zeros(d, dtype=np.float32)
    offset[0] = 1.0
    image, text = base + offset, base - offset + 0.3 * rng.normal(size=(n, d)).astype(np.float32)
    path = folder / f"pairs-{n}-{seed}.npy"
    np.save(path, np.stack([image, text]))
    from gapviz.science.metrics import gap_distance

    return path, gap_distance(image, text)


def _wait_for_full_page(page, timeout_ms: int = 600_000) -> None:
    page.get_by_text("Embedding shift", exact=True).wait_for(timeout=timeout_ms)
    page.get_by_test_id("stMetric").filter(has_text="signed gap").first.wait_for(timeout=timeout_ms)
    page.wait_for_function("() => document.querySelectorAll('canvas').length >= 4", timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.body.innerText.includes('Analysing') && !document.body.innerText.includes('Shift experiment')",
        timeout=timeout_ms,
    )


def explore_upload(server: GapvizUp, browser, folder: Path, n: int) -> dict:
    out = {}
    for label, seed in (("cold", 0), ("warm", 1)):
        path, gap = _pairs_file(folder, n, 64, seed)
        page = server.new_context(browser, viewport={"width": 1400, "height": 1100}).new_page()
        page.goto(server.url + "/?source=upload")  # the front page opens on the built-in view
        page.locator("input[type=file]").wait_for(state="attached", timeout=60_000)
        started = time.perf_counter()
        page.locator("input[type=file]").set_input_files(str(path))
        _wait_for_full_page(page)
        elapsed = time.perf_counter() - started
        shown = metric_value(page, "gap distance")
        assert shown == f"{gap:.4f}", (shown, gap)
        out[label] = round(elapsed, 2)
        page.context.close()
    return {"pairs": n, "dim": 64, **{f"{k}_s": v for k, v in out.items()}}


def explore_tiny_model(server: GapvizUp, browser, n: int) -> dict:
    page = server.new_context(browser, viewport={"width": 1400, "height": 1100}).new_page()
    page.goto(server.url + "/")
    page.get_by_text("Tiny random-init model (gapviz-tiny)").click()
    box = page.get_by_label("pairs (evaluation images)")
    box.fill(str(n))
    box.press("Tab")
    page.wait_for_timeout(1500)
    started = time.perf_counter()
    page.get_by_role("button", name="Encode and analyse").click()
    _wait_for_full_page(page)
    elapsed = time.perf_counter() - started
    page.context.close()
    return {"pairs": n, "seconds": round(elapsed, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--live-eval-pairs", type=int, default=512)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="gapviz-bench-app-"))
    server = GapvizUp(folder / "home", workers=1, log=folder / "gapviz-up.log")
    t0 = time.perf_counter()
    server.start()
    results: dict = {"startup_s": round(time.perf_counter() - t0, 1)}
    try:
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            try:
                results["live"] = live_latency(server, browser, args.epochs, args.live_eval_pairs)
                print("live:", json.dumps(results["live"]), flush=True)
                results["explore_upload"] = explore_upload(server, browser, folder, args.pairs)
                print("explore upload:", json.dumps(results["explore_upload"]), flush=True)
                results["explore_tiny_model"] = explore_tiny_model(server, browser, args.pairs)
                print("explore tiny model:", json.dumps(results["explore_tiny_model"]), flush=True)
            finally:
                browser.close()
    finally:
        server.stop()
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
