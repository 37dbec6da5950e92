"""Time Explore's aligned UMAP of a run's epochs in fresh processes, numba compile included.

Usage: python -m benchmarks.bench_aligned_umap [--epochs 10 20] [--pairs 250 500] [--n-epochs 50 100 200]
       python -m benchmarks.bench_aligned_umap --quality [--n-epochs 50 100 200]   # layout quality, one process

Each setting runs in a new Python process, as the app's child does: starting Python, importing
umap, its numba kernels and the fit. Two columns: "compiling" leaves umap's kernels as umap ships
them (no ``cache=True``: every process compiles them, what the first child on a machine pays);
"kernels cached" turns on numba's disk cache for them first
(``projection_cache.cache_umap_kernels``, as the child does), after one process has written it.
The first row (3 epochs × 40 pairs) is almost only the fixed cost; the last row is the app's own
path, ``projection_cache.aligned_umap_layouts`` on an empty layout cache with the defaults.
Synthetic epochs: the same pairs drifting a little per epoch while their modality gap shrinks, as in
training. Prints a Markdown table. ``--quality`` instead fits 10 epochs × 500 clustered pairs in this
process per optimiser-epoch setting and prints the share of 10-NN kept and the movement per frame.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import sys, time
start = time.perf_counter()
from benchmarks.bench_aligned_umap import synthetic_epochs
from gapviz.science.projection import aligned_umap_project
epochs, pairs, dim, n_epochs, cached = map(int, sys.argv[1:6])
if cached:
    from gapviz.app.projection_cache import cache_umap_kernels
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


def _app_path(epochs: int, pairs: int, dim: int) -> float:
    """Seconds of projection_cache.aligned_umap_layouts on an empty cache (the app's child process)."""
    from gapviz.app import projection_cache

    data = synthetic_epochs(epochs, pairs, dim)
    with tempfile.TemporaryDirectory() as home:
        start = time.perf_counter()
        layouts = projection_cache.aligned_umap_layouts(Path(home), data)
        seconds = time.perf_counter() - start
    assert len(layouts) == epochs and all(np.isfinite(layout).all() for layout in layouts)
    return seconds


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


def quality(n_epochs_list: list[int]) -> None:
    """Print fit time, 10-NN kept and movement per frame of each optimiser-epoch setting (warm process)."""
    from gapviz.app.projection_cache import cache_umap_kernels
    from gapviz.science import projection

    cache_umap_kernels()
    epochs = _clustered_epochs(10, 500)
    projection.aligned_umap_project(_clustered_epochs(3, 40))  # compile outside the timings
    print("| optimiser epochs | fit (warm process) | 10-NN kept | movement per frame |")
    print("|---|---|---|---|")
    for n_epochs in n_epochs_list:
        start = time.perf_counter()
        layouts = projection.aligned_umap_project(epochs, n_epochs=n_epochs)
        seconds = time.perf_counter() - start
        points = [projection._joint(image, text) for image, text in epochs]
        kept = np.mean([_knn_kept(x, layout) for x, layout in zip(points, layouts, strict=True)])
        spread = [np.linalg.norm(a - a.mean(0), axis=1).mean() for a in layouts[:-1]]
        moved = [
            np.linalg.norm(b - a, axis=1).mean() / s for a, b, s in zip(layouts[:-1], layouts[1:], spread, strict=True)
        ]
        print(f"| {n_epochs} | {seconds:.1f} s | {kept:.3f} | {np.mean(moved):.3f} |", flush=True)
    independent = [projection.umap_project(image, text) for image, text in epochs[:3]]
    kept = np.mean([_knn_kept(x, layout) for x, layout in zip(points[:3], independent, strict=True)])
    print(f"| independent umap_project fits ({projection.UMAP_COLD_EPOCHS} epochs, for reference) | | {kept:.3f} | |")


def main(argv: list[str] | None = None) -> None:
    """Print one row per setting: run epochs, pairs, points per epoch, optimiser epochs, seconds."""
    from gapviz.science.projection import ALIGNED_UMAP_EPOCHS

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[10], help="run epochs laid out together")
    parser.add_argument("--pairs", type=int, nargs="+", default=[500], help="image-caption pairs per epoch")
    parser.add_argument("--n-epochs", type=int, nargs="+", default=[ALIGNED_UMAP_EPOCHS], help="optimiser epochs")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--app-pairs", type=int, default=400, help="pairs of the app-path row (0: no such row)")
    parser.add_argument("--quality", action="store_true", help="layout quality per optimiser-epoch setting instead")
    args = parser.parse_args(argv)
    if args.quality:
        quality(args.n_epochs)
        return
    _fresh(3, 40, args.dim, ALIGNED_UMAP_EPOCHS, cached=True)  # writes the kernel cache if it is not there
    print("| run epochs | pairs | points per epoch | optimiser epochs | compiling | kernels cached |")
    print("|---|---|---|---|---|---|")
    settings = [(3, 40, ALIGNED_UMAP_EPOCHS)]
    settings += [(e, p, n) for e in args.epochs for p in args.pairs for n in args.n_epochs]
    for epochs, pairs, n_epochs in settings:
        compiling, cached = (_fresh(epochs, pairs, args.dim, n_epochs, cached=c) for c in (False, True))
        print(f"| {epochs} | {pairs} | {2 * pairs} | {n_epochs} | {compiling:.1f} s | {cached:.1f} s |", flush=True)
    if args.app_pairs:
        seconds = _app_path(10, args.app_pairs, args.dim)
        print(
            f"| 10 (app path) | {args.app_pairs} | {2 * args.app_pairs} | {ALIGNED_UMAP_EPOCHS} | | {seconds:.1f} s |"
        )


if __name__ == "__main__":
    main()
