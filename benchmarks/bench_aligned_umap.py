"""Time Explore's aligned UMAP of a run's epochs in fresh processes, numba compile included.

Usage: python -m benchmarks.bench_aligned_umap [--record | --json PATH]          # the page's grid
       python -m benchmarks.bench_aligned_umap --epochs 10 20 --pairs 250 500 [--n-epochs 50 100 200]
       python -m benchmarks.bench_aligned_umap --quality [--n-epochs 50 100 200] [--record | --json PATH]

Each setting runs in a new Python process, as the app's child does: starting Python, importing
umap, its numba kernels and the fit. Two columns: "compiling" leaves umap's kernels as umap ships
them (no ``cache=True``: every process compiles them, what the first child on a machine pays);
"kernels cached" turns on numba's disk cache for them first
(``cache_umap_kernels`` below, what the app's child process does), after one process has written it.
The fit is the public ``gapviz.science.projection.aligned_umap_project``, the function the app's child wraps;
nothing here imports gapviz.app.

Every grid starts with two rows timed both ways: 3 epochs × 40 pairs (almost only the fixed cost)
and the app's setting (``--app-epochs`` × ``--app-pairs``, by default APP_EPOCHS × APP_PAIRS, Explore's
setting, at ALIGNED_UMAP_EPOCHS optimiser epochs). Then, by default, the page's
grid: one factor at a time away from the app's setting (pairs, run epochs, optimiser epochs), kernels
cached only, since compiling adds the same fixed cost to every row; given any of ``--epochs``,
``--pairs`` or ``--n-epochs``, their product instead, timed both ways. Synthetic epochs: the same
pairs drifting a little per epoch while their modality gap shrinks, as in training. Prints a Markdown
table; ``--record`` writes
benchmarks/results/aligned_umap.json (docs/benchmarks.md's source), ``--json PATH`` the same file
elsewhere.

``--quality`` instead fits QUALITY_EPOCHS epochs × QUALITY_PAIRS clustered pairs in this process per
optimiser-epoch setting and gives the share of 10-NN kept and the movement per frame (results:
aligned_umap_quality).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Any

import numpy as np

from benchmarks import report

APP_EPOCHS, APP_PAIRS = 10, 400
"""Explore's aligned-UMAP setting: at most 10 run epochs of 800 points (400 pairs); --app-epochs/--app-pairs."""
QUALITY_EPOCHS, QUALITY_PAIRS = 10, 500
"""The layout-quality data: run epochs and clustered pairs per epoch."""
CHILD = """
import sys, time
start = time.perf_counter()
from benchmarks.bench_aligned_umap import synthetic_epochs
from gapviz.science.projection import aligned_umap_project
epochs, pairs, dim, n_epochs, cached = map(int, sys.argv[1:6])
if cached:
    from benchmarks.bench_aligned_umap import cache_umap_kernels
    cache_umap_kernels()
layouts = aligned_umap_project(synthetic_epochs(epochs, pairs, dim), n_epochs=n_epochs)
print(time.perf_counter() - start)
"""


def synthetic_epochs(n_epochs: int, pairs: int, dim: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Paired embeddings whose gap shrinks and whose points drift a little per epoch."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(pairs, dim))
    offset = np.zeros(dim)
    out = []
    for epoch in range(n_epochs):
        base = base + 0.1 * rng.normal(size=base.shape)
        offset[0] = 2.0 / (1 + epoch)
        image = base + offset + 0.2 * rng.normal(size=base.shape)
        text = base - offset + 0.2 * rng.normal(size=base.shape)
        out.append((image.astype(np.float32), text.astype(np.float32)))
    return out


def _fresh(epochs: int, pairs: int, dim: int, n_epochs: int, cached: bool) -> float:
    """Seconds of one aligned fit in a new process, imports and compile (or cache loads) included."""
    argv = [sys.executable, "-c", CHILD, *(str(v) for v in (epochs, pairs, dim, n_epochs, int(cached)))]
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def cache_umap_kernels() -> int:
    """Turn on numba's disk cache for umap's module-level kernels, as the app's child process does; how many."""
    try:
        import umap  # noqa: F401  (imports umap.umap_, layouts, spectral, distances, aligned_umap)
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher
    except ImportError:
        return 0
    turned_on = 0
    for name, module in list(sys.modules.items()):
        if name == "umap" or name.startswith("umap."):
            for value in list(vars(module).values()):
                if isinstance(value, Dispatcher) and isinstance(getattr(value, "_cache", None), NullCache):
                    value.enable_caching()
                    turned_on += 1
    return turned_on


def _clustered_epochs(n_epochs: int, pairs: int, dim: int = 64, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Ten clusters of pairs drifting per epoch while the modality gap shrinks: structure a layout can keep."""
    rng = np.random.default_rng(seed)
    centres = 3 * rng.normal(size=(10, dim))
    base = centres[rng.integers(0, 10, pairs)] + rng.normal(size=(pairs, dim))
    out = []
    for epoch in range(n_epochs):
        base = base + 0.2 * rng.normal(size=base.shape)
        offset = np.zeros(dim)
        offset[0] = 3.0 / (1 + epoch)
        out.append(
            (base + offset + 0.5 * rng.normal(size=base.shape), base - offset + 0.5 * rng.normal(size=base.shape))
        )
    return out


def _knn_kept(points: np.ndarray, layout: np.ndarray, k: int = 10) -> float:
    """Mean share of each point's k nearest neighbours in ``points`` still among its k nearest in ``layout``."""
    from sklearn.neighbors import NearestNeighbors

    high, low = (
        NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)[:, 1:] for x in (points, layout)
    )
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(high, low, strict=True)]))


def quality(n_epochs_list: list[int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Fit time, 10-NN kept and movement per frame of each optimiser-epoch setting (warm process)."""
    from gapviz.science import projection

    cache_umap_kernels()
    epochs = _clustered_epochs(QUALITY_EPOCHS, QUALITY_PAIRS)
    projection.aligned_umap_project(_clustered_epochs(3, 40))  # compile outside the timings
    points = [projection._joint(image, text) for image, text in epochs]
    print("| optimiser epochs | fit (warm process) | 10-NN kept | movement per frame |")
    print("|---|---|---|---|")
    rows: list[list[Any]] = []
    for n_epochs in n_epochs_list:
        start = time.perf_counter()
        layouts = projection.aligned_umap_project(epochs, n_epochs=n_epochs)
        seconds = time.perf_counter() - start
        kept = float(np.mean([_knn_kept(x, layout) for x, layout in zip(points, layouts, strict=True)]))
        spread = [np.linalg.norm(a - a.mean(0), axis=1).mean() for a in layouts[:-1]]
        moved = [
            np.linalg.norm(b - a, axis=1).mean() / s for a, b, s in zip(layouts[:-1], layouts[1:], spread, strict=True)
        ]
        rows.append(["AlignedUMAP, every epoch", n_epochs, seconds, kept, float(np.mean(moved))])
        print(f"| {n_epochs} | {seconds:.1f} s | {kept:.3f} | {np.mean(moved):.3f} |", flush=True)
    independent = [projection.umap_project(image, text) for image, text in epochs[:3]]
    kept = float(np.mean([_knn_kept(x, layout) for x, layout in zip(points[:3], independent, strict=True)]))
    rows.append(
        ["independent umap_project fits, first 3 epochs (for reference)", projection.UMAP_COLD_EPOCHS, "", kept, ""]
    )
    print(f"| independent umap_project fits ({projection.UMAP_COLD_EPOCHS} epochs, for reference) | | {kept:.3f} | |")
    measures = [
        report.measure("run_epochs", "run epochs laid out together", QUALITY_EPOCHS, digits=0),
        report.measure("pairs", "clustered pairs per epoch", QUALITY_PAIRS, digits=0),
        report.measure("independent_kept", "10-NN kept by independent umap_project fits", kept, digits=3),
    ]
    columns = ["layout", "optimiser epochs", "fit, warm process (s)", "10-NN kept", "movement per frame"]
    return measures, [report.table("quality", columns, rows, [None, 0, 1, 3, 3])]


Row = tuple[str, int, int, int, bool]
"""(what the row shows, run epochs, pairs, optimiser epochs, whether the compiling column is timed too)."""


def page_grid(epochs: int, pairs: int, n_epochs: int) -> list[Row]:
    """Around the app's setting, one factor at a time: pairs, run epochs, optimiser epochs (kernels cached)."""
    return [
        ("pairs", epochs, 250, n_epochs, False),
        ("pairs", epochs, 500, n_epochs, False),
        ("run epochs", 2 * epochs, 250, n_epochs, False),
        ("optimiser epochs", epochs, pairs, n_epochs // 2, False),
        ("optimiser epochs", epochs, pairs, 2 * n_epochs, False),
    ]


def grid(args: argparse.Namespace, n_epochs: int) -> list[Row]:
    """The fixed-cost row and the app's setting (both columns), then the page's grid or the product asked for."""
    rows: list[Row] = [
        ("fixed cost", 3, 40, n_epochs, True),
        ("the app's setting", args.app_epochs, args.app_pairs, n_epochs, True),
    ]
    if args.epochs or args.pairs or args.n_epochs:
        product = [
            ("asked for", e, p, n, True)
            for e in args.epochs or [args.app_epochs]
            for p in args.pairs or [args.app_pairs]
            for n in args.n_epochs or [n_epochs]
        ]
    else:
        product = page_grid(args.app_epochs, args.app_pairs, n_epochs)
    for row in product:
        if all(row[1:4] != kept[1:4] for kept in rows):
            rows.append(row)
    return rows


def time_grid(rows: list[Row], dim: int) -> list[list[Any]]:
    """Each row timed in fresh processes: kernels cached, and compiling where the row asks for it."""
    print("| row | run epochs | pairs | points per epoch | optimiser epochs | compiling | kernels cached |")
    print("|---|---|---|---|---|---|---|")
    out = []
    for what, epochs, pairs, n_epochs, compile_too in rows:
        compiling = _fresh(epochs, pairs, dim, n_epochs, cached=False) if compile_too else ""
        cached = _fresh(epochs, pairs, dim, n_epochs, cached=True)
        out.append([what, epochs, pairs, 2 * pairs, n_epochs, compiling, cached])
        shown = f"{compiling:.1f} s" if compile_too else ""
        print(f"| {what} | {epochs} | {pairs} | {2 * pairs} | {n_epochs} | {shown} | {cached:.1f} s |", flush=True)
    return out


def grid_results(table: list[list[Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The fixed cost and the app's setting as measures, the grid as a table."""
    fixed, app = table[0], table[1]
    setting = f"{app[1]} run epochs × {app[2]} pairs, {app[4]} optimiser epochs"
    measures = [
        report.measure(
            "fixed_compiling_s", f"{fixed[1]} run epochs × {fixed[2]} pairs, compiling", fixed[5], "s", digits=1
        ),
        report.measure(
            "fixed_cached_s", f"{fixed[1]} run epochs × {fixed[2]} pairs, kernels cached", fixed[6], "s", digits=1
        ),
        report.measure("app_compiling_s", f"the app's setting ({setting}), compiling", app[5], "s", digits=1),
        report.measure("app_cached_s", f"the app's setting ({setting}), kernels cached", app[6], "s", digits=1),
        report.measure("compile_s", "what compiling adds (the app's setting)", app[5] - app[6], "s", digits=1),
    ]
    rows = list(table)
    columns = [
        "row",
        "run epochs",
        "pairs",
        "points per epoch",
        "optimiser epochs",
        "compiling (s)",
        "kernels cached (s)",
    ]
    return measures, [report.table("grid", columns, rows, [None, 0, 0, 0, 0, 1, 1])]


def main(argv: list[str] | None = None) -> None:
    """Print one row per setting (or, with ``--quality``, per optimiser-epoch setting) and save the results."""
    from gapviz.science.projection import ALIGNED_UMAP_EPOCHS

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", help="run epochs laid out together (a product grid)")
    parser.add_argument("--pairs", type=int, nargs="+", help="image-caption pairs per epoch (a product grid)")
    parser.add_argument("--n-epochs", type=int, nargs="+", help="optimiser epochs (a product grid; with --quality)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--app-epochs", type=int, default=APP_EPOCHS, help="run epochs of the app's setting")
    parser.add_argument("--app-pairs", type=int, default=APP_PAIRS, help="pairs of the app's setting")
    parser.add_argument("--quality", action="store_true", help="layout quality per optimiser-epoch setting instead")
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    if args.quality:
        session = report.Session("aligned_umap_quality", argv, module="bench_aligned_umap")
        measures, tables = quality(
            args.n_epochs or [ALIGNED_UMAP_EPOCHS // 2, ALIGNED_UMAP_EPOCHS, 2 * ALIGNED_UMAP_EPOCHS]
        )
        session.save(measures, tables, report.output_path("aligned_umap_quality", args))
        return
    session = report.Session("aligned_umap", argv)
    _fresh(3, 40, args.dim, ALIGNED_UMAP_EPOCHS, cached=True)  # writes the kernel cache if it is not there
    table = time_grid(grid(args, ALIGNED_UMAP_EPOCHS), args.dim)
    measures, tables = grid_results(table)
    session.save(measures, tables, report.output_path("aligned_umap", args))


if __name__ == "__main__":
    main()
