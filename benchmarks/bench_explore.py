"""Benchmark of Explore's first draw: in the server, and end to end in Debian's Chromium.

1. Server side, per size (default 10,000 and 100,000 pairs, 16-d, one caption and one 8 px image each): reading the
   .npz, the PCA layout (gapviz.science.projection), the scatter frames, the Plotly figure and its
   JSON (what st.plotly_chart sends), and the whole-set metrics that follow the drawing (compute_all
   on a 10,000-pair sample), then the hover sheets of as many 32 px images (gapviz.app.thumb_sheets,
   written once per set of images). torch is imported before timing (a running app has it).
2. With --browser: `gapviz up` (no worker) on an empty home, the time from starting it to the
   front page's first chart (the built-in view: torch import, tiny model, 512 pairs), then for each
   size the time from handing the page the file to every point drawn (Plotly's _fullData holds
   them), and the time from a mouse move to the hover label and to the pair's image beside it.

Run from the repository root: python -m benchmarks.bench_explore [--sizes 10000 100000] [--browser] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 16
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


def server_side(n: int) -> dict:
    """Seconds per stage of the first draw of ``n`` uploaded pairs, in this process."""
    import plotly.io

    from gapviz.app import analysis, frames, scatter
    from gapviz.app.explore_views import MAX_LINES, MAX_WEBGL_PAIRS
    from gapviz.science import metrics  # noqa: F401 - torch imported before the clock starts

    data = pairs_npz(n)
    stages: dict[str, float] = {}
    start = time.perf_counter()
    result = analysis.from_upload(data, "bench.npz")
    stages["read_and_pca_s"] = time.perf_counter() - start
    mark = time.perf_counter()
    points, lines, arrow, _ = frames.scatter_frames(
        result.projections["pca"], n, None, result.captions, max_pairs=MAX_WEBGL_PAIRS, max_lines=MAX_LINES
    )
    stages["frames_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    figure = scatter.scatter_figure(points, lines=lines, arrow=arrow, first_caption=result.first_captions)
    stages["figure_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    spec = plotly.io.to_json(figure, validate=False)
    stages["json_s"] = time.perf_counter() - mark
    stages["first_draw_server_s"] = time.perf_counter() - start
    mark = time.perf_counter()
    analysis.complete_metrics(result)
    stages["metrics_after_draw_s"] = time.perf_counter() - mark
    stages["hover_sheets_s"] = hover_sheets_seconds(n)
    return {"pairs": n, "spec_mb": round(len(spec) / 1e6, 1), **{k: round(v, 2) for k, v in stages.items()}}


def hover_sheets_seconds(n: int, size: int = 32) -> float:
    """Seconds to tile ``n`` images of size × size pixels into hover sheets (first time: hash, tile, JPEG)."""
    from gapviz.app import thumb_sheets

    rng = np.random.default_rng(n)
    images = np.repeat(np.repeat(rng.integers(0, 256, size=(n, size // 8, size // 8, 3), dtype=np.uint8), 8, 1), 8, 2)
    with tempfile.TemporaryDirectory() as root:
        mark = time.perf_counter()
        thumb_sheets.write_sheets(Path(root), images)
        return time.perf_counter() - mark


def browser_side(sizes: list[int]) -> dict:
    """`gapviz up` -> front page chart, then upload -> drawn and hover latency for each size."""
    from playwright.sync_api import sync_playwright

    from tests.app_fixtures import GapvizUp, launch_browser

    folder = Path(tempfile.mkdtemp(prefix="gapviz-bench-explore-"))
    started = time.perf_counter()
    server = GapvizUp(folder / "home", workers=0, log=folder / "gapviz-up.log").start()
    out: dict = {"up_s": round(time.perf_counter() - started, 1)}
    try:
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            page = server.new_context(browser, viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(server.url + "/")
            page.wait_for_function(POINTS_DRAWN, arg=1024, timeout=300_000, polling=50)
            out["front_page_first_chart_s"] = round(time.perf_counter() - started, 1)
            for n in sizes:
                out[f"upload_{n}"] = upload_and_draw(page, server.url, folder, n)
            browser.close()
    finally:
        server.stop()
    return out


def upload_and_draw(page, url: str, folder: Path, n: int) -> dict:
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
    return {
        "upload_to_drawn_s": round(drawn, 2),
        "hover_s": round(label, 2),
        "hover_image_s": round(time.perf_counter() - mark, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--browser", action="store_true", help="also measure in Chromium with `gapviz up`")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    results: dict = {"server": [server_side(n) for n in args.sizes]}
    for row in results["server"]:
        print("server:", json.dumps(row), flush=True)
    if args.browser:
        results["browser"] = browser_side(args.sizes)
        print("browser:", json.dumps(results["browser"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
