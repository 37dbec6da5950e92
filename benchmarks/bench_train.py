"""Training-loop benchmarks (issue 3): `python -m benchmarks.bench_train [--steps N] [--record]`.

(a) step throughput of gapviz's loop against a bare open_clip loop (same model, batch and data in
    memory), measured alternately in one process; reported as a ratio (target >= 0.95 on CPU).
(b) per-epoch evaluation + projection time as a fraction of the epoch for the demo preset
    (target <= 10% on CPU), with UMAP's one-time compile kept out of every epoch.
(c) the gap trace (beta and the gap on 64 eval pairs every ``eval.trace_every_steps`` steps) as a
    fraction of training time at the default interval (target < 2%), per batch size.

The default run records (a), (b) and (c) as the results file "train"; ``--trace-only`` runs only (c)
and records it as "train_trace".
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from open_clip.loss import ClipLoss  # noqa: E402

from benchmarks import report  # noqa: E402
from gapviz.config import preset  # noqa: E402
from gapviz.runs.records import NullSink  # noqa: E402
from gapviz.runs.store import CheckpointFiles  # noqa: E402
from gapviz.science.projection import warm_umap  # noqa: E402
from gapviz.training.loop import GapTracer, images_to_tensor, prepare, train  # noqa: E402


def bare_loop_samples_per_s(setup, steps: int) -> float:
    """The reference: open_clip forward, ClipLoss, AdamW step; nothing else."""
    model, batch = setup.model, setup.cfg.train.batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=setup.cfg.train.lr)
    loss_fn = ClipLoss()
    images = images_to_tensor(setup.train_data.images[: steps * batch], setup.bundle, setup.device)
    tokens = setup.train_tokens[: steps * batch]
    started = time.perf_counter()
    for step in range(steps):
        chunk = slice(step * batch, (step + 1) * batch)
        image_features, text_features, scale = model(images[chunk], tokens[chunk])
        loss = loss_fn(image_features, text_features, scale)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * batch / (time.perf_counter() - started)


def gapviz_loop_samples_per_s(setup, steps: int, home: Path) -> float:
    """gapviz's train() for one epoch of ``steps`` steps; its own training-time measurement."""
    cfg = setup.cfg.with_overrides({"train.epochs": 1, "train.max_steps_per_epoch": steps, "eval.projections": []})
    setup.cfg = cfg
    rows = []

    class Capture(NullSink):
        def on_epoch(self, epoch) -> None:
            rows.append(epoch.metrics)

    train(setup, Capture(), CheckpointFiles(Path(tempfile.mkdtemp(dir=home))))
    return rows[-1]["samples_per_s"]


def bench_throughput(steps: int, repeats: int, home: Path) -> dict[str, list[float]]:
    """Samples/s of the bare loop and of gapviz's, alternately, ``repeats`` times each."""
    cfg = preset("demo").with_overrides(
        {"data.train_size": steps * 128, "data.eval_size": 64, "eval.linear_probe": False}
    )
    setup = prepare(cfg, home)
    ours, bare = [], []
    for _ in range(repeats):
        bare.append(bare_loop_samples_per_s(setup, steps))
        ours.append(gapviz_loop_samples_per_s(setup, steps, home))
    return {"bare": bare, "gapviz": ours}


def bench_eval_fraction(epochs: int, home: Path) -> list[dict[str, float]]:
    """Seconds of training and of evaluation + projection for each trained epoch of the demo preset."""
    warm_umap()
    cfg = preset("demo").with_overrides({"train.epochs": epochs})
    setup = prepare(cfg, home)
    rows = []

    class Capture(NullSink):
        def on_epoch(self, epoch) -> None:
            rows.append(epoch.metrics)

    train(setup, Capture(), CheckpointFiles(Path(tempfile.mkdtemp(dir=home))))
    return [
        {"train_s": row["train_time_s"], "eval_s": row["eval_time_s"]}
        for row in rows[1:]  # rows[0] is the evaluation before the first epoch
    ]


def bench_trace_cost(batch_sizes: list[int], steps: int, home: Path) -> list[dict[str, float]]:
    """Seconds of one gap-trace point against seconds of one optimiser step, at the default interval."""
    results = []
    for batch in batch_sizes:
        cfg = preset("demo").with_overrides(
            {"data.train_size": steps * batch, "data.eval_size": 64, "train.batch_size": batch, "eval.projections": []}
        )
        setup = prepare(cfg, home)
        step_s = batch / bare_loop_samples_per_s(setup, steps)

        class Points(NullSink):
            def on_trace(self, point) -> None:
                pass

        tracer = GapTracer(setup, Points())
        timings = []
        for index in range(10):
            started = time.perf_counter()
            tracer(setup, index * tracer.every, 1)
            timings.append(time.perf_counter() - started)
        trace_s = statistics.median(timings)
        results.append(
            {
                "batch": batch,
                "step_s": step_s,
                "trace_s": trace_s,
                "every": tracer.every,
                "fraction": trace_s / (tracer.every * step_s),
            }
        )
    return results


def throughput_results(throughput: dict[str, list[float]]) -> tuple[list[dict], list[dict]]:
    """(a): the medians, the median of the paired ratios (each repeat runs both loops back to back) against
    the target, and each repeat."""
    bare, ours = statistics.median(throughput["bare"]), statistics.median(throughput["gapviz"])
    ratio = statistics.median(g / b for b, g in zip(throughput["bare"], throughput["gapviz"], strict=True))
    measures = [
        report.measure("bare_samples_per_s", "bare open_clip loop (median)", bare, "samples/s", digits=0),
        report.measure("gapviz_samples_per_s", "gapviz train() (median)", ours, "samples/s", digits=0),
        report.measure(
            "throughput_ratio",
            "(a) throughput, gapviz / bare loop (median of paired repeats)",
            ratio,
            "×",
            (">=", 0.95),
            3,
        ),
    ]
    rows = [[i + 1, b, g, g / b] for i, (b, g) in enumerate(zip(throughput["bare"], throughput["gapviz"], strict=True))]
    columns = ["repeat", "bare open_clip (samples/s)", "gapviz train() (samples/s)", "ratio"]
    return measures, [report.table("throughput", columns, rows, [0, 0, 0, 3])]


def eval_results(epochs: list[dict[str, float]]) -> tuple[list[dict], list[dict]]:
    """(b): median seconds per epoch, the median fraction against the target, and each epoch."""
    fractions = [100 * e["eval_s"] / (e["eval_s"] + e["train_s"]) for e in epochs]
    train_s, eval_s = statistics.median(e["train_s"] for e in epochs), statistics.median(e["eval_s"] for e in epochs)
    fraction = statistics.median(fractions)
    measures = [
        report.measure("epoch_train_s", "training per epoch (median)", train_s, "s"),
        report.measure("epoch_eval_s", "evaluation + projection per epoch (median)", eval_s, "s"),
        report.measure(
            "eval_fraction", "(b) evaluation + projection, share of a demo epoch (median)", fraction, "%", ("<=", 10), 1
        ),
    ]
    rows = [[i + 1, e["train_s"], e["eval_s"], f] for i, (e, f) in enumerate(zip(epochs, fractions, strict=True))]
    columns = ["epoch", "training (s)", "evaluation + projection (s)", "share of the epoch (%)"]
    return measures, [report.table("epochs", columns, rows, [0, 2, 2, 1])]


def trace_results(rows: list[dict[str, float]]) -> tuple[list[dict], list[dict]]:
    """(c): the trace's share of training per batch size, each against the target."""
    measures = [
        report.measure(
            f"trace_cost_b{row['batch']:.0f}",
            f"(c) gap trace, share of training at batch {row['batch']:.0f}",
            100 * row["fraction"],
            "%",
            ("<", 2),
        )
        for row in rows
    ]
    table_rows = [
        [int(r["batch"]), 1000 * r["step_s"], 1000 * r["trace_s"], int(r["every"]), 100 * r["fraction"]] for r in rows
    ]
    columns = ["batch", "optimiser step (ms)", "trace point (ms)", "every (steps)", "share of training (%)"]
    return measures, [report.table("trace", columns, table_rows, [0, 1, 1, 0, 2])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--trace-only", action="store_true", help="only (c), the gap-trace cost (results: train_trace)")
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    name = "train_trace" if args.trace_only else "train"
    session = report.Session(name, argv, module="bench_train")
    torch.manual_seed(0)
    np.random.seed(0)
    home = Path(tempfile.mkdtemp(prefix="gapviz-bench-"))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device cpu")
    parts = []
    if not args.trace_only:
        parts.append(throughput_results(bench_throughput(args.steps, args.repeats, home)))
        parts.append(eval_results(bench_eval_fraction(args.epochs, home)))
    parts.append(trace_results(bench_trace_cost([32, 128], args.steps, home)))
    measures = [m for part_measures, _ in parts for m in part_measures]
    tables = [t for _, part_tables in parts for t in part_tables]
    report.show(measures, tables)
    session.save(measures, tables, report.output_path(name, args))


if __name__ == "__main__":
    main()
