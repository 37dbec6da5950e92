"""Benchmark of Explore on a million pairs: `gapviz explore FILE` and Debian's Chromium, with the app's memory sampled.

1. Writes a (2, N, D) float32 .npy (default 1,000,000 pairs × 512 dimensions, 4 GB: shifted Gaussian pairs) outside
   the allowed folders, and times the public functions on it in this process: opening it
   (gapviz.data.embedding_files.open_embedding_file: memory-mapped, every row checked for NaN in chunks) and the PCA
   layout (gapviz.science.projection.pca_project: axes from a seeded sample, every row projected in chunks).
2. Runs `gapviz explore FILE --no-browser` (the CLI registers the file, starts `gapviz up` without a worker, prints the
   URL) and opens that URL in headless Chromium: the time from opening it to every point drawn (Plotly's _fullData
   holds 2N points), to the metrics' sample size shown, and from a mouse move to the hover label; meanwhile the app
   process's resident memory (RSS, the mapped file's pages included, and its anonymous part) is sampled every 0.2 s.

    python -m benchmarks.bench_explore_million [--pairs 1000000] [--dim 512] [--record | --json PATH]

Run from the repository root. Targets: open -> every point drawn <= 15 s, the app's peak RSS <= 6 GiB.
``--record`` writes benchmarks/results/explore_million.json (docs/benchmarks.md's source).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report
from benchmarks.browser import REPO, TOKEN, free_port, launch_browser

GIB = float(1 << 30)
DRAWN = "(n) => Number(document.body.dataset.drawn || 0) >= n"
"""The component has drawn ``n`` points (gapviz.app.explore.scatter_component sets data-drawn once painted)."""
POINT_XY = """(name) => { const s = window.gapvizScatter, g = document.getElementById('plot');
  const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
  const from = name === 'image' ? 0 : s.images, to = Math.min(name === 'image' ? s.images : s.total, from + 5000);
  let far = from; for (let i = from; i < to; i++) if (Math.abs(s.xy[2 * i]) > Math.abs(s.xy[2 * far])) far = i;
  return [r.left + xa._offset + xa.d2p(s.xy[2 * far]), r.top + ya._offset + ya.d2p(s.xy[2 * far + 1])]; }"""
"""Coordinates (within the component's frame) of an outlying point of modality ``name`` (one easy to hover)."""
COMPONENT_FRAME = "iframe[src*='gapviz_scatter']"
"""The big-set scatter component's frame (gapviz.app.explore.big_scatter)."""


def scatter_frame(page: Any, n_points: int, timeout_ms: int) -> Any:
    """The component's frame once it has drawn ``n_points`` points."""
    frame_element = page.wait_for_selector(COMPONENT_FRAME, state="attached", timeout=timeout_ms)
    frame = frame_element.content_frame()
    frame.wait_for_function(DRAWN, arg=n_points, timeout=timeout_ms, polling=100)
    return frame


def point_on_page(page: Any, frame: Any, name: str) -> tuple[float, float]:
    """POINT_XY of the trace ``name`` in the component's frame, as page coordinates for page.mouse."""
    box = page.locator(COMPONENT_FRAME).bounding_box()
    x, y = frame.evaluate(POINT_XY, name)
    return box["x"] + x, box["y"] + y


def write_pairs(path: Path, n: int, dim: int, chunk: int = 1 << 16) -> None:
    """``n`` shifted Gaussian pairs as a (2, n, dim) float32 .npy, written block by block."""
    rng = np.random.default_rng(0)
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(2, n, dim))
    shift = np.zeros(dim, dtype=np.float32)
    shift[0] = 1.5
    for start in range(0, n, chunk):
        base = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
        arr[0, start : start + len(base)] = base + shift
        arr[1, start : start + len(base)] = base - shift + 0.3 * rng.standard_normal(base.shape, dtype=np.float32)
    arr.flush()
    del arr


def server_side(path: Path) -> dict[str, float]:
    """Seconds to open the file (mapped, NaN-checked) and to lay out every row with PCA, in this process."""
    from gapviz.data.embedding_files import open_embedding_file
    from gapviz.science.projection import pca_project

    start = time.perf_counter()
    emb = open_embedding_file(path)
    opened = time.perf_counter() - start
    mark = time.perf_counter()
    pca_project(emb.image, emb.text)
    return {"open_s": opened, "pca_s": time.perf_counter() - mark}


class MemorySampler(threading.Thread):
    """Peak RSS and anonymous RSS (bytes) of a process, read from /proc every ``every`` seconds until stopped."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.done = pid, every, threading.Event()
        self.peak_rss = self.peak_anon = 0

    def run(self) -> None:
        while not self.done.is_set():
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            fields = dict(re.findall(r"^(VmRSS|RssAnon):\s+(\d+) kB", status, re.M))
            self.peak_rss = max(self.peak_rss, int(fields.get("VmRSS", 0)) * 1024)
            self.peak_anon = max(self.peak_anon, int(fields.get("RssAnon", 0)) * 1024)
            self.done.wait(self.every)


def app_pid(explore: subprocess.Popen, timeout: float = 60.0) -> int:
    """The Streamlit app process `gapviz explore` started (a child running `streamlit run`)."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(explore.pid).children(recursive=True):
            if "streamlit" in " ".join(child.cmdline()):
                return int(child.pid)
        time.sleep(0.2)
    raise RuntimeError("the app process did not start")


def start_explore(home: Path, path: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`gapviz explore FILE --no-browser` on ``home``; returns it and the URL it printed."""
    env = dict(os.environ, GAPVIZ_HOME=str(home), GAPVIZ_TOKEN=TOKEN, HF_HUB_OFFLINE="1")
    env.update(PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    env.pop("REDIS_URL", None)
    command = [
        sys.executable,
        "-m",
        "gapviz.cli.main",
        "explore",
        str(path),
        "--no-browser",
        "--port",
        str(free_port()),
    ]
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=open(log, "ab"), start_new_session=True
    )
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode()
        if line.startswith("gapviz explore: "):
            return proc, line.split()[2]
    raise RuntimeError(f"gapviz explore printed no URL: {log.read_text()[-2000:]}")


def browser_side(home: Path, path: Path, n: int, log: Path) -> dict[str, float]:
    """Open -> drawn, -> the metrics' sample size shown, hover latency and the app's peak memory."""
    from playwright.sync_api import sync_playwright

    proc, url = start_explore(home, path, log)
    sampler = MemorySampler(app_pid(proc))
    sampler.start()
    out: dict[str, float] = {}
    try:
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            started = time.perf_counter()
            page.goto(url)
            frame = scatter_frame(page, 2 * n, 300_000)
            out["open_to_drawn_s"] = time.perf_counter() - started
            page.get_by_text(f"retrieval on 10,000 of {n:,} pairs", exact=False).first.wait_for(timeout=300_000)
            out["open_to_metrics_s"] = time.perf_counter() - started
            page.locator(COMPONENT_FRAME).scroll_into_view_if_needed()
            x, y = point_on_page(page, frame, "image")
            mark = time.perf_counter()
            page.mouse.move(x, y)
            frame.locator(".hovertext").first.wait_for(timeout=120_000)
            out["hover_s"] = time.perf_counter() - mark
            browser.close()
    finally:
        sampler.done.set()
        sampler.join()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    return {**out, "peak_rss_gib": sampler.peak_rss / GIB, "peak_anon_gib": sampler.peak_anon / GIB}


def measures_of(found: dict[str, float], n: int, dim: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The two targets and the other times, and one table of every stage."""
    size = f"{n:,} pairs × {dim}"
    measures = [
        report.measure("drawn_s", f"open → every point drawn, {size}", found["open_to_drawn_s"], "s", ("<=", 15.0), 1),
        report.measure(
            "peak_rss_gib", "the app's peak RSS (mapped file included)", found["peak_rss_gib"], "GiB", ("<=", 6.0), 2
        ),
        report.measure("peak_anon_gib", "the app's peak anonymous RSS", found["peak_anon_gib"], "GiB"),
        report.measure("metrics_s", "open → the metrics' sample size shown", found["open_to_metrics_s"], "s", digits=1),
        report.measure("hover_s", "mouse move → hover label", found["hover_s"], "s"),
        report.measure("open_s", "server: open the file (mapped, NaN check)", found["open_s"], "s"),
        report.measure("pca_s", "server: PCA layout of every row", found["pca_s"], "s"),
    ]
    rows = [[m["label"], m["value"]] for m in measures]
    return measures, [report.table("stages", ["stage", "value"], rows, [None, 2])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    session = report.Session("explore_million", argv)
    folder = Path(tempfile.mkdtemp(prefix="gapviz-bench-million-"))
    try:
        path = folder / "data" / "pairs.npy"
        path.parent.mkdir()
        write_pairs(path, args.pairs, args.dim)
        found = server_side(path)
        found |= browser_side(folder / "home", path, args.pairs, folder / "gapviz-explore.log")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    measures, tables = measures_of(found, args.pairs, args.dim)
    report.show(measures, tables)
    session.save(measures, tables, report.output_path("explore_million", args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
