"""Execute a stored run in this process: status bookkeeping around the training loop.

Used by `gapviz train` (foreground), by `gapviz reproduce` and by the RQ job (`gapviz.queue.jobs.train_run`),
so all keep the RunStore the same way: the state through the store's transitions, progress, error and
traceback in status.json, every finished epoch in the store before its checkpoint, a heartbeat while the
run trains (a run whose heartbeat stops is abandoned, see RunStore.status) and a cancel request read
from status.json (`gapviz cancel` of a foreground run).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from gapviz.config import RunConfig
from gapviz.runs.records import EpochRecord, GapTracePoint, NullSink, RunState, StepProgress, TraceSink, TrainSink
from gapviz.runs.store import HEARTBEAT_INTERVAL_S, RunStore, StoreError
from gapviz.training import distributed
from gapviz.training.checkpoint import checkpoint_epoch
from gapviz.training.loop import TrainResult, never, train
from gapviz.training.setup import prepare

STATUS_WRITE_INTERVAL_S = 2.0
CANCEL_POLL_S = 0.5


class StoreSink:
    """Writes each EpochRecord and gap-trace point to the RunStore and keeps status.json's progress fresh."""

    def __init__(self, store: RunStore, run_id: str, forward: TrainSink | None = None):
        self.store, self.run_id, self.forward = store, run_id, forward
        self._last_status = 0.0

    def on_step(self, progress: StepProgress) -> None:
        now = time.monotonic()
        if now - self._last_status >= STATUS_WRITE_INTERVAL_S:
            self._last_status = now
            self.store.record_progress(self.run_id, progress.to_dict())
        if self.forward:
            self.forward.on_step(progress)

    def on_epoch(self, record: EpochRecord) -> None:
        self.store.append_epoch(self.run_id, record)
        if self.forward:
            self.forward.on_epoch(record)

    def on_trace(self, point: GapTracePoint) -> None:
        self.store.append_gap_trace(self.run_id, [point])
        if isinstance(self.forward, TraceSink):
            self.forward.on_trace(point)


class Heartbeat:
    """While the run trains: touch its heartbeat file every HEARTBEAT_INTERVAL_S and notice a cancel request
    in status.json (how `gapviz cancel` reaches a run trained in the foreground), from a daemon thread."""

    def __init__(self, store: RunStore, run_id: str, interval_s: float = HEARTBEAT_INTERVAL_S):
        self.store, self.run_id, self.interval_s = store, run_id, interval_s
        self.cancel_requested = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        last_beat = time.monotonic()
        while not self._done.wait(min(CANCEL_POLL_S, self.interval_s)):
            try:
                if time.monotonic() - last_beat >= self.interval_s:
                    last_beat = time.monotonic()
                    self.store.beat(self.run_id)
                if self.store.status(self.run_id).cancel_requested:
                    self.cancel_requested.set()
            except (OSError, StoreError):  # a store being moved or deleted: try again next tick
                continue


def execute_run(
    store: RunStore,
    run_id: str,
    sink: TrainSink | None = None,
    should_stop: Callable[[], bool] = never,
    *,
    resume: bool = False,
    stopped_state: RunState = RunState.CANCELLED,
    device: str | None = None,
    worker: str = "",
    on_prepare: Callable[[str, int, int], None] | None = None,
) -> RunState:
    """Run ``run_id`` to its end (or until ``should_stop``); returns the final state.

    The config is read once, here (``device`` overrides its device). An exception is recorded (error,
    traceback, state failed; a Ctrl-C or SystemExit: interrupted) and re-raised. ``resume`` continues from
    the last checkpoint and forgets epochs recorded after it; a stop asked for by `gapviz cancel` ends
    cancelled, any other stop ``stopped_state``.
    """
    cfg = store.config(run_id)
    if device:
        cfg = cfg.replace(device=device)
    store.running(run_id, worker=worker)
    with Heartbeat(store, run_id) as heartbeat:
        stop = lambda: should_stop() or heartbeat.cancel_requested.is_set()  # noqa: E731
        try:
            result = _train_stored(store, run_id, cfg, sink, stop, resume, on_prepare)
        except BaseException as error:
            store.record_exception(run_id, error)
            raise
    if not result.stopped:
        store.finished(run_id, result.epochs_done)
        return RunState.FINISHED
    state = RunState.CANCELLED if heartbeat.cancel_requested.is_set() else stopped_state
    if state == RunState.CANCELLED:
        store.cancelled(run_id)
    else:
        store.interrupted(run_id)
    return state


def _train_stored(
    store: RunStore,
    run_id: str,
    cfg: Any,
    sink: TrainSink | None,
    should_stop: Callable[[], bool],
    resume: bool,
    on_prepare: Callable[[str, int, int], None] | None,
) -> TrainResult:
    """Clean up after a killed predecessor, rewind to the last checkpoint when resuming, build, train."""
    store.remove_temp_files(run_id)  # nothing else trains this run now: every temp file is a dead writer's
    checkpoints = store.checkpoint_files(run_id)
    resume_epoch = checkpoint_epoch(checkpoints) if resume else None
    if resume_epoch is not None:
        store.truncate_epochs(run_id, resume_epoch)
    init = store.epoch_checkpoint(cfg.model.init_run, cfg.model.init_epoch) if cfg.model.init_run else None
    if cfg.train.devices > 1:
        devices = tuple(distributed.rank_devices(cfg.device, cfg.train.devices))
        job = RankJob(store.home, run_id, cfg, resume_epoch is not None, init, devices, distributed.init_method())
        return distributed.launch(_train_rank, job, len(devices), Forwarded(sink, on_prepare), should_stop)
    setup = prepare(cfg, store.home, init_checkpoint=init, progress=on_prepare)
    store_sink = StoreSink(store, run_id, sink)
    return train(setup, store_sink, checkpoints, should_stop, resume=resume_epoch is not None)


@dataclass(frozen=True)
class RankJob:
    """What each rank of a multi-device run needs to build and train it (pickled to the spawned ranks)."""

    home: Path
    run_id: str
    cfg: RunConfig
    resume: bool
    init: Path | None
    devices: tuple[str, ...]
    address: str


def _train_rank(
    rank: int, job: RankJob, channel: distributed.ChannelSink | None, should_stop: Callable[[], bool]
) -> TrainResult:
    """One rank of a multi-device run; rank 0 (the one with ``channel``) writes the store and sends its events."""
    with distributed.process_group(rank, list(job.devices), job.address):
        cfg = job.cfg.replace(device=job.devices[rank])
        store = RunStore(job.home)
        progress = channel.on_prepare if channel is not None else None
        setup = prepare(cfg, store.home, init_checkpoint=job.init, progress=progress)
        sink: TrainSink = StoreSink(store, job.run_id, channel) if channel is not None else NullSink()
        return train(setup, sink, store.checkpoint_files(job.run_id), should_stop, resume=job.resume)


class Forwarded:
    """Rank 0's events as the launching process receives them, passed to its sink and prepare callback."""

    def __init__(self, sink: TrainSink | None, on_prepare: Callable[[str, int, int], None] | None):
        self.sink, self.prepare = sink, on_prepare

    def on_step(self, progress: StepProgress) -> None:
        if self.sink is not None:
            self.sink.on_step(progress)

    def on_epoch(self, record: EpochRecord) -> None:
        if self.sink is not None:
            self.sink.on_epoch(record)

    def on_trace(self, point: GapTracePoint) -> None:
        if isinstance(self.sink, TraceSink):
            self.sink.on_trace(point)

    def on_prepare(self, stage: str, done: int, total: int) -> None:
        if self.prepare is not None:
            self.prepare(stage, done, total)
