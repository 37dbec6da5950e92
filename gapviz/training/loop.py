"""The training loop: RunConfig in, one EpochRecord per epoch out (to a sink); knows no Redis or UI.

Determinism: every random choice of epoch e (shuffle, swap) comes from a generator seeded by
(seed, e), so a run resumed from the checkpoint of epoch e ends in the same state as one that
never stopped.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss
from scipy.linalg import orthogonal_procrustes

from gapviz.data import PairData
from gapviz.errors import GapvizError
from gapviz.runs.records import EpochRecord, GapTracePoint, StepProgress, TraceSink, TrainSink
from gapviz.runs.store import CheckpointFiles
from gapviz.science import metrics, projection
from gapviz.science.swap import SwapDraw, apply_swap, draw_swap
from gapviz.training import distributed
from gapviz.training.batches import (
    PREFETCH_DEPTH,
    Prefetcher,
    StepBatch,
    host_batch,
    normalise,
    stream_batch,
    to_device,
)
from gapviz.training.batches import images_to_tensor as images_to_tensor  # re-exported: encode, benchmarks
from gapviz.training.checkpoint import load_checkpoint, save_checkpoint
from gapviz.training.model import encoder_parameter_groups
from gapviz.training.setup import TrainingSetup, prepare, resolve_device  # noqa: F401 - prepare re-exported

PROCRUSTES_PAIRS = 2048
TRACE_PAIRS = 64
"""Eval pairs the gap trace measures (the first ones: the same pairs at every step)."""
CLIP_LOSS = ClipLoss()
EVAL_RESAMPLES = 200
"""Bootstrap resamples per epoch evaluation (intervals and null floor in every epoch record); fewer than
analyze's 1,000 to keep evaluation within 10 % of an epoch (docs/benchmarks.md)."""


def never() -> bool:
    return False


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warmup, then cosine decay to zero (open_clip's default schedule)."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, (step - warmup_steps) / span)))


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def step_generator(seed: int, epoch: int, step: int) -> torch.Generator:
    """A stream's swap draws: seeded per step, so an epoch resumed mid-way draws what it would have drawn."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_033 + step) % 2**63)


@dataclass
class TrainResult:
    epochs_done: int
    global_step: int
    stopped: bool
    final_metrics: dict[str, float] = field(default_factory=dict)


def make_optimizer(setup: TrainingSetup) -> torch.optim.Optimizer:
    """AdamW over the encoders (open_clip's decay groups) and, when trained, the temperature's nu."""
    cfg = setup.cfg.train
    model = setup.model
    if hasattr(model, "logit_scale"):
        model.logit_scale.requires_grad_(False)
    groups = encoder_parameter_groups(model, cfg.weight_decay)
    for group in groups:
        group["lr_scale"] = 1.0
    if setup.temperature.trainable:
        groups.append({"params": [setup.temperature.nu], "weight_decay": 0.0, "lr_scale": setup.temperature.lr_scale})
    fused = setup.device.type == "cuda"
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6, fused=fused)


def autocast_context(setup: TrainingSetup):
    precision = setup.cfg.train.precision
    if precision == "auto":
        precision = "bf16" if setup.device.type == "cuda" else "fp32"
    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=setup.device.type, dtype=dtype)


@torch.no_grad()
def encode(setup: TrainingSetup, data: PairData, tokens: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalised float32 embeddings of every image and every caption of ``data``."""
    model, batch_size, device = setup.model, setup.cfg.eval.batch_size, setup.device
    model.eval()
    images, texts = [], []
    with autocast_context(setup):
        for start in range(0, data.num_images, batch_size):
            batch = images_to_tensor(data.images[start : start + batch_size], setup.bundle, device)
            images.append(F.normalize(model.encode_image(batch).float(), dim=-1).cpu())
        for start in range(0, len(tokens), batch_size):
            batch = tokens[start : start + batch_size].to(device)
            texts.append(F.normalize(model.encode_text(batch).float(), dim=-1).cpu())
    model.train()
    return torch.cat(images).numpy(), torch.cat(texts).numpy()


@torch.no_grad()
def encode_texts(setup: TrainingSetup, tokens: torch.Tensor) -> np.ndarray:
    setup.model.eval()
    with autocast_context(setup):
        features = setup.model.encode_text(tokens.to(setup.device)).float()
    setup.model.train()
    return F.normalize(features, dim=-1).cpu().numpy()


def evaluate(
    setup: TrainingSetup, epoch: int, global_step: int, previous: dict[str, np.ndarray], extra: dict[str, float]
) -> EpochRecord:
    """Every SCIENCE.md metric, zero-shot accuracy, loss at the current tau and 2-D projections."""
    started = time.perf_counter()
    cfg, data = setup.cfg, setup.eval_data
    image, text = encode(setup, data, setup.eval_tokens)
    index = data.caption_image
    values = metrics.compute_all(
        image,
        text,
        index,
        modality_probe=cfg.eval.linear_probe,
        seed=cfg.seed,
        device=setup.device,
        n_resamples=EVAL_RESAMPLES,
        labels=data.labels,
        probe_null_permutations=0,
    )
    progress = min(1.0, global_step / max(1, total_steps(setup)))
    scale = float(setup.temperature(progress).detach())
    values["logit_scale"] = scale
    values["tau"] = 1.0 / scale
    values["loss"] = metrics.contrastive_loss(image, text, scale, index)
    if setup.class_tokens is not None and data.labels is not None:
        values["zero_shot"] = metrics.zero_shot_accuracy(image, encode_texts(setup, setup.class_tokens), data.labels)
    projections: dict[str, np.ndarray] = {}
    for method in cfg.eval.projections:
        if method == "pca":
            projections[method] = projection.pca_project(image, text, reference=previous.get(method))
        else:
            projections[method] = projection.umap_project(
                image, text, init=previous.get(method), n_neighbors=cfg.eval.umap_neighbors, seed=cfg.seed
            )
    values.update(extra)
    values["eval_time_s"] = time.perf_counter() - started
    return EpochRecord(
        epoch=epoch,
        global_step=global_step,
        metrics=metrics.record_values(values),
        image_embeddings=image.astype(np.float16),
        text_embeddings=text.astype(np.float16),
        text_image_index=index,
        projections={k: v.astype(np.float32) for k, v in projections.items()},
        captions=list(data.captions),
        labels=data.labels,
    )


def steps_per_epoch(setup: TrainingSetup) -> int:
    stream, cfg = setup.train_stream, setup.cfg.train
    pairs, ranks = (stream.pairs, 1) if stream is not None else (len(setup.train_data), cfg.devices)
    steps = max(1, pairs // (cfg.batch_size * ranks)) // cfg.grad_accum or 1
    return min(steps, cfg.max_steps_per_epoch) if cfg.max_steps_per_epoch else steps


def total_steps(setup: TrainingSetup) -> int:
    return steps_per_epoch(setup) * setup.cfg.train.epochs


@torch.no_grad()
def procrustes_align(setup: TrainingSetup) -> None:
    """Rotate the text projection so text embeddings land on their images (Liang et al. §4.4)."""
    data = setup.train_data
    if data.mismatched is not None:
        keep = np.flatnonzero(~data.mismatched)[:PROCRUSTES_PAIRS]
    else:
        keep = np.arange(min(len(data), PROCRUSTES_PAIRS))
    subset = PairData(data.images[data.caption_image[keep]], [data.captions[i] for i in keep], np.arange(len(keep)))
    image, text = encode(setup, subset, setup.train_tokens[keep])
    rotation = torch.from_numpy(orthogonal_procrustes(text, image)[0]).float().to(setup.device)
    model = setup.model
    projection_param = getattr(model, "text_projection", None)
    if projection_param is None and hasattr(model, "text"):
        projection_param = getattr(model.text, "text_projection", None)
    if isinstance(projection_param, torch.nn.Parameter):
        projection_param.copy_(projection_param @ rotation)
    elif isinstance(projection_param, torch.nn.Linear):
        projection_param.weight.copy_(rotation.T @ projection_param.weight)
        if projection_param.bias is not None:
            projection_param.bias.copy_(projection_param.bias @ rotation)
    else:
        raise ValueError(f"model.procrustes_init: {setup.cfg.model.name} has no text projection to rotate")


class NonFiniteLoss(GapvizError):
    """The loss became NaN or infinite (a diverging run: learning rate too high, or bad data)."""


@dataclass
class LoopState:
    """Where the loop stands: the last finished epoch, the step count and the last evaluation."""

    epoch: int
    global_step: int
    previous: dict[str, np.ndarray]
    """Projections of the last evaluation (the next one starts from them: stable axes)."""
    final: dict[str, float] = field(default_factory=dict)
    position: int = 0
    """Samples the shard stream has read in the unfinished epoch (a mid-epoch checkpoint's; 0 at its start)."""


class GapTracer:
    """beta = 1/tau and the plug-in gap on the first TRACE_PAIRS eval pairs, every ``eval.trace_every_steps``
    steps, sent to sinks that take them (TraceSink); a forward pass over 64 pairs, so it costs little."""

    def __init__(self, setup: TrainingSetup, sink: TrainSink):
        self.every = setup.cfg.eval.trace_every_steps
        self.sink = sink if isinstance(sink, TraceSink) and self.every > 0 else None
        data, count = setup.eval_data, min(TRACE_PAIRS, len(setup.eval_data))
        chosen = data.caption_image[:count]
        self.subset = PairData(data.images[chosen], list(data.captions[:count]), np.arange(count))
        self.tokens = setup.eval_tokens[:count]

    def __call__(self, setup: TrainingSetup, global_step: int, epoch: int) -> None:
        if self.sink is None or global_step % self.every:
            return
        image, text = encode(setup, self.subset, self.tokens)
        progress = min(1.0, global_step / max(1, total_steps(setup)))
        beta = float(setup.temperature(progress).detach())
        gap = metrics.gap_distance(image, text)
        self.sink.on_trace(GapTracePoint(step=global_step, epoch=epoch, tau=1.0 / beta, beta=beta, gap_distance=gap))


def train(
    setup: TrainingSetup,
    sink: TrainSink,
    checkpoints: CheckpointFiles,
    should_stop: Callable[[], bool] = never,
    resume: bool = False,
    prefetch: bool = True,
) -> TrainResult:
    """Train ``setup.cfg.train.epochs`` epochs; each epoch (and epoch 0) is evaluated and sent to ``sink``.

    ``prefetch=False`` gathers each batch on the training thread (the same batches and numbers, slower). In a
    multi-rank run (gapviz.training.distributed) every rank calls it; rank 0 alone evaluates and writes."""
    cfg = setup.cfg
    checkpoints.folder.mkdir(parents=True, exist_ok=True)
    optimizer = make_optimizer(setup)
    tracer = GapTracer(setup, sink)
    state = _start_or_resume(setup, sink, optimizer, checkpoints, tracer, resume)
    wrapped = distributed.wrap(setup.model, setup.device)
    forward = torch.compile(wrapped) if cfg.train.compile else wrapped
    setup.model.train()
    for epoch in range(state.epoch + 1, cfg.train.epochs + 1):
        epoch_run = EpochRun(
            setup, forward, optimizer, state, sink, tracer, PREFETCH_DEPTH if prefetch else 0, checkpoints
        )
        extra = epoch_run(epoch, should_stop)
        if extra is None:
            return TrainResult(epoch - 1, state.global_step, stopped=True, final_metrics=state.final)
        if distributed.is_main():
            record = evaluate(setup, epoch, state.global_step, state.previous, extra)
            state.previous, state.final = record.projections, record.metrics
            sink.on_epoch(record)
            save_checkpoint(checkpoints, setup, optimizer, epoch, state.global_step, state.previous)
        distributed.barrier()
        state.epoch, state.position = epoch, 0
    return TrainResult(cfg.train.epochs, state.global_step, stopped=False, final_metrics=state.final)


def _start_or_resume(
    setup: TrainingSetup,
    sink: TrainSink,
    optimizer: torch.optim.Optimizer,
    checkpoints: CheckpointFiles,
    tracer: GapTracer,
    resume: bool,
) -> LoopState:
    """Continue from last.pt (``resume``: every rank loads it), or evaluate the untrained model as epoch 0 and
    checkpoint it (rank 0; the other ranks get its weights when DDP wraps the model)."""
    if resume and checkpoints.last.is_file():
        epoch, global_step, previous, position = load_checkpoint(checkpoints, setup, optimizer)
        return LoopState(epoch, global_step, previous, position=position)
    if setup.cfg.model.procrustes_init:
        procrustes_align(setup)
    state = LoopState(0, 0, {})
    if distributed.is_main():
        tracer(setup, 0, 0)
        record = evaluate(setup, 0, 0, {}, {})
        sink.on_epoch(record)
        save_checkpoint(checkpoints, setup, optimizer, 0, 0, record.projections)
        state.previous = record.projections
    distributed.barrier()
    return state


@dataclass
class EpochRun:
    """What every epoch's steps share: the model, its optimiser, the loop's state and where progress goes."""

    setup: TrainingSetup
    forward: Callable[..., Any]
    optimizer: torch.optim.Optimizer
    state: LoopState
    sink: TrainSink
    tracer: GapTracer
    prefetch_depth: int = PREFETCH_DEPTH
    """Batches gathered ahead on a background thread (0: gathered on the training thread when needed)."""
    checkpoints: CheckpointFiles | None = None
    """Where a shard stream's mid-epoch checkpoints go (None: none are written)."""

    def batches(self, order: np.ndarray, epoch: int, start: int) -> Prefetcher[StepBatch]:
        """This rank's step batches of the epoch from step ``start`` on, uint8 in host memory (pinned for a CUDA
        device): its part of the rows of ``order``, or its shard stream's next samples."""
        setup, cfg = self.setup, self.setup.cfg.train
        samples, pin = setup.cfg.train.pairs_per_step, self.setup.device.type == "cuda"
        count, stream = steps_per_epoch(setup) - start, setup.train_stream
        if stream is not None:
            local = cfg.batch_size * cfg.grad_accum
            skip = self.state.position if distributed.is_main() and self.state.position else start * local
            decoded = stream.batches(epoch, local, skip)
            tokenizer = setup.bundle.tokenizer
            return Prefetcher(
                lambda _: stream_batch(next(decoded), tokenizer, cfg.grad_accum, pin), count, self.prefetch_depth
            )

        def produce(step: int) -> StepBatch:
            chosen = distributed.local_rows(order[(start + step) * samples : (start + step + 1) * samples])
            return host_batch(setup.train_data, setup.train_tokens, chosen, cfg.grad_accum, pin)

        return Prefetcher(produce, count, self.prefetch_depth)

    def mid_epoch_checkpoint(self, step: int, stopping: bool) -> None:
        """A shard stream's checkpoint after ``step`` steps of the epoch: every ``data.stream_checkpoint_steps``
        steps and when the run stops (rank 0 writes it; resume reads the stream on from its position)."""
        every, state = self.setup.cfg.data.stream_checkpoint_steps, self.state
        due = stopping or (every > 0 and step % every == 0 and step < steps_per_epoch(self.setup))
        if self.setup.train_stream is None or self.checkpoints is None or not due or not distributed.is_main():
            return
        save_checkpoint(
            self.checkpoints, self.setup, self.optimizer, state.epoch, state.global_step, state.previous, state.position
        )

    def __call__(self, epoch: int, should_stop: Callable[[], bool]) -> dict[str, float] | None:
        """Every step of ``epoch``; returns its training figures, or None when ``should_stop`` said stop."""
        setup, state, cfg = self.setup, self.state, self.setup.cfg.train
        per_epoch, total = steps_per_epoch(setup), total_steps(setup)
        generator = epoch_generator(setup.cfg.seed, epoch)
        order = torch.randperm(len(setup.train_data), generator=generator).numpy()
        samples = setup.cfg.train.pairs_per_step
        start = min(max(0, state.global_step - (epoch - 1) * per_epoch), per_epoch)  # > 0: a mid-epoch checkpoint
        epoch_started, losses, waited = time.perf_counter(), [], 0.0
        with self.batches(order, epoch, start) as batches:
            for step in range(start, per_epoch):
                if distributed.agree(should_stop()):
                    self.mid_epoch_checkpoint(step, stopping=step > start)
                    return None
                distributed.fault_hook(state.global_step)
                step_started = time.perf_counter()
                batch = to_device(next(batches), setup.device)
                if setup.train_stream is not None:
                    generator, state.position = step_generator(setup.cfg.seed, epoch, step), batch.position
                lr = lr_at(state.global_step, total, cfg.warmup_steps, cfg.lr)
                loss, tau = _train_step(setup, self.forward, self.optimizer, batch, generator, lr, state.global_step)
                state.global_step += 1
                losses.append(loss)
                waited += batches.wait_s
                speed = samples / max(time.perf_counter() - step_started, 1e-9)
                progress = (epoch, step + 1, per_epoch, state.global_step, total, loss, tau, lr, speed)
                self.sink.on_step(StepProgress(*progress, data_wait_s=batches.wait_s))
                self.tracer(setup, state.global_step, epoch)
                self.mid_epoch_checkpoint(step + 1, stopping=False)
        train_time = time.perf_counter() - epoch_started
        return {
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "lr": lr_at(state.global_step, total, cfg.warmup_steps, cfg.lr),
            "train_time_s": train_time,
            "samples_per_s": per_epoch * samples / max(train_time, 1e-9),
            "data_wait_share": waited / max(train_time, 1e-9),
        }


def _train_step(
    setup: TrainingSetup,
    forward: Callable[..., Any],
    optimizer: torch.optim.Optimizer,
    batch: StepBatch,
    generator: torch.Generator,
    lr: float,
    global_step: int,
) -> tuple[float, float]:
    """One optimiser step over the full batch ``batch`` (``train.grad_accum`` micro-batches); returns (loss, tau).

    Raises NonFiniteLoss before the step is applied, so the weights of the last checkpoint stay good."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_scale"]
    progress = global_step / max(1, total_steps(setup))
    tau = 1.0 / float(setup.temperature(progress).detach())
    optimizer.zero_grad(set_to_none=True)
    step_loss = full_batch_backward(setup, forward, batch, generator, progress)
    if not math.isfinite(step_loss):
        raise NonFiniteLoss(f"loss became non-finite at step {global_step + 1} (lr {lr:.3g})")
    optimizer.step()
    setup.temperature.clamp_()
    return step_loss, tau


def _micro_features(
    setup: TrainingSetup, forward: Callable[..., Any], batch: StepBatch, index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 image and text features of micro-batch ``index`` (normalised here, on the device)."""
    images = normalise(batch.images[index], setup.bundle)
    with autocast_context(setup):
        image_features, text_features, _ = forward(images, batch.tokens[index])
    return image_features.float(), text_features.float()


@torch.no_grad()
def _cached_features(
    setup: TrainingSetup, forward: Callable[..., Any], batch: StepBatch
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Image and text features of every micro-batch, without gradients (accumulation's first pass)."""
    features = [_micro_features(setup, forward, batch, index) for index in range(len(batch.images))]
    return [image for image, _ in features], [text for _, text in features]


def full_batch_backward(
    setup: TrainingSetup,
    forward: Callable[..., Any],
    batch: StepBatch | np.ndarray,
    generator: torch.Generator,
    progress: float,
) -> float:
    """Backpropagate the CLIP loss of the full batch (a StepBatch, or the training rows to gather) over
    ``train.grad_accum`` micro-batches; returns it.

    As open_clip's accum-freq: every micro-batch is first encoded without gradients, then each is encoded again
    with gradients and the full batch's loss is taken with the cached features of the others, so the loss and
    the gradients equal those of one batch of all its pairs. The swap is drawn once per full batch; the
    temperature takes its gradient from the first pass only (open_clip's takes it once per micro-batch).

    In a multi-rank run ``batch`` is this rank's part (an array: the global rows, of which it takes its part);
    the loss gathers every rank's features with gradients, and the swap is drawn over the global batch."""
    swap, clip_loss = setup.cfg.swap, distributed.contrastive_loss(CLIP_LOSS)
    if isinstance(batch, np.ndarray):
        rows = distributed.local_rows(batch)
        gathered = host_batch(setup.train_data, setup.train_tokens, rows, setup.cfg.train.grad_accum, pin=False)
        batch = to_device(gathered, setup.device)
    cached = _cached_features(setup, forward, batch) if len(batch.images) > 1 else None
    draw: SwapDraw | None = None
    step_loss, last = 0.0, len(batch.images) - 1
    for index in range(len(batch.images)):
        with distributed.no_sync(forward, sync=index == last):
            image, text = _micro_features(setup, forward, batch, index)
            if cached is not None:
                image = torch.cat([*cached[0][:index], image, *cached[0][index + 1 :]])
                text = torch.cat([*cached[1][:index], text, *cached[1][index + 1 :]])
            if index == 0:
                template = image.new_empty((distributed.global_rows(len(image)), image.shape[1]))
                draw = draw_swap(template, swap, generator)
            image, text = apply_swap(image, text, distributed.local_swap(draw, len(image)), swap)
            scale = setup.temperature(progress).to(setup.device)
            loss = clip_loss(image, text, scale if index == 0 else scale.detach())
            loss.backward()
        if index == 0:
            step_loss = float(loss.detach())
    distributed.average_gradients(setup.temperature.parameters())
    return step_loss
