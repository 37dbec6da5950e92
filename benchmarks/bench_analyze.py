"""Time `gapviz analyze` (every metric, bootstrap intervals and the null) against a bare `image @ text.T`.

Usage: python -m benchmarks.bench_analyze [--pairs 20000] [--dim 512] [--resamples 1000] [--threads 2] [--record]
       python -m benchmarks.bench_analyze --pairs 10000 --name analyze_full --record   # every pair, with stages
       python -m benchmarks.bench_analyze --resamples 200 --name analyze_training --record   # epoch records' setting
       python -m benchmarks.bench_analyze --pairs 100000 --memory-only --record   # results file analyze_memory

Issue 9's target: analyze of 20,000 pairs × 512 dimensions within 1.5× one bare 20,000 × 20,000 matmul
measured in the same run, the bootstrap adding at most 20 %. Each figure is the best of ``--repeats``
rounds, the steps interleaved (the machine may be shared). The end-to-end step runs the CLI in this
process on a .npy written to a temporary folder, so it includes reading the file. Above
chunked.STREAM_MIN_PAIRS pairs compute_all streams (retrieval and the O(N²) metrics on a subsample, measure
``retrieval_n``); at or below it every pair is used and a second table times compute_all's stages one by one, by
calling gapviz.science's functions as compute_all does.
``--memory-only`` times one compute_all and reports the peak RSS (the bare N × N matmul would not fit).
The results file is ``--name`` (default: analyze, or analyze_memory with ``--memory-only``); the page's
placeholders name results with lowercase letters and underscores only.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import report

KS = (1, 5, 10)
BOOTSTRAP_STAGES = (
    "drawing the bootstrap counts",
    "cone, pair-cosine and relative-gap bootstrap",
    "pair-distance bootstrap",
    "gap intervals from the U-statistic's variance (no resampling)",
    "permutation null",
)


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


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def end_to_end(image: Any, text: Any, resamples: int, repeats: int) -> tuple[dict[str, float], float]:
    """Best seconds of the bare matmul, compute_all without and with the bootstrap, and the CLI on a .npy; and the
    number of pairs compute_all's retrieval ran on (a subsample above chunked.STREAM_MIN_PAIRS)."""
    import numpy as np
    import torch

    from gapviz.cli.main import main as gapviz_main
    from gapviz.science.metrics import compute_all

    x, y = torch.from_numpy(image), torch.from_numpy(text)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "emb.npy"
        np.save(path, np.stack([image, text]))
        argv_cli = ["analyze", str(path), "--json", "--resamples", str(resamples)]
        values: dict[str, Any] = {}
        with contextlib.redirect_stdout(io.StringIO()):
            best = _interleaved_best(
                {
                    "matmul": lambda: x @ y.T,
                    "bare": lambda: compute_all(image, text, n_resamples=0),
                    "full": lambda: values.update(compute_all(image, text, n_resamples=resamples)),
                    "cli": lambda: gapviz_main(argv_cli),
                },
                repeats,
            )
    return best, float(values.get("retrieval_n", len(image)))


def stages(image: Any, text: Any, resamples: int, seed: int = 0) -> dict[str, Callable[[], object]]:
    """compute_all's stages as separate calls (one caption per image, so the first captions are ``text``)."""
    import numpy as np

    from gapviz.science import anatomy, kernels
    from gapviz.science import estimators as E
    from gapviz.science.metrics import pair_squared, prepare
    from gapviz.science.mixed_pool import mixed_pool_bias
    from gapviz.science.probe import modality_probe
    from gapviz.science.retrieval import retrieval_hits

    x, y, idx = prepare(image, text)
    n, sums, pair_sq = len(x), E.PairSums.of(x, y, idx), pair_squared(x, y, idx)
    counts = list(E.resample_counts(n, resamples, seed))
    point = E.gap_statistics(sums, np.ones((1, n)))
    u, plug_in = float(point["gap_squared_unbiased"][0]), float(point["gap_distance"][0])
    return {
        "unit rows, per-image sums, pair distances": lambda: (
            prepare(image, text),
            E.PairSums.of(x, y, idx),
            pair_squared(x, y, idx),
        ),
        "retrieval pass (similarity matmul + fair-tie counts)": lambda: retrieval_hits(x, y, idx, ks=KS),
        "effective ranks (SVD of each modality, equal rows)": lambda: anatomy.equal_rows_effective_ranks(x, y),
        "modality probe (nested CV, null refits), with its intervals": lambda: modality_probe(x, y, seed, resamples),
        "mutual k-NN and CKNNA, with the interval": lambda: anatomy.knn_alignment(
            x, y, seed=seed, n_resamples=resamples
        ),
        "mixed-pool modality bias": lambda: mixed_pool_bias(x, y, seed=seed),
        "uniformity, with its intervals": lambda: kernels.uniformities(x, y, n_resamples=resamples, seed=seed),
        "MMD² distribution gap, with its interval": lambda: kernels.distribution_gap(
            x, y, n_resamples=resamples, seed=seed
        ),
        BOOTSTRAP_STAGES[0]: lambda: list(E.resample_counts(n, resamples, seed)),
        BOOTSTRAP_STAGES[1]: lambda: [E.gap_statistics(sums, w) for w in counts],
        BOOTSTRAP_STAGES[2]: lambda: [E.pair_distance_statistics(pair_sq, idx, n, w) for w in counts],
        BOOTSTRAP_STAGES[3]: lambda: E.gap_intervals(sums, u, plug_in, seed),
        BOOTSTRAP_STAGES[4]: lambda: E.gap_null95(sums, y, resamples, seed),
    }


def bootstrap_multiply_adds(pairs: int, dim: int, resamples: int) -> float:
    """Multiply-adds of the bootstrap's and the null's products, as a fraction of the N × N × D matmul's.

    Per resample and item: the gap family's (2D + 5) + 5 columns, the pair distances' 3 and the null's D
    (gapviz.science.estimators); recall's intervals are Wilson's, without resampling.
    """
    per_item = (2 * dim + 5) + 5 + 3 + dim
    return resamples * pairs * per_item / (pairs * pairs * dim)


def ratio_target(resamples: int) -> float:
    """The decided bound on analyze's time, × the bare matmul: 2× at 1,000 resamples, 1.5× at the training's 200."""
    return 2.0 if resamples >= 1000 else 1.5


def analyze_measures(best: dict[str, float], stage_s: dict[str, float], args: argparse.Namespace) -> list[dict]:
    """The headline numbers and their targets (issue 9)."""
    matmul, bare, full, cli = best["matmul"], best["bare"], best["full"], best["cli"]
    r = args.resamples
    bound = ratio_target(r)
    measures = [
        report.measure("matmul_s", "bare `image @ text.T` (torch)", matmul, "s"),
        report.measure("bare_s", "compute_all, no bootstrap", bare, "s"),
        report.measure("full_s", f"compute_all, {r} resamples", full, "s"),
        report.measure("cli_s", "`gapviz analyze --json` (reads the .npy)", cli, "s"),
        report.measure("bare_ratio", "compute_all without bootstrap, × the bare matmul", bare / matmul, "×"),
        report.measure(
            "full_ratio", f"compute_all with {r} resamples, × the bare matmul", full / matmul, "×", ("<=", bound)
        ),
        report.measure(
            "cli_ratio", f"`gapviz analyze --json`, {r} resamples, × the bare matmul", cli / matmul, "×", ("<=", bound)
        ),
        report.measure(
            "bootstrap_added",
            f"time the bootstrap ({r} resamples) adds to compute_all",
            100 * (full - bare) / bare,
            "%",
            ("<=", 20),
            1,
        ),
        report.measure("peak_rss", "peak resident memory of the run", _peak_rss_gib(), "GiB"),
    ]
    if stage_s:  # the full path's stages (not timed where compute_all streams)
        measures += [
            report.measure(
                "bootstrap_stages_ratio",
                "the sum-based bootstraps, their counts and the null together, × the bare matmul",
                sum(stage_s[name] for name in BOOTSTRAP_STAGES) / matmul,
                "×",
            ),
            report.measure(
                "bootstrap_work",
                "multiply-adds of the bootstrap's and the null's products, share of the matmul's",
                100 * bootstrap_multiply_adds(args.pairs, args.dim, r),
                "%",
                digits=0,
            ),
        ]
    return measures


def analyze_tables(best: dict[str, float], stage_s: dict[str, float], resamples: int) -> list[dict]:
    """The end-to-end steps and compute_all's stages, each in seconds and as a multiple of the matmul."""
    matmul = best["matmul"]
    steps: list[tuple[str, float]] = [
        ("bare `image @ text.T` (torch)", best["matmul"]),
        ("compute_all, no bootstrap", best["bare"]),
        (f"compute_all, {resamples} resamples", best["full"]),
        ("`gapviz analyze --json` (reads the .npy)", best["cli"]),
    ]
    tables = [
        report.table("steps", ["step", "seconds", "× matmul"], [[n, s, s / matmul] for n, s in steps], [None, 2, 2])
    ]
    if stage_s:
        parts = [*stage_s.items(), ("sum of the stages", sum(stage_s.values()))]
        rows = [[n, s, s / matmul] for n, s in parts]
        tables.append(report.table("stages", ["stage", "seconds", "× matmul"], rows, [None, 2, 2]))
    return tables


def memory_only(image: Any, text: Any, args: argparse.Namespace) -> list[dict]:
    """One compute_all: its seconds and the run's peak RSS, against the inputs and the score matrix never built."""
    from gapviz.science.metrics import compute_all

    start = time.perf_counter()
    compute_all(image, text, n_resamples=args.resamples)
    seconds, peak = time.perf_counter() - start, _peak_rss_gib()
    inputs, scores = 2 * image.nbytes / 2**30, args.pairs * args.pairs * 4 / 2**30
    print(
        f"{args.pairs:,} pairs × {args.dim} dims, {args.threads} threads: compute_all {seconds:.1f} s, "
        f"peak RSS {peak:.2f} GiB (inputs {inputs:.2f} GiB)"
    )
    n = f"{args.pairs:,}"
    return [
        report.measure("seconds", f"compute_all of {n} pairs, {args.resamples} resamples", seconds, "s", digits=0),
        report.measure("peak_rss", "peak resident memory of the run", peak, "GiB"),
        report.measure("inputs", "the two float32 input arrays", inputs, "GiB"),
        report.measure("score_matrix", f"the {n} × {n} float32 score matrix (never built)", scores, "GiB", digits=0),
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="only time one compute_all and report the peak RSS (the bare N×N matmul would not fit)",
    )
    parser.add_argument("--name", help="results name (default: analyze, or analyze_memory with --memory-only)")
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    args.name = args.name or ("analyze_memory" if args.memory_only else "analyze")
    if not re.fullmatch(r"[a-z_]+", args.name):
        parser.error(f"--name {args.name!r}: lowercase letters and underscores only (report placeholders)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    session = report.Session(args.name, argv, module="bench_analyze")
    _setup_threads(args.threads)
    import torch

    from gapviz.science import chunked
    from gapviz.science.metrics import compute_all

    torch.set_num_threads(args.threads)
    image, text = _data(args.pairs, args.dim)
    compute_all(image[:2000], text[:2000], n_resamples=10)  # compile the numba kernel outside the timings
    if args.memory_only:
        session.save(memory_only(image, text, args), [], report.output_path(args.name, args))
        return
    best, retrieval_n = end_to_end(image, text, args.resamples, args.repeats)
    streamed = chunked.streams(args.pairs, args.pairs, None)
    stage_s = {} if streamed else _interleaved_best(stages(image, text, args.resamples), args.repeats)
    measures = analyze_measures(best, stage_s, args) + [
        report.measure("retrieval_n", "pairs that retrieval and the O(N²) metrics ran on", retrieval_n, digits=0)
    ]
    tables = analyze_tables(best, stage_s, args.resamples)
    print(f"{args.pairs:,} pairs × {args.dim} dims, {args.threads} threads, best of {args.repeats} interleaved rounds")
    report.show(measures, tables)
    session.save(measures, tables, report.output_path(args.name, args))


if __name__ == "__main__":
    main()
