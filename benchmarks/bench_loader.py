"""Input-pipeline benchmark (issue 23 item 3): `python -m benchmarks.bench_loader [--images N] [--record]`.

(a) The loader alone at 224 px: a uint8 cache of ``--images`` random 224×224×3 images, batches of ``--batch``
    gathered by the training loop's own code (``host_batch`` through the ``Prefetcher``; pinned when CUDA is
    present), in samples/s: what a GPU step waits on (target >= 8,000 samples/s). Next to it, on the CPU, the
    same batches also normalised (``to_device`` + ``normalise``: the device's work, which on a GPU runs there),
    and on CUDA, when present, the pinned batches copied and normalised on the GPU.
(b) What the prefetcher adds to a CPU training step: gapviz's ``train()`` on the demo preset's tiny model, one
    epoch of ``--steps`` steps with the prefetcher and without it, interleaved ``--repeats`` times on the same
    data; the median over pairs of the change in median step time (target: under 2 % added).
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
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD  # noqa: E402

from benchmarks import report  # noqa: E402
from gapviz.config import preset  # noqa: E402
from gapviz.data import PairData  # noqa: E402
from gapviz.runs.records import NullSink  # noqa: E402
from gapviz.runs.store import CheckpointFiles  # noqa: E402
from gapviz.training.batches import Prefetcher, host_batch, normalise, to_device  # noqa: E402
from gapviz.training.loop import prepare, train  # noqa: E402
from gapviz.training.model import ModelBundle  # noqa: E402

IMAGE_SIZE = 224
CONTEXT = 77


def cache_224(count: int) -> tuple[PairData, torch.Tensor]:
    """``count`` random uint8 224-px images as a read-only cache, one caption each, and their tokens."""
    images = np.random.default_rng(0).integers(0, 256, (count, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    images.flags.writeable = False
    tokens = torch.randint(0, 49408, (count, CONTEXT), generator=torch.Generator().manual_seed(0))
    return PairData(images, [""] * count, np.arange(count)), tokens


def loader_samples_per_s(data: PairData, tokens: torch.Tensor, batch: int, device: torch.device | None) -> float:
    """One pass over the cache in shuffled batches through the Prefetcher; ``device``: also copied there and
    normalised (None: the host batches only, as a GPU step receives them)."""
    bundle = ModelBundle(torch.nn.Identity(), lambda *a: None, IMAGE_SIZE, OPENAI_DATASET_MEAN, OPENAI_DATASET_STD)
    order, steps = np.random.default_rng(1).permutation(len(data)), len(data) // batch
    pin = torch.cuda.is_available()

    def produce(step: int):
        return host_batch(data, tokens, order[step * batch : (step + 1) * batch], 1, pin)

    started = time.perf_counter()
    with Prefetcher(produce, steps) as batches:
        for host in batches:
            if device is not None:
                normalise(to_device(host, device).images[0], bundle)
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - started)


def bench_loader(count: int, batch: int, repeats: int) -> list[list]:
    """Rows (stage, samples/s of each repeat): host batches, CPU-normalised batches, CUDA batches if present."""
    data, tokens = cache_224(count)
    stages = [("gathered (host batches, what a GPU step waits on)", None)]
    stages.append(("gathered + normalised on the CPU", torch.device("cpu")))
    if torch.cuda.is_available():
        stages.append(("gathered + pinned + copied + normalised on CUDA", torch.device("cuda")))
    rows = []
    for label, device in stages:
        loader_samples_per_s(data, tokens, batch, device)  # warm: page in the cache, start the allocators
        rows.append([label, [loader_samples_per_s(data, tokens, batch, device) for _ in range(repeats)]])
    return rows


def train_epoch(setup, home: Path, prefetch: bool) -> dict[str, float]:
    """One epoch of gapviz's train(): the median step's seconds (a burst of load on the shared machine moves it
    less than the epoch's total), its samples/s and the epoch's share of time spent waiting for data."""
    rows, step_s = [], []

    class Capture(NullSink):
        def on_step(self, progress) -> None:
            step_s.append(setup.cfg.train.batch_size / progress.samples_per_s)

        def on_epoch(self, epoch) -> None:
            rows.append(epoch.metrics)

    train(setup, Capture(), CheckpointFiles(Path(tempfile.mkdtemp(dir=home))), prefetch=prefetch)
    step = statistics.median(step_s)
    return {**rows[-1], "step_s": step, "samples_per_s": setup.cfg.train.batch_size / step}


def bench_steps(steps: int, repeats: int, home: Path) -> list[dict[str, dict[str, float]]]:
    """The demo preset's tiny model, one epoch with and without the prefetcher, alternately, ``repeats`` times."""
    cfg = preset("demo").with_overrides(
        {
            "data.train_size": steps * 128,
            "data.eval_size": 64,
            "eval.linear_probe": False,
            "eval.projections": [],
            "eval.trace_every_steps": 0,
            "train.epochs": 1,
        }
    )
    setup = prepare(cfg, home)
    train_epoch(setup, home, True)  # warm-up
    pairs = []
    for repeat in range(repeats):  # which goes first alternates, so neither always runs on a warmer machine
        first = repeat % 2 == 0
        pair = {"prefetch" if first else "inline": train_epoch(setup, home, first)}
        pair["inline" if first else "prefetch"] = train_epoch(setup, home, not first)
        pairs.append(pair)
    return pairs


def loader_results(rows: list[list]) -> tuple[list[dict], list[dict]]:
    """(a): the host loader's median samples/s against the target; every stage's median and spread."""
    medians = [statistics.median(speeds) for _, speeds in rows]
    measures = [
        report.measure(
            "host_samples_per_s",
            "(a) loader, 224-px batches gathered (median)",
            medians[0],
            "samples/s",
            (">=", 8000),
            0,
        ),
        report.measure(
            "cpu_samples_per_s", "loader + normalisation on the CPU (median)", medians[1], "samples/s", digits=0
        ),
    ]
    table_rows = [[label, med, min(speeds), max(speeds)] for (label, speeds), med in zip(rows, medians, strict=True)]
    columns = ["stage", "median (samples/s)", "slowest repeat", "fastest repeat"]
    return measures, [report.table("stages", columns, table_rows, [None, 0, 0, 0])]


def step_results(pairs: list[dict[str, dict[str, float]]]) -> tuple[list[dict], list[dict]]:
    """(b): the median paired change the prefetcher makes to a CPU step's median time (negative: it saves)."""
    added = [100 * (p["prefetch"]["step_s"] / p["inline"]["step_s"] - 1) for p in pairs]
    speed = statistics.median(p["prefetch"]["samples_per_s"] for p in pairs)
    measures = [
        report.measure(
            "step_samples_per_s",
            "tiny-model CPU step with the prefetcher (median of runs)",
            speed,
            "samples/s",
            digits=0,
        ),
        report.measure(
            "added",
            "(b) added to a CPU step by the prefetcher (median of pairs)",
            statistics.median(added),
            "%",
            ("<", 2),
            1,
        ),
    ]
    table_rows = [
        [
            i + 1,
            p["inline"]["samples_per_s"],
            p["prefetch"]["samples_per_s"],
            a,
            100 * p["inline"]["data_wait_share"],
            100 * p["prefetch"]["data_wait_share"],
        ]
        for i, (p, a) in enumerate(zip(pairs, added, strict=True))
    ]
    columns = [
        "repeat",
        "without, median step (samples/s)",
        "with prefetcher, median step (samples/s)",
        "added (%)",
        "waiting for data, without (%)",
        "waiting for data, with (%)",
    ]
    return measures, [report.table("steps", columns, table_rows, [0, 0, 0, 1, 1, 1])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    session = report.Session("loader", argv)
    torch.manual_seed(0)
    home = Path(tempfile.mkdtemp(prefix="gapviz-bench-"))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {device}", flush=True)
    parts = [
        loader_results(bench_loader(args.images, args.batch, 3)),
        step_results(bench_steps(args.steps, args.repeats, home)),
    ]
    measures = [m for part_measures, _ in parts for m in part_measures]
    tables = [t for _, part_tables in parts for t in part_tables]
    report.show(measures, tables)
    session.save(measures, tables, report.output_path("loader", args))


if __name__ == "__main__":
    main()
