"""Benchmark of the app's page response, measured in Debian's Chromium through Playwright.

1. Live latency: for every epoch of a queued run, the time from the epoch's end (the ``ts`` of
   its event in the run's Redis Stream, stamped by the worker right after evaluation) to the
   moment the Live page shows that epoch (a MutationObserver-free poll in the page, every 25 ms,
   stamps when "showing epoch N" first appears). Target: <= 2 s, checked on the slowest epoch.
2. Explore render: the time from handing the page a 5,000-pair embeddings file to the whole
   page drawn (scatter, metrics, cone histogram, shift experiment: every chart's canvas on the
   page); the session's first upload (the front page has already imported torch) and a second file.
   Also the tiny random-init model encoding 5,000 built-in pairs.
3. Where the warm upload's server time goes: the public science functions the page runs, in this
   process, torch already imported (gapviz.data.embeddings_io.load_embeddings and
   gapviz.science.projection.pca_project, metrics.compute_all and its uniformity terms,
   shift.shift_sweep on a SHIFT_PAIRS sample, one λ of the slider).

    python -m benchmarks.bench_app [--epochs 6] [--live-eval-pairs 512] [--pairs 5000] [--record | --json PATH]

It starts its own `gapviz up` (embedded Redis, one worker, the app) on free ports in a temp folder.
``--record`` writes benchmarks/results/app.json (docs/benchmarks.md's source), ``--json PATH`` the same
file elsewhere.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report
from benchmarks.browser import GapvizUp, launch_browser, metric_value

REPO = Path(__file__).resolve().parents[1]
SHIFT_PAIRS, SHIFT_LAMBDAS = 600, 13
"""The shift experiment's sample and λ count, as Explore runs it (a seeded sample of images and their captions)."""

SEEN_SCRIPT = """
window.__gapvizSeen = window.__gapvizSeen || {};
setInterval(() => {
  const match = document.body && document.body.innerText.match(/showing epoch (\\d+) of/);
  if (match && !(match[1] in window.__gapvizSeen)) window.__gapvizSeen[match[1]] = Date.now() / 1000;
}, 25);
"""


def live_latency(server: GapvizUp, browser: Any, epochs: int, eval_size: int) -> dict[str, Any]:
    """Seconds from each epoch's end (its event's ``ts``) to the Live page showing it; epochs never shown."""
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
    ended = {e.epoch: e.ts for e in stream if e.kind == "epoch" and e.epoch is not None}
    context.close()
    return {
        "latency_s": {e: seen[e] - ended[e] for e in sorted(ended) if e in seen},
        "missed": sorted(set(ended) - set(seen)),
    }


def _pairs_file(folder: Path, n: int, d: int, seed: int) -> tuple[Path, float]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, d)).astype(np.float32)
    offset = np.zeros(d, dtype=np.float32)
    offset[0] = 1.0
    image, text = base + offset, base - offset + 0.3 * rng.normal(size=(n, d)).astype(np.float32)
    path = folder / f"pairs-{n}-{seed}.npy"
    np.save(path, np.stack([image, text]))
    import gapviz

    return path, gapviz.analyze(image, text, resamples=0)["gap_distance_unbiased"]


def _wait_for_full_page(page: Any, timeout_ms: int = 600_000) -> None:
    page.get_by_text("Embedding shift", exact=True).wait_for(timeout=timeout_ms)
    page.get_by_test_id("stMetric").filter(has_text="probe accuracy").first.wait_for(timeout=timeout_ms)
    page.wait_for_function("() => document.querySelectorAll('canvas').length >= 4", timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.body.innerText.includes('Analysing') && !document.body.innerText.includes('Shift experiment')",
        timeout=timeout_ms,
    )


def explore_upload(server: GapvizUp, browser: Any, folder: Path, n: int) -> dict[str, float]:
    """Seconds from handing Explore an ``n``-pair file to every chart drawn: cold (first file), warm (second)."""
    from gapviz.science import catalog  # the metric's label as every page shows it

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
        shown = metric_value(page, catalog.short("gap_distance_unbiased"))  # the headline tile, 3 significant digits
        decimals = len(shown.split(".")[1]) if "." in shown else 0
        assert abs(float(shown) - gap) <= 0.5 * 10**-decimals + 1e-9, (shown, gap)
        out[label] = elapsed
        page.context.close()
    return out


def explore_tiny_model(server: GapvizUp, browser: Any, n: int) -> float:
    """Seconds from clicking "Encode and analyse" (tiny random-init model, ``n`` pairs) to every chart drawn."""
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
    return elapsed


def _seconds(work: Any) -> tuple[Any, float]:
    mark = time.perf_counter()
    out = work()
    return out, time.perf_counter() - mark


def server_stages(folder: Path, n: int) -> list[list[Any]]:
    """[stage, seconds] of a warm upload's analysis through the public functions the page runs (after a first one)."""
    import io

    from gapviz.data.embeddings_io import load_embeddings
    from gapviz.science import kernels, metrics, projection, shift
    from gapviz.science.estimators import DEFAULT_RESAMPLES

    def read(path: Path) -> tuple[np.ndarray, np.ndarray, Any]:
        buffer = io.BytesIO(path.read_bytes())
        buffer.name = path.name
        emb = load_embeddings(buffer)
        image, text = np.asarray(emb.image, dtype=np.float32), np.asarray(emb.text, dtype=np.float32)
        projection.pca_project(image, text)
        return image, text, emb.text_image_index

    metrics.compute_all(*read(_pairs_file(folder, n, 64, 2)[0]), modality_probe=True)  # first calls, untimed
    (image, text, index), read_s = _seconds(lambda: read(_pairs_file(folder, n, 64, 1)[0]))
    _, whole_set = _seconds(lambda: metrics.compute_all(image, text, index, modality_probe=True))
    x, y, _ = metrics.prepare(image, text, index)
    _, uniformity = _seconds(lambda: kernels.uniformities(x, y, n_resamples=DEFAULT_RESAMPLES))
    kept = np.sort(np.random.default_rng(1).permutation(len(image))[:SHIFT_PAIRS])
    sample = image[kept], text[kept]
    lambdas = [float(v) for v in shift.default_lambdas(*sample, SHIFT_LAMBDAS)]
    _, sweep = _seconds(lambda: shift.shift_sweep(*sample, lambdas, logit_scales=(100.0,)))
    _, one = _seconds(lambda: shift.shift_sweep(*sample, [0.0], logit_scales=(100.0,)))
    return [
        ["read the file + PCA layout (load_embeddings, projection.pca_project)", read_s],
        ["whole-set metrics (metrics.compute_all)", whole_set],
        ["of which the three uniformity terms with their intervals, as compute_all runs them", uniformity],
        [f"shift sweep (shift.shift_sweep, {len(lambdas)} λ on {len(kept):,} pairs)", sweep],
        ["one λ of the slider (shifted metrics)", one],
    ]


def browser_side(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """`gapviz up` with one worker, then the Live and Explore measurements in Chromium."""
    from playwright.sync_api import sync_playwright

    server = GapvizUp(folder / "home", workers=1, log=folder / "gapviz-up.log")
    t0 = time.perf_counter()
    server.start()
    out: dict[str, Any] = {"startup_s": time.perf_counter() - t0}
    try:
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            try:
                out["live"] = live_latency(server, browser, args.epochs, args.live_eval_pairs)
                print("live:", out["live"], flush=True)
                out["upload"] = explore_upload(server, browser, folder, args.pairs)
                print("explore upload:", out["upload"], flush=True)
                out["tiny_model_s"] = explore_tiny_model(server, browser, args.pairs)
                print("explore tiny model:", out["tiny_model_s"], flush=True)
            finally:
                browser.close()
    finally:
        server.stop()
    return out


def measures_and_tables(found: dict[str, Any], stages: list[list[Any]], n: int) -> tuple[list, list]:
    """The results file's headline numbers (the Live target among them) and its tables."""
    latency = list(found["live"]["latency_s"].values())
    measures = [
        report.measure(
            "live_max_s",
            "Live page: epoch end → its plot in the browser, slowest epoch",
            max(latency),
            "s",
            ("<=", 2.0),
            2,
        ),
        report.measure("live_median_s", "Live page: epoch end → its plot, median", statistics.median(latency), "s"),
        report.measure("live_missed", "epochs the Live page never showed", len(found["live"]["missed"]), digits=0),
        report.measure(
            "upload_cold_s",
            f"Explore: {n:,} uploaded pairs → every chart drawn, the session's first upload",
            found["upload"]["cold"],
            "s",
            digits=1,
        ),
        report.measure(
            "upload_warm_s",
            f"Explore: another {n:,}-pair file → every chart drawn",
            found["upload"]["warm"],
            "s",
            digits=1,
        ),
        report.measure(
            "tiny_model_s",
            f"Explore: tiny random-init model encoding {n:,} built-in pairs → every chart",
            found["tiny_model_s"],
            "s",
            digits=1,
        ),
        report.measure(
            "startup_s", "`gapviz up` (one worker) → app and worker ready", found["startup_s"], "s", digits=1
        ),
    ]
    shown = [[epoch, seconds] for epoch, seconds in found["live"]["latency_s"].items()]
    shown += [[epoch, "not shown"] for epoch in found["live"]["missed"]]
    tables = [
        report.table("live", ["epoch", "epoch end → shown (s)"], sorted(shown, key=lambda row: row[0]), [0, 2]),
        report.table("server", ["stage (warm, in one process)", "seconds"], stages, [None, 2]),
    ]
    return measures, tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--live-eval-pairs", type=int, default=512)
    parser.add_argument("--pairs", type=int, default=5000)
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    session = report.Session("app", argv)
    folder = Path(tempfile.mkdtemp(prefix="gapviz-bench-app-"))
    stages = server_stages(folder, args.pairs)
    found = browser_side(folder, args)
    measures, tables = measures_and_tables(found, stages, args.pairs)
    report.show(measures, tables)
    session.save(measures, tables, report.output_path("app", args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
