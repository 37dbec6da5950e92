"""Benchmark of Explore's first draw: in the server, and end to end in Debian's Chromium.

1. Server side, per size (default 10,000 and 100,000 pairs, 16-d, one caption and one 8 px image each), through the
   public functions the page runs: reading the .npz (gapviz.data.embeddings_io.load_embeddings), the PCA layout
   (gapviz.science.projection.pca_project), and the whole-set metrics that follow the drawing
   (gapviz.science.metrics.compute_all on a seeded 10,000-pair sample above that size). The page's own
   figure building and hover sheets are app internals: they are measured through the browser (2.), not here.
   torch is imported before timing (a running app has it).
2. With --browser: `gapviz up` (no worker) on an empty home, the time from starting it to the
   front page's first chart (the built-in view: torch import, tiny model, 512 pairs), then for each
   size the time from handing the page the file to every point drawn (Plotly's _fullData holds
   them), and the time from a mouse move to the hover label and to the pair's image beside it.

    python -m benchmarks.bench_explore [--sizes 10000 100000] [--browser] [--record | --json PATH]

Run from the repository root. Targets, with --browser: upload -> every point drawn <= 10 s at each size,
`gapviz up` -> the front page's first chart <= 30 s. ``--record`` writes benchmarks/results/explore.json
(docs/benchmarks.md's source: record the --browser run), ``--json PATH`` the same file elsewhere; without
--browser the file holds the server side only.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report

DIM = 16
METRICS_MAX_PAIRS = 10_000
"""Explore's whole-set metrics of bigger sets run on a seeded sample of this many pairs."""
POINTS_DRAWN = """(n) => { const g = document.querySelector('.js-plotly-plot');
  if (!g || !g._fullData) return false;
  return g._fullData.filter(t => t.mode === 'markers').reduce((s, t) => s + t.x.length, 0) >= n; }"""
POINT_XY = """() => { const g = document.querySelector('.js-plotly-plot'); const r = g.getBoundingClientRect();
  const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis; const d = g._fullData.find(t => t.name === 'text');
  return [r.left + xa._offset + xa.d2p(d.x[7]), r.top + ya._offset + ya.d2p(d.y[7])]; }"""

HOVER_IMAGE_SHOWN = """() => { const tip = document.getElementById('gapviz-hover-image');
  const img = tip && tip.querySelector('img');
  return !!img && tip.style.display === 'block' && img.complete && img.naturalWidth > 0; }"""


def pairs_npz(n: int, seed: int = 0) -> bytes:
    """``n`` shifted Gaussian pairs with a caption and an 8 px image each, as the bytes of an .npz upload."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, DIM)).astype(np.float32)
    shift = np.zeros(DIM, dtype=np.float32)
    shift[0] = 1.5
    buffer = io.BytesIO()
    text = base - shift + 0.3 * rng.normal(size=(n, DIM)).astype(np.float32)
    colours = rng.integers(0, 256, size=(n, 1, 1, 3), dtype=np.uint8)
    np.savez(
        buffer,
        image=base + shift,
        text=text,
        captions=np.array([f"caption of pair {i}" for i in range(n)]),
        images=np.broadcast_to(colours, (n, 8, 8, 3)),  # 8 px: hover images without a big upload
    )
    return buffer.getvalue()


def server_side(n: int) -> dict[str, float]:
    """Seconds per public stage of the first draw of ``n`` uploaded pairs, in this process."""
    from gapviz.data.embeddings_io import load_embeddings
    from gapviz.science import metrics, projection

    buffer = io.BytesIO(pairs_npz(n))
    buffer.name = "bench.npz"
    stages: dict[str, float] = {}
    start = time.perf_counter()
    emb = load_embeddings(buffer)
    image, text = np.asarray(emb.image, dtype=np.float32), np.asarray(emb.text, dtype=np.float32)
    stages["read_s"] = time.perf_counter() - start
    mark = time.perf_counter()
    projection.pca_project(image, text)
    stages["pca_s"] = time.perf_counter() - mark
    stages["read_and_pca_s"] = time.perf_counter() - start
    kept = np.sort(np.random.default_rng(0).permutation(n)[:METRICS_MAX_PAIRS])
    mark = time.perf_counter()
    metrics.compute_all(image[kept], text[kept], None, modality_probe=True)  # one caption per image here
    stages["metrics_after_draw_s"] = time.perf_counter() - mark
    return {"pairs": n, **stages}


def browser_side(sizes: list[int]) -> dict[str, Any]:
    """`gapviz up` -> front page chart, then upload -> drawn and hover latency for each size."""
    from playwright.sync_api import sync_playwright

    from benchmarks.browser import GapvizUp, launch_browser

    folder = Path(tempfile.mkdtemp(prefix="gapviz-bench-explore-"))
    started = time.perf_counter()
    server = GapvizUp(folder / "home", workers=0, log=folder / "gapviz-up.log").start()
    out: dict[str, Any] = {"up_s": time.perf_counter() - started}
    try:
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            page = server.new_context(browser, viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(server.url + "/")
            page.wait_for_function(POINTS_DRAWN, arg=1024, timeout=300_000, polling=50)
            out["front_page_first_chart_s"] = time.perf_counter() - started
            for n in sizes:
                out[f"upload_{n}"] = upload_and_draw(page, server.url, folder, n)
            browser.close()
    finally:
        server.stop()
    return out


def upload_and_draw(page: Any, url: str, folder: Path, n: int) -> dict[str, float]:
    """Seconds from handing the page ``n`` pairs to every point drawn, and from a mouse move to the hover label
    and to the pair's image."""
    path = folder / f"pairs-{n}.npz"
    path.write_bytes(pairs_npz(n, seed=n))
    page.goto(url + "/?source=upload")
    page.locator("input[type=file]").wait_for(state="attached", timeout=120_000)
    started = time.perf_counter()
    page.locator("input[type=file]").set_input_files(str(path))
    page.wait_for_function(POINTS_DRAWN, arg=2 * n, timeout=300_000, polling=50)
    drawn = time.perf_counter() - started
    page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    x, y = page.evaluate(POINT_XY)
    mark = time.perf_counter()
    page.mouse.move(x, y)
    page.locator(".hoverlayer .hovertext").first.wait_for(timeout=60_000)
    label = time.perf_counter() - mark
    page.wait_for_function(HOVER_IMAGE_SHOWN, timeout=60_000, polling=20)
    return {"upload_to_drawn_s": drawn, "hover_s": label, "hover_image_s": time.perf_counter() - mark}


SERVER_COLUMNS = [
    ("pairs", "pairs", 0),
    ("read_s", "read the .npz (s)", 2),
    ("pca_s", "PCA layout (s)", 2),
    ("read_and_pca_s", "read + PCA (s)", 2),
    ("metrics_after_draw_s", "whole-set metrics after the draw (s)", 2),
]
BROWSER_COLUMNS = [
    ("upload_to_drawn_s", "upload → every point drawn (s)", 2),
    ("hover_s", "mouse move → hover label (s)", 2),
    ("hover_image_s", "mouse move → the pair's image (s)", 2),
]


def server_measures(server: list[dict[str, float]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per size: read + PCA as a measure; every stage in the table "server"."""
    measures = []
    for row in server:
        n = int(row["pairs"])
        label = f"server: read + PCA layout, {n:,} pairs"
        measures.append(report.measure(f"server_read_and_pca_{n}_s", label, row["read_and_pca_s"], "s"))
    rows = [[row[key] for key, _, _ in SERVER_COLUMNS] for row in server]
    columns, digits = [label for _, label, _ in SERVER_COLUMNS], [d for _, _, d in SERVER_COLUMNS]
    return measures, report.table("server", columns, rows, digits)


def browser_measures(browser: dict[str, Any], sizes: list[int]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The two targets (every size's upload → drawn, `gapviz up` → first chart), hover times; table "browser"."""
    first_chart = browser["front_page_first_chart_s"]
    measures = [
        report.measure(
            "up_to_first_chart_s", "`gapviz up` → front page's first chart (cold)", first_chart, "s", ("<=", 30.0), 1
        ),
        report.measure("up_ready_s", "`gapviz up` (no worker) → app answering", browser["up_s"], "s", digits=1),
    ]
    for n in sizes:
        found = browser[f"upload_{n}"]
        measures += [
            report.measure(
                f"drawn_{n}_s",
                f"browser: upload → every point drawn, {n:,} pairs",
                found["upload_to_drawn_s"],
                "s",
                ("<=", 10.0),
                2,
            ),
            report.measure(f"hover_{n}_s", f"browser: mouse move → hover label, {n:,} pairs", found["hover_s"], "s"),
            report.measure(
                f"hover_image_{n}_s",
                f"browser: mouse move → the pair's image, {n:,} pairs",
                found["hover_image_s"],
                "s",
            ),
        ]
    rows = [[n] + [browser[f"upload_{n}"][key] for key, _, _ in BROWSER_COLUMNS] for n in sizes]
    columns = ["pairs"] + [label for _, label, _ in BROWSER_COLUMNS]
    return measures, report.table("browser", columns, rows, [0] + [d for _, _, d in BROWSER_COLUMNS])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--browser", action="store_true", help="also measure in Chromium with `gapviz up`")
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    session = report.Session("explore", argv)
    server_side(1_000)  # first-call costs (imports, numba kernels, BLAS start-up) outside the timed sizes
    measures, server = server_measures([server_side(n) for n in args.sizes])
    tables = [server]
    if args.browser:
        more, browser = browser_measures(browser_side(args.sizes), args.sizes)
        measures, tables = more + measures, [server, browser]
    report.show(measures, tables)
    session.save(measures, tables, report.output_path("explore", args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
