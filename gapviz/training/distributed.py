"""One run on many devices (DDP): the process group, rank helpers, the gathered loss and the rank launcher.

A run with ``train.devices = N > 1`` trains in N spawned processes, one device each (gloo on the CPU, nccl on
CUDA), while the process that launched them (the worker, or `gapviz train`) keeps the run's bookkeeping and
watches them. Every rank reads the same seeded global order and takes its own contiguous slice of each step's
sorted rows, so the features gathered across ranks (open_clip's ClipLoss, ``gather_with_grad``) are the single
process's full batch in the same order. Rank 0 alone evaluates and writes (epochs, checkpoints, progress);
the others wait at a barrier. A rank that dies ends the others, and the launcher raises :class:`RankFailed`
naming it.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import queue
import signal
import socket
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from open_clip.loss import ClipLoss
from torch.nn.parallel import DistributedDataParallel

from gapviz.errors import GapvizError
from gapviz.runs.records import EpochRecord, GapTracePoint, StepProgress
from gapviz.science.swap import SwapDraw
from gapviz.training.setup import rank_info, resolve_device

GROUP_TIMEOUT = timedelta(hours=2)
"""How long a rank waits in a collective (the others wait while rank 0 evaluates an epoch)."""
KILL_RANK_ENV = "GAPVIZ_TEST_KILL_RANK"
"""Fault tests only: ``RANK:STEP`` makes that rank SIGKILL itself when it reaches that global step."""
POLL_S = 0.1
TEARDOWN_S = 10.0
_group_device = {"device": torch.device("cpu")}


class RankFailed(GapvizError):
    """A rank of a multi-device run raised or died; the others were stopped."""


def world_size() -> int:
    """Ranks in this run's process group (1 outside one)."""
    return rank_info()[1]


def rank() -> int:
    """This process's rank (0 outside a group)."""
    return rank_info()[0]


def is_main() -> bool:
    """Whether this process writes the run (rank 0, or the only process)."""
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if world_size() > 1:
        dist.barrier()


def agree(flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (how a cancel seen by rank 0 stops all ranks at the same step)."""
    if world_size() == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=_group_device["device"])
    dist.broadcast(value, src=0)
    return bool(value.item())


def average_gradients(parameters: Iterable[torch.Tensor]) -> None:
    """Average the gradients of parameters DDP does not own (the temperature's nu) over the ranks."""
    if world_size() == 1:
        return
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)
            parameter.grad.div_(world_size())


@functools.cache
def _clip_loss(rank_: int, world: int) -> ClipLoss:
    return ClipLoss(gather_with_grad=True, local_loss=False, rank=rank_, world_size=world)


def contrastive_loss(single: ClipLoss) -> ClipLoss:
    """The CLIP loss over the global batch: ``single`` in one process, else open_clip's ClipLoss gathering every
    rank's features with their gradients, each rank taking the whole global batch's loss (so DDP's average of
    the ranks' gradients is the full batch's gradient)."""
    return single if world_size() == 1 else _clip_loss(rank(), world_size())


def wrap(model: torch.nn.Module, device: torch.device) -> Any:
    """``model`` under DDP in a multi-rank run (its weights broadcast from rank 0), else ``model`` itself."""
    if world_size() == 1:
        return model
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def no_sync(forward: Any, sync: bool) -> contextlib.AbstractContextManager[Any]:
    """DDP's no_sync for an accumulation micro-batch whose gradients are still local (``sync`` False)."""
    ddp = getattr(forward, "_orig_mod", forward)
    if sync or not isinstance(ddp, DistributedDataParallel):
        return contextlib.nullcontext()
    return ddp.no_sync()


def local_rows(chosen: np.ndarray) -> np.ndarray:
    """This rank's slice of a step's rows: the sorted global rows cut into equal contiguous parts, in rank order
    (so the gathered features are the single process's full batch, sorted as its micro-batches are)."""
    if world_size() == 1:
        return chosen
    if len(chosen) % world_size():
        raise GapvizError(
            f"a step of {len(chosen)} pairs does not split evenly over {world_size()} ranks: the training set is "
            "smaller than one global batch (batch size × grad accum × devices)"
        )
    return np.array_split(np.sort(chosen), world_size())[rank()]


def global_rows(local: int) -> int:
    """Rows of the global batch when every rank holds ``local`` (the ranks' parts are equal)."""
    return local * world_size()


def local_swap(draw: SwapDraw | None, local: int) -> SwapDraw | None:
    """This rank's rows of a swap drawn over the global batch: the swap acts on each pair alone, so applying
    its rows on each rank before the gather equals applying the whole draw to the gathered batch."""
    if draw is None or world_size() == 1:
        return draw
    rows = slice(rank() * local, (rank() + 1) * local)
    return SwapDraw(draw.chosen[rows], draw.noise[rows])


def fault_hook(global_step: int) -> None:
    """Fault tests: SIGKILL this rank at the step named by $GAPVIZ_TEST_KILL_RANK (``RANK:STEP``)."""
    target = os.environ.get(KILL_RANK_ENV, "")
    if target and target == f"{rank()}:{global_step}" and world_size() > 1:
        os.kill(os.getpid(), signal.SIGKILL)


def rank_devices(device: str, count: int) -> list[str]:
    """The device of each of ``count`` ranks: ``cpu`` for every rank, or ``cuda:0`` … ``cuda:N-1`` of the GPUs
    this process sees (CUDA_VISIBLE_DEVICES picks them); one-line errors for anything else."""
    if count == 1:
        return [device]
    resolved = resolve_device(device)
    if resolved.type == "cpu":
        return ["cpu"] * count
    if resolved.type != "cuda":
        raise GapvizError(f"train.devices = {count} needs CUDA or the CPU; device {device} has no DDP backend here")
    if resolved.index is not None:
        raise GapvizError(
            f"train.devices = {count} needs device cuda or auto, not the one GPU {device} (a worker started with "
            "--device cuda:K takes one-device runs only)"
        )
    available = torch.cuda.device_count()
    if available < count:
        raise GapvizError(f"train.devices = {count} needs {count} GPUs; this process sees {available}")
    return [f"cuda:{index}" for index in range(count)]


def _loopback_interface() -> str:
    names = [name for _, name in socket.if_nameindex() if name.startswith("lo")]
    return names[0] if names else "lo"


def init_method() -> str:
    """A rendezvous address on the loopback interface (a free port: nothing listens beyond 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


@contextlib.contextmanager
def process_group(rank_: int, devices: list[str], address: str) -> Iterator[torch.device]:
    """Join the run's process group as ``rank_`` (gloo on the CPU, nccl with one GPU per rank); yields this
    rank's device and leaves the group on exit."""
    device = torch.device(devices[rank_])
    interface = _loopback_interface()
    os.environ.setdefault("GLOO_SOCKET_IFNAME", interface)
    os.environ.setdefault("NCCL_SOCKET_IFNAME", interface)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // len(devices)))  # the ranks share the cores
    backend = "nccl" if device.type == "cuda" else "gloo"
    warnings.filterwarnings("ignore", message=".*all_gather is deprecated", category=FutureWarning)  # open_clip's
    dist.init_process_group(backend, init_method=address, rank=rank_, world_size=len(devices), timeout=GROUP_TIMEOUT)
    _group_device["device"] = device
    try:
        yield device
    finally:
        dist.destroy_process_group()


class ChannelSink:
    """Rank 0's copy of what it emits, sent to the launching process (its live events, progress bar)."""

    def __init__(self, channel: Any):
        self.channel = channel

    def on_step(self, progress: StepProgress) -> None:
        self.channel.put(("step", 0, progress))

    def on_epoch(self, record: EpochRecord) -> None:
        self.channel.put(("epoch", 0, record))

    def on_trace(self, point: GapTracePoint) -> None:
        self.channel.put(("trace", 0, point))

    def on_prepare(self, stage: str, done: int, total: int) -> None:
        self.channel.put(("prepare", 0, (stage, done, total)))


RankTarget = Callable[[int, Any, "ChannelSink | None", Callable[[], bool]], Any]
"""``target(rank, job, sink, should_stop)``: rank 0 gets the ChannelSink and returns the run's result."""


def _rank_entry(target: RankTarget, rank_: int, job: Any, channel: Any, stop: Any) -> None:
    """A spawned rank: run ``target``; report its result (rank 0) or its error in one line, then exit."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # the launcher ends the ranks; a terminal's Ctrl-C reaches it
    parent = os.getppid()
    should_stop = lambda: stop.is_set() or os.getppid() != parent  # noqa: E731 - a launcher gone stops the run
    try:
        result = target(rank_, job, ChannelSink(channel) if rank_ == 0 else None, should_stop)
    except BaseException as error:  # noqa: BLE001 - reported to the launcher, then this rank exits failed
        line = (str(error).strip().splitlines() or [""])[0]
        channel.put(("error", rank_, f"{type(error).__name__}: {line}" if line else type(error).__name__))
        channel.close()
        channel.join_thread()
        raise SystemExit(1) from None
    if rank_ == 0:
        channel.put(("result", 0, result))
    channel.close()
    channel.join_thread()


def launch(target: RankTarget, job: Any, count: int, sink: Any, should_stop: Callable[[], bool]) -> Any:
    """Run ``target`` in ``count`` spawned ranks; forward rank 0's events to ``sink``, pass ``should_stop`` on to
    rank 0, and return rank 0's result. A rank that fails or dies ends the others and raises RankFailed."""
    context = multiprocessing.get_context("spawn")
    channel, stop = context.Queue(), context.Event()
    ranks = [
        context.Process(target=_rank_entry, args=(target, index, job, channel, stop), name=f"gapviz-rank-{index}")
        for index in range(count)
    ]
    for process in ranks:
        process.start()
    try:
        return _watch(ranks, channel, stop, sink, should_stop)
    finally:
        _teardown(ranks)
        channel.close()


def _watch(ranks: Sequence[BaseProcess], channel: Any, stop: Any, sink: Any, should_stop: Callable[[], bool]) -> Any:
    """Forward rank 0's events until every rank has exited; raise RankFailed when one fails."""
    errors: dict[int, str] = {}
    result: list[Any] = []
    while True:
        if should_stop():
            stop.set()
        _drain(channel, sink, errors, result, POLL_S)
        failed = [index for index, process in enumerate(ranks) if process.exitcode not in (None, 0)]
        if failed:
            _drain(channel, sink, errors, result, 0.0)
            raise RankFailed(_failure(ranks, failed, errors))
        if all(process.exitcode == 0 for process in ranks):
            _drain(channel, sink, errors, result, 0.0)
            if not result:
                raise RankFailed("rank 0 exited without a result")
            return result[0]


def _drain(channel: Any, sink: Any, errors: dict[int, str], result: list[Any], wait_s: float) -> None:
    """Every message waiting on ``channel`` (waiting up to ``wait_s`` for the first)."""
    try:
        kind, sender, payload = channel.get(timeout=wait_s) if wait_s else channel.get_nowait()
    except queue.Empty:
        return
    while True:
        if kind == "error":
            errors.setdefault(sender, payload)
        elif kind == "result":
            result.append(payload)
        elif kind == "prepare":
            if hasattr(sink, "on_prepare"):
                sink.on_prepare(*payload)
        elif sink is not None and hasattr(sink, f"on_{kind}"):
            getattr(sink, f"on_{kind}")(payload)
        try:
            kind, sender, payload = channel.get_nowait()
        except queue.Empty:
            return


def _failure(ranks: Sequence[BaseProcess], failed: list[int], errors: dict[int, str]) -> str:
    """One line naming the rank that failed first: a rank killed by a signal before one whose collective broke."""
    killed = [index for index in failed if (ranks[index].exitcode or 0) < 0]
    reported = [index for index in errors if index in failed]
    index = (killed or reported or failed)[0]
    count = len(ranks)
    if index in killed:
        name = signal.Signals(-(ranks[index].exitcode or 0)).name
        return f"rank {index} of {count} was killed ({name}); the other ranks were stopped"
    return f"rank {index} of {count} failed: {errors.get(index, f'exit code {ranks[index].exitcode}')}"


def _teardown(ranks: Sequence[BaseProcess]) -> None:
    """Kill the ranks still running (they ignore SIGTERM) and reap them all."""
    for process in ranks:
        if process.exitcode is None:
            process.kill()
    for process in ranks:
        process.join(TEARDOWN_S)
