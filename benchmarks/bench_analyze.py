"""Time `gapviz analyze` (every metric, bootstrap intervals and the null) against a bare `image @ text.T`.

Usage: python benchmarks/bench_analyze.py [--pairs 20000] [--dim 512] [--resamples 1000] [--threads 2]
       python benchmarks/bench_analyze.py --pairs 100000 --memory-only   # one analyze, its time and peak RSS

Issue 9's target: analyze of 20,000 pairs × 512 dimensions within 1.5× one bare 20,000 × 20,000 matmul
measured in the same run, the bootstrap adding at most 20 %. Prints a Markdown table; each figure is
the best of ``--repeats`` runs (the machine may be shared). The end-to-end row runs the CLI in this
process on a .npy written to a temporary folder, so it includes reading the file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _setup_threads(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(threads)


def _interleaved_best(steps: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best seconds of each step over ``repeats`` rounds, the steps interleaved so load changes hit them alike."""
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeats):
        for name, fn in steps.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def _data(pairs: int, dim: int):
    import numpy as np

    rng = np.random.default_rng(0)
    image = (rng.normal(size=(pairs, dim)) + 0.15).astype(np.float32)
    text = (image + rng.normal(size=(pairs, dim)) - 0.3).astype(np.float32)
    return image, text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="only time one compute_all and print the peak RSS (the bare N×N matmul would not fit)",
    )
    args = parser.parse_args(argv)
    _setup_threads(args.threads)
    import numpy as np
    import torch

    from gapviz.cli.main import main as gapviz_main
    from gapviz.science.metrics import compute_all

    torch.set_num_threads(args.threads)
    image, text = _data(args.pairs, args.dim)
    compute_all(image[:2000], text[:2000], n_resamples=10)  # compile the numba kernel outside the timings
    if args.memory_only:
        start = time.perf_counter()
        compute_all(image, text, n_resamples=args.resamples)
        seconds, peak = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(
            f"{args.pairs:,} pairs × {args.dim} dims, {args.threads} threads: compute_all {seconds:.1f} s, "
            f"peak RSS {peak:.2f} GiB (inputs {2 * image.nbytes / 2**30:.2f} GiB)"
        )
        return
    x, y = torch.from_numpy(image), torch.from_numpy(text)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "emb.npy"
        np.save(path, np.stack([image, text]))
        argv_cli = ["analyze", str(path), "--json", "--resamples", str(args.resamples)]
        with contextlib.redirect_stdout(io.StringIO()):
            best = _interleaved_best(
                {
                    "matmul": lambda: x @ y.T,
                    "bare": lambda: compute_all(image, text, n_resamples=0),
                    "full": lambda: compute_all(image, text, n_resamples=args.resamples),
                    "cli": lambda: gapviz_main(argv_cli),
                },
                args.repeats,
            )
    matmul, bare, full, cli = best["matmul"], best["bare"], best["full"], best["cli"]
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    rows = [
        ("bare `image @ text.T` (torch)", matmul),
        ("compute_all, no bootstrap", bare),
        (f"compute_all, {args.resamples} resamples", full),
        ("`gapviz analyze --json` (reads the .npy)", cli),
    ]
    load = os.getloadavg()[0]
    print(
        f"{args.pairs:,} pairs × {args.dim} dims, {args.threads} threads, best of {args.repeats} interleaved rounds; "
        f"peak RSS {peak_gib:.2f} GiB; load average at the end {load:.1f}\n"
    )
    print("| step | seconds | × matmul |\n|---|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} | {seconds / matmul:.2f} |")
    print(f"\nbootstrap adds {100 * (full - bare) / bare:.0f} % to compute_all")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
