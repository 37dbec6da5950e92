"""Training-loop benchmarks (issue 3): run with `python benchmarks/bench_train.py [--steps N]`.

(a) step throughput of gapviz's loop against a bare open_clip loop (same model, batch and data in
    memory), measured alternately in one process; reported as a ratio (target >= 0.95 on CPU).
(b) per-epoch evaluation + projection time as a fraction of the epoch for the demo preset
    (target <= 10% on CPU), with UMAP's one-time compile kept out of every epoch.
(c) the gap trace (beta and the gap on 64 eval pairs every ``eval.trace_every_steps`` steps) as a
    fraction of training time at the default interval (target < 2%), per batch size.
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
        def on_epoch(self, record):
            rows.append(record.metrics)

    train(setup, Capture(), CheckpointFiles(Path(tempfile.mkdtemp(dir=home))))
    return rows[-1]["samples_per_s"]


def bench_throughput(steps: int, repeats: int, home: Path) -> dict[str, float]:
    cfg = preset("demo").with_overrides(
        {"data.train_size": steps * 128, "data.eval_size": 64, "eval.linear_probe": False}
    )
    setup = prepare(cfg, home)
    ours, bare = [], []
    for _ in range(repeats):
        bare.append(bare_loop_samples_per_s(setup, steps))
        ours.append(gapviz_loop_samples_per_s(setup, steps, home))
    return {"bare": statistics.median(bare), "gapviz": statistics.median(ours)}


def bench_eval_fraction(epochs: int, home: Path) -> dict[str, float]:
    warm_umap()
    cfg = preset("demo").with_overrides({"train.epochs": epochs})
    setup = prepare(cfg, home)
    rows = []

    class Capture(NullSink):
        def on_epoch(self, record):
            rows.append(record.metrics)

    train(setup, Capture(), CheckpointFiles(Path(tempfile.mkdtemp(dir=home))))
    trained = rows[1:]
    eval_s = [row["eval_time_s"] for row in trained]
    train_s = [row["train_time_s"] for row in trained]
    return {
        "train_s": statistics.median(train_s),
        "eval_s": statistics.median(eval_s),
        "fraction": statistics.median(e / (e + t) for e, t in zip(eval_s, train_s, strict=False)),
    }


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
            def on_trace(self, point):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--trace-only", action="store_true", help="only (c), the gap-trace cost")
    args = parser.parse_args()
    torch.manual_seed(0)
    np.random.seed(0)
    home = Path(tempfile.mkdtemp(prefix="gapviz-bench-"))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device cpu")
    if args.trace_only:
        print_trace_cost(bench_trace_cost([32, 128], args.steps, home))
        return
    throughput = bench_throughput(args.steps, args.repeats, home)
    ratio = throughput["gapviz"] / throughput["bare"]
    print("\n| loop | samples/s |\n|---|---|")
    print(f"| bare open_clip | {throughput['bare']:.0f} |\n| gapviz train() | {throughput['gapviz']:.0f} |")
    print(f"\n(a) throughput ratio gapviz / bare = {ratio:.3f} (target >= 0.95)")
    fraction = bench_eval_fraction(args.epochs, home)
    print(
        f"(b) demo preset: train {fraction['train_s']:.2f} s/epoch, eval+projection {fraction['eval_s']:.2f} s/epoch, "
        f"eval fraction {fraction['fraction']:.1%} (target <= 10%)"
    )
    print_trace_cost(bench_trace_cost([32, 128], args.steps, home))


def print_trace_cost(rows: list[dict[str, float]]) -> None:
    for row in rows:
        print(
            f"(c) batch {row['batch']:.0f}: step {row['step_s'] * 1000:.1f} ms, "
            f"trace point {row['trace_s'] * 1000:.1f} ms every {row['every']:.0f} steps -> "
            f"{row['fraction']:.2%} of training (target < 2%)"
        )


if __name__ == "__main__":
    main()
