"""The GPU check (issue 23 item 5): `bash benchmarks/gpu_check.sh [--dry-run]`, one table in at most 8 minutes.

Proves the CUDA paths in the few minutes a GPU may be lent, with nothing to set up and no network:

1. the test suite's tests marked ``gpu`` (``pytest -m gpu``);
2. training throughput of gapviz's ``train()`` against a bare open_clip loop (bench_train's two loops), ViT-B-32
   from scratch at batch 256 in bf16 autocast, (a) eager and (b) with ``torch.compile``: the paired ratio;
3. exact accumulation on the device: batch 64 x 4 against one batch of 256, in loss and every gradient, in fp32
   and bf16 (the check of tests/training/test_accumulation.py, through ``gapviz.training.equivalence.step_gradients``);
4. a 2-rank DDP step when two GPUs are present (2 gloo ranks on the CPU in the dry run): the loss and every gradient
   of ``gapviz.training.equivalence`` against one process with the full batch, as tests/training/test_distributed.py;
5. a paper-shaped smoke run: ViT-B-32 on 224-px built-in data for 200 steps through RunStore and
   ``execute_run`` (as ``gapviz train`` does), counting the step, epoch and gap-trace events it emits.

Each row's status is "pass", "fail: <why>" (the step ran and missed), "failed: <one line>" (it broke or ran past
its time budget, ``torch.compile`` included: never the end of the check) or "skipped: <why>". ``--dry-run`` runs
the same steps on the CPU at toy size (the tiny model in fp32 on one thread; step 1 only collects; compile with the
``aot_eager`` backend, as inductor's CPU code generation takes minutes), so the test suite keeps this script
working. Results: benchmarks/results/gpu_check.json (gpu_check_dry_run.json for a dry run). Exit status 1 when a
row failed, 2 when there is no CUDA device and no --dry-run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.optim.optimizer import register_optimizer_step_post_hook  # noqa: E402

from benchmarks import report  # noqa: E402
from benchmarks.bench_train import bare_loop_samples_per_s, gapviz_loop_samples_per_s  # noqa: E402
from gapviz.config import RunConfig, preset  # noqa: E402
from gapviz.runs.records import NullSink, RunState  # noqa: E402
from gapviz.runs.store import RunStore  # noqa: E402
from gapviz.science.temperature import Temperature  # noqa: E402
from gapviz.training import distributed, equivalence  # noqa: E402
from gapviz.training.loop import prepare  # noqa: E402
from gapviz.training.runner import execute_run  # noqa: E402
from gapviz.training.setup import TrainingSetup  # noqa: E402

TOTAL_BUDGET_S = 480.0
THROUGHPUT_TARGET = 0.95
"""gapviz's step rate over the bare loop's, as bench_train's target (a)."""
FULL_BATCH = 256
ACCUM = 4
TOLERANCES = {"fp32": (1e-5, 1e-5), "bf16": (1e-2, 1e-2)}
"""precision -> (the loss's largest absolute difference, the gradients' ||difference|| / ||gradient|| over every
parameter at once). fp32 runs with TF32 off; bf16 autocast keeps 8 bits of mantissa and the micro-batches' kernels
round differently from the full batch's (measured on the CPU: 2e-3, against 2e-7 in fp32; a per-micro-batch loss
differs by order 1)."""
DDP_TOLERANCE = 1e-5
WARMUP_STEPS = 2
"""Steps each loop runs before it is timed: torch.compile, the allocator and cuDNN's choices happen there."""


@dataclass(frozen=True)
class Sizes:
    """How large each step is: a GPU's paper sizes or the dry run's toy sizes, and each step's seconds."""

    model: str
    batch: int
    steps: int
    repeats: int
    smoke_batch: int
    smoke_steps_per_epoch: int
    smoke_epochs: int
    eval_size: int
    compile_backend: str
    total_budget_s: float
    budgets: dict[str, float] = field(default_factory=dict, hash=False, compare=False)


GPU = Sizes(
    "ViT-B-32", 256, 24, 2, 256, 50, 4, 256, "inductor", TOTAL_BUDGET_S,
    {"0": 10, "1": 45, "2a": 90, "2b": 160, "3": 20, "4": 30, "5": 110},
)  # fmt: skip
DRY = Sizes(
    "gapviz-tiny", 32, 3, 1, 32, 5, 2, 32, "aot_eager", 60,
    {"0": 10, "1": 240, "2a": 240, "2b": 240, "3": 240, "4": 240, "5": 240},
)  # fmt: skip


@dataclass
class Row:
    """One line of the table: the step, what it checks, what it found, its seconds and its status."""

    step: str
    what: str
    result: str = ""
    seconds: float = 0.0
    status: str = ""


class StepTimeout(BaseException):
    """A step ran past its budget (a BaseException, so no ``except Exception`` on the way swallows it)."""


@contextlib.contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Raise StepTimeout in this (main) thread when ``seconds`` pass."""

    def expire(signum: int, frame: Any) -> None:
        raise StepTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def one_line(error: BaseException) -> str:
    """An error as one short line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:160]


def run_step(row: Row, budget_s: float, body: Callable[[], tuple[str, str]]) -> Row:
    """``body`` -> (result, status) within ``budget_s``; an error or overrun is the row's "failed: ..."."""
    started = time.perf_counter()
    try:
        with time_budget(budget_s):
            row.result, row.status = body()
    except StepTimeout:
        row.status = f"failed: over its {budget_s:g} s budget"
    except Exception as error:
        row.status = f"failed: {one_line(error)}"
    row.seconds = time.perf_counter() - started
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    print(f"[{row.step}] {row.what}: {row.status} ({row.seconds:.1f} s)", file=sys.stderr, flush=True)
    return row


# ---- 0. the device ---------------------------------------------------------------------------------------------


def precision_for(dry: bool) -> str:
    """The autocast the GPU steps train in: bf16 where the GPU has it (from Ampere on), else fp16; the dry run
    trains in fp32, the CPU's own precision (CPU bf16 runs several times slower than fp32 there)."""
    if dry:
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def device_facts(dry: bool) -> tuple[str, str]:
    """Which device the check runs on, whether it has bf16, and torch's version."""
    if dry:
        return f"cpu (dry run), torch {torch.__version__}", "pass"
    name, count = torch.cuda.get_device_name(0), torch.cuda.device_count()
    bf16 = "bf16 supported" if torch.cuda.is_bf16_supported() else "no bf16: fp16 autocast instead"
    return f"{count} x {name}, {bf16}, torch {torch.__version__}, CUDA {torch.version.cuda}", "pass"


# ---- 1. the GPU-marked tests -----------------------------------------------------------------------------------


GPU_MARK = "pytest.mark.gpu"


def gpu_tests(dry: bool) -> tuple[str, str]:
    """``pytest -m gpu`` over the test files that mark tests gpu (the dry run collects them only: they need CUDA)."""
    files = sorted(str(path) for path in (report.ROOT / "tests").rglob("test_*.py") if GPU_MARK in path.read_text())
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", *files]
    done = subprocess.run(
        command + (["--collect-only"] if dry else []), cwd=report.ROOT, capture_output=True, text=True
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else one_line(RuntimeError(done.stderr or "no output"))
    if done.returncode == 1 and not dry:
        return summary, "fail: a test marked gpu failed"
    if done.returncode not in (0, 5):
        return summary, f"failed: pytest exited {done.returncode}"
    if dry:
        return summary, "skipped: dry run (collected only; they need CUDA)"
    if done.returncode == 5:
        return summary, "fail: no test is marked gpu"
    return summary, "pass"


# ---- 2. throughput against a bare open_clip loop ---------------------------------------------------------------


@contextlib.contextmanager
def compile_backend(backend: str) -> Iterator[None]:
    """``torch.compile`` with ``backend`` in both loops (the dry run's aot_eager: dynamo and AOTAutograd traced,
    no code generated)."""
    original = torch.compile
    if backend != "inductor":
        torch.compile = functools.partial(original, backend=backend)  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.compile = original  # type: ignore[assignment]


@contextlib.contextmanager
def clock_waits_for_the_device(steps: int) -> Iterator[None]:
    """bench_train's bare loop reads its clock right after its last optimiser step, when on CUDA that step's kernels
    may still be queued (up to a step of work); a global optimiser hook makes the ``steps``-th step wait for them."""
    count = itertools.count(1)

    def wait(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if next(count) == steps and torch.cuda.is_available():
            torch.cuda.synchronize()

    handle = register_optimizer_step_post_hook(wait)
    try:
        yield
    finally:
        handle.remove()


def throughput_config(sizes: Sizes, dry: bool) -> RunConfig:
    """The model (from scratch) and ``steps`` batches of built-in data, shared by the eager and compiled rows."""
    overrides = {
        "model.name": sizes.model,
        "device": "cpu" if dry else "cuda",
        "data.train_size": sizes.steps * sizes.batch,
        "data.eval_size": sizes.eval_size,
        "train.batch_size": sizes.batch,
        "train.precision": precision_for(dry),
        "eval.linear_probe": False,
        "eval.projections": [],
    }
    return preset("demo").with_overrides(overrides).check()


def paired_rates(setup: TrainingSetup, sizes: Sizes, compiled: bool, home: Path) -> tuple[list[float], list[float]]:
    """Samples/s of the bare loop and of gapviz's ``train()``, warmed up, then alternately ``repeats`` times."""
    setup.cfg = setup.cfg.with_overrides({"train.compile": compiled})
    precision = setup.cfg.train.precision
    bare_model = torch.compile(setup.model) if compiled else setup.model
    bare_setup = replace(setup, bundle=replace(setup.bundle, model=bare_model))
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    autocast = functools.partial(torch.autocast, setup.device.type, dtype, enabled=precision != "fp32")
    bare, ours = [], []
    for index in range(sizes.repeats + 1):
        steps = WARMUP_STEPS if index == 0 else sizes.steps
        with autocast(), clock_waits_for_the_device(steps):
            bare.append(bare_loop_samples_per_s(bare_setup, steps))
        with tempfile.TemporaryDirectory(dir=home) as checkpoints:  # ViT-B-32's checkpoints are 1.8 GB each
            ours.append(gapviz_loop_samples_per_s(setup, steps, Path(checkpoints)))
    return bare[1:], ours[1:]


@dataclass
class Throughput:
    """Rows 2a and 2b: the median of the paired ratios gapviz / bare, against the target on a GPU; the model and
    data are built for the first row and dropped after the last."""

    sizes: Sizes
    dry: bool
    home: Path
    measures: list[dict[str, Any]]
    setup: TrainingSetup | None = None

    def __call__(self, compiled: bool) -> tuple[str, str]:
        if self.setup is None:
            self.setup = prepare(throughput_config(self.sizes, self.dry), self.home)
        with compile_backend(self.sizes.compile_backend):
            bare, ours = paired_rates(self.setup, self.sizes, compiled, self.home)
        ratio = statistics.median(g / b for b, g in zip(bare, ours, strict=True))
        mode = "compiled" if compiled else "eager"
        target = None if self.dry else (">=", THROUGHPUT_TARGET)
        label = f"throughput {mode}, gapviz / bare loop"
        self.measures.append(report.measure(f"ratio_{mode}", label, ratio, "×", target, 3))
        result = f"gapviz {statistics.median(ours):,.0f} vs bare {statistics.median(bare):,.0f} samples/s: "
        result += f"ratio {ratio:.3f}"
        if self.dry:
            return result + " (dry run: not judged)", "pass"
        return result, "pass" if ratio >= THROUGHPUT_TARGET else f"fail: ratio below {THROUGHPUT_TARGET}"


# ---- 3. exact accumulation -------------------------------------------------------------------------------------


def full_batch_step(prepared: TrainingSetup, micro_batch: int, precision: str) -> equivalence.StepResult:
    """The loss and every gradient of one step over FULL_BATCH pairs in micro-batches of ``micro_batch``."""
    cfg = prepared.cfg.with_overrides(
        {"train.batch_size": micro_batch, "train.grad_accum": FULL_BATCH // micro_batch, "train.precision": precision}
    )
    setup = replace(prepared, cfg=cfg, temperature=Temperature(cfg.temperature).to(prepared.device))
    return equivalence.step_gradients(setup, setup.model)


@contextlib.contextmanager
def exact_fp32() -> Iterator[None]:
    """Matmuls and convolutions in true fp32 on CUDA (TF32 off), restored afterwards."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def accumulation_gap(prepared: TrainingSetup, precision: str) -> tuple[float, float]:
    """(|loss difference|, ||gradient difference|| / ||gradient|| over every parameter): 64 x 4 against 256."""
    with exact_fp32():
        full_loss, full = full_batch_step(prepared, FULL_BATCH, precision)
        loss, grads = full_batch_step(prepared, FULL_BATCH // ACCUM, precision)
    if set(grads) != set(full):
        raise RuntimeError(f"gradients differ in which parameters have one: {sorted(set(grads) ^ set(full))[:3]}")
    difference = np.concatenate([(grads[name] - grad).ravel() for name, grad in full.items()])
    norm = np.linalg.norm(np.concatenate([grad.ravel() for grad in full.values()]))
    return abs(loss - full_loss), float(np.linalg.norm(difference) / max(norm, 1e-12))


def accumulation(dry: bool, home: Path) -> tuple[str, str]:
    """Row 3: the tiny model on the device, fp32 and the autocast precision, each within its stated tolerance."""
    overrides = {"data.train_size": FULL_BATCH, "data.eval_size": 64, "device": "cpu" if dry else "cuda"}
    prepared = prepare(preset("tiny-test").with_overrides(overrides).check(), home)
    parts, met = [], True
    for precision in ("fp32", "bf16" if dry else precision_for(dry)):
        loss_gap, grad_gap = accumulation_gap(prepared, precision)
        loss_tol, grad_tol = TOLERANCES.get(precision, TOLERANCES["bf16"])
        met &= loss_gap <= loss_tol and grad_gap <= grad_tol
        parts.append(f"{precision}: loss Δ {loss_gap:.1e} (≤ {loss_tol:g}), grad Δ {grad_gap:.1e} (≤ {grad_tol:g})")
    return "; ".join(parts), "pass" if met else "fail: outside the tolerance"


# ---- 4. a 2-rank DDP step --------------------------------------------------------------------------------------


def ddp_configs(ranks: int, dry: bool) -> dict[str, RunConfig]:
    """The rank check's cases (gapviz.training.equivalence) on 64 pairs a step, split over ``ranks`` ranks."""
    base = preset("tiny-test").with_overrides({"data.eval_size": 48, "device": "cpu" if dry else "cuda"})
    return equivalence.case_configs(base, ranks, 64)


def ddp_step(dry: bool, home: Path) -> tuple[str, str]:
    """Row 4: 2 ranks (gloo on the CPU in a dry run, nccl on two GPUs) against one process, loss and gradients."""
    if not dry and torch.cuda.device_count() < 2:
        return f"{torch.cuda.device_count()} GPU", "skipped: < 2 GPUs"
    devices = ["cpu"] * 2 if dry else ["cuda:0", "cuda:1"]
    with exact_fp32():
        job = (home / "ranks", distributed.init_method(), devices, ddp_configs(2, dry))
        ranked = distributed.launch(equivalence.rank_step, job, 2, None, lambda: False)
        alone = ddp_configs(1, dry)
        setup = prepare(next(iter(alone.values())), home / "alone")
        loss_gap, grad_gap = equivalence.largest_gaps(ranked, equivalence.each_config(setup, alone, setup.model))
    result = f"2 ranks ({devices[0]}…): loss Δ {loss_gap:.1e}, grad Δ {grad_gap:.1e} (≤ {DDP_TOLERANCE:g})"
    return result, "pass" if max(loss_gap, grad_gap) <= DDP_TOLERANCE else "fail: outside the tolerance"


# ---- 5. a paper-shaped smoke run -------------------------------------------------------------------------------


class EventCount(NullSink):
    """Counts what the loop emits (what Live shows): steps, epochs and gap-trace points, and the losses."""

    def __init__(self) -> None:
        self.steps, self.epochs, self.traces, self.losses = 0, 0, 0, []

    def on_step(self, progress: Any) -> None:
        self.steps += 1
        self.losses.append(progress.loss)

    def on_epoch(self, record: Any) -> None:
        self.epochs += 1

    def on_trace(self, point: Any) -> None:
        self.traces += 1


def smoke_config(sizes: Sizes, dry: bool) -> RunConfig:
    """The built-in data at the model's size (224 px for ViT-B-32), ``smoke_epochs`` x ``smoke_steps_per_epoch``."""
    overrides = {
        "name": "gpu-check smoke run",
        "model.name": sizes.model,
        "device": "cpu" if dry else "cuda",
        "data.train_size": sizes.smoke_batch * sizes.smoke_steps_per_epoch,
        "data.eval_size": sizes.eval_size,
        "train.batch_size": sizes.smoke_batch,
        "train.epochs": sizes.smoke_epochs,
        "train.lr": 5e-4,
        "train.precision": precision_for(dry),
        "eval.projections": ["pca"],
        "eval.trace_every_steps": max(1, sizes.smoke_steps_per_epoch * sizes.smoke_epochs // 10),
    }
    return preset("demo").with_overrides(overrides).check()


def smoke_run(sizes: Sizes, dry: bool, home: Path) -> tuple[str, str]:
    """Row 5: a stored run through execute_run; its events as emitted and as the store holds them."""
    store = RunStore(home / "smoke")
    run_id = store.create(smoke_config(sizes, dry))
    events = EventCount()
    state = execute_run(store, run_id, events)
    epochs, trace = store.metrics(run_id), store.gap_trace(run_id)
    steps = sizes.smoke_steps_per_epoch * sizes.smoke_epochs
    rate = epochs[-1].get("samples_per_s", float("nan")) if epochs else float("nan")
    result = (
        f"{state.value}: {events.steps} step, {events.epochs} epoch, {events.traces} trace events; store holds "
        f"{len(epochs)} epochs, {len(trace)} trace points; loss {events.losses[0]:.2f} → {events.losses[-1]:.2f}; "
        f"{rate:,.0f} samples/s"
        if events.losses
        else f"{state.value}: no step events"
    )
    met = state == RunState.FINISHED and events.steps == steps and len(epochs) == sizes.smoke_epochs + 1
    return result, "pass" if met and trace and events.traces == len(trace) else "fail: events missing"


# ---- the check -------------------------------------------------------------------------------------------------


def check(sizes: Sizes, dry: bool, home: Path, measures: list[dict[str, Any]], started: float) -> list[Row]:
    """Every step in order, each under its budget, then the time since ``started`` against the check's budget."""
    precision = precision_for(dry)
    throughput = Throughput(sizes, dry, home, measures)
    shape = f"{sizes.model}, batch {sizes.batch}, {precision}"
    smoke = f"smoke run: {sizes.model}, built-in data, {sizes.smoke_steps_per_epoch * sizes.smoke_epochs} steps"
    accumulated = f"exact accumulation: {FULL_BATCH // ACCUM} x {ACCUM} = {FULL_BATCH} (tiny model)"
    steps: list[tuple[str, str, Callable[[], tuple[str, str]]]] = [
        ("0", "device and precision", lambda: device_facts(dry)),
        ("1", "the tests marked gpu (pytest -m gpu)", lambda: gpu_tests(dry)),
        ("2a", f"train step vs bare open_clip loop, eager ({shape})", lambda: throughput(False)),
        ("2b", f"train step vs bare open_clip loop, torch.compile ({sizes.compile_backend})", lambda: throughput(True)),
        ("3", accumulated, lambda: accumulation(dry, home)),
        ("4", "2-rank DDP step = one process with the full batch", lambda: ddp_step(dry, home)),
        ("5", smoke + ", RunStore + execute_run", lambda: smoke_run(sizes, dry, home)),
    ]  # fmt: skip
    rows = []
    for step, what, body in steps:
        rows.append(run_step(Row(step, what), sizes.budgets[step], body))
        if step == "2b":
            throughput.setup = None
    total = time.perf_counter() - started
    within = total <= sizes.total_budget_s
    status = "pass" if within or dry else f"fail: over {sizes.total_budget_s:.0f} s"
    note = " (dry run: not judged)" if dry else ""
    rows.append(
        Row("all", f"the whole check (budget {sizes.total_budget_s:.0f} s)", f"{total:.0f} s{note}", total, status)
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="the same steps on the CPU at toy size (seconds)")
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if not args.dry_run and not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device here; `bash benchmarks/gpu_check.sh --dry-run` checks on the CPU",
            file=sys.stderr,
        )
        return 2
    name = "gpu_check_dry_run" if args.dry_run else "gpu_check"
    if args.dry_run:
        torch.set_num_threads(1)  # toy sizes: a second OpenMP thread only waits, and under load it waits long
    session = report.Session(name, argv, module="gpu_check")
    measures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gapviz-gpu-check-") as home:
        rows = check(DRY if args.dry_run else GPU, args.dry_run, Path(home), measures, started)
    cells = [[row.step, row.what, row.result, row.seconds, row.status] for row in rows]
    table = report.table("steps", ["step", "what", "result", "time (s)", "status"], cells, [None, None, None, 1, None])
    print(report.render_table(table), flush=True)
    session.save(measures, [table], report.output_path(name, args))
    return 1 if any(row.status.startswith("fail") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
