"""Execute a stored run in this process: status bookkeeping around the training loop.

Used by `gapviz train` (foreground) and by the RQ job (`gapviz.queue.jobs.train_run`), so both keep
the RunStore the same way: state, progress, error and traceback in status.json, every finished
epoch in the store before its checkpoint.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from typing import Callable

from gapviz.runs.records import EpochRecord, RunState, StepProgress, TrainSink
from gapviz.runs.store import RunStore
from gapviz.training.loop import TrainResult, checkpoint_epoch, never, prepare, train

STATUS_WRITE_INTERVAL_S = 2.0


class StoreSink:
    """Writes each EpochRecord to the RunStore and keeps status.json's progress fresh."""

    def __init__(self, store: RunStore, run_id: str, forward: TrainSink | None = None):
        self.store, self.run_id, self.forward = store, run_id, forward
        self._last_status = 0.0

    def on_step(self, progress: StepProgress) -> None:
        now = time.monotonic()
        if now - self._last_status >= STATUS_WRITE_INTERVAL_S:
            self._last_status = now
            self.store.update_status(self.run_id, progress=progress.to_dict())
        if self.forward:
            self.forward.on_step(progress)

    def on_epoch(self, record: EpochRecord) -> None:
        self.store.append_epoch(self.run_id, record)
        self.store.update_status(self.run_id, epoch=record.epoch, global_step=record.global_step)
        if self.forward:
            self.forward.on_epoch(record)


def execute_run(
    store: RunStore,
    run_id: str,
    sink: TrainSink | None = None,
    should_stop: Callable[[], bool] = never,
    *,
    resume: bool = False,
    stopped_state: RunState = RunState.CANCELLED,
    device: str | None = None,
    on_prepare: Callable[[str, int, int], None] | None = None,
) -> RunState:
    """Run ``run_id`` to its end (or until ``should_stop``); returns the final state.

    An exception is recorded (error, traceback, state failed) and re-raised. ``resume`` continues
    from the last checkpoint and forgets epochs recorded after it.
    """
    cfg = store.config(run_id)
    if device:
        cfg = cfg.replace(device=device)
    checkpoint_dir = store.checkpoint_dir(run_id)
    store.update_status(
        run_id, state=RunState.RUNNING, started_at=time.time(), host=socket.gethostname(), pid=os.getpid(),
        error=None, traceback=None,
    )
    try:
        resume_epoch = checkpoint_epoch(checkpoint_dir) if resume else None
        if resume_epoch is not None:
            store.truncate_epochs(run_id, resume_epoch)
        init = store.epoch_checkpoint(cfg.model.init_run, cfg.model.init_epoch) if cfg.model.init_run else None
        setup = prepare(cfg, store.home, init_checkpoint=init, progress=on_prepare)
        result: TrainResult = train(setup, StoreSink(store, run_id, sink), checkpoint_dir, should_stop, resume=resume_epoch is not None)
    except BaseException as error:
        interrupted = isinstance(error, (KeyboardInterrupt, SystemExit))
        store.update_status(
            run_id,
            state=RunState.INTERRUPTED if interrupted else RunState.FAILED,
            finished_at=time.time(),
            error=None if interrupted else f"{type(error).__name__}: {error}",
            traceback=None if interrupted else traceback.format_exc(),
        )
        raise
    state = stopped_state if result.stopped else RunState.FINISHED
    store.update_status(run_id, state=state, finished_at=time.time(), epoch=result.epochs_done)
    return state


def warm_up() -> float:
    """Import torch/open_clip and compile UMAP's numba code once, so jobs start fast; returns seconds."""
    started = time.perf_counter()
    import open_clip  # noqa: F401
    import torch  # noqa: F401

    from gapviz.science import projection

    projection.warm_umap()
    return time.perf_counter() - started
