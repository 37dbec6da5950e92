"""A run's life cycle (RunState, RunStatus) and what training emits: step progress, one EpochRecord per epoch,
gap-trace points, and the sinks that take them."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover - Python 3.10

    class StrEnum(str, Enum):
        """Python 3.11's enum.StrEnum: members are strs that equal and print as their value."""

        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return format(str(self.value), spec)


class RunState(StrEnum):
    """Life cycle of a run, as stored in status.json and reported by the CLI and app.

    A str Enum whose str() and format() are its value, so ``RunState.FINISHED == "finished"`` and printing a
    state shows "finished".
    """

    CREATED = "created"
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    UNREADABLE = "unreadable"
    """Display only: the summary of a run folder whose files cannot be read. Never stored in status.json,
    and neither terminal, active nor resumable."""

    ACTIVE: ClassVar[frozenset[RunState]]
    """Waiting in a queue or training: what cancel stops and what resume refuses."""
    RESUMABLE: ClassVar[frozenset[RunState]]
    """Ended before its last epoch: resume continues it from its last checkpoint."""

    @property
    def is_terminal(self) -> bool:
        """The run has ended (no more events will come)."""
        return self in (RunState.FINISHED, RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED)


RunState.ACTIVE = frozenset({RunState.QUEUED, RunState.RUNNING})
RunState.RESUMABLE = frozenset({RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED})


@dataclass(frozen=True)
class RunStatus:
    """status.json, typed: the state and the bookkeeping around it. Written only by RunStore's transitions."""

    state: RunState = RunState.CREATED
    created_at: float = 0.0
    updated_at: float = 0.0
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    job_id: str | None = None
    """The RQ job of a queued run; None for a run trained in the foreground (`gapviz train`, reproduce)."""
    queue: str | None = None
    """Name of the queue the run was submitted to."""
    resume: bool = False
    cancel_requested: bool = False
    worker: str = ""
    host: str = ""
    pid: int | None = None
    epoch: int | None = None
    """The newest epoch recorded (0: the untrained model's evaluation)."""
    global_step: int | None = None
    progress: dict[str, Any] | None = None
    """The newest StepProgress as a dict (written at most every few seconds)."""
    error: str | None = None
    traceback: str | None = None
    abandoned: bool = False
    """The process training the run stopped responding (killed, crashed, machine lost)."""
    note: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunStatus:
        """Parse status.json; keys this version does not know are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["state"] = RunState(values.get("state", RunState.CREATED.value))
        if values["state"] is RunState.UNREADABLE:  # display only: status.json never says it
            raise ValueError(f"{RunState.UNREADABLE.value!r} is not a valid RunState")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data

    def replace(self, **changes: Any) -> RunStatus:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class StepProgress:
    """Progress of one optimiser step."""

    epoch: int
    step: int
    steps_per_epoch: int
    global_step: int
    total_steps: int
    loss: float
    tau: float
    lr: float
    samples_per_s: float
    data_wait_s: float = 0.0
    """Seconds of this step the training thread waited for its batch (0 when the prefetcher kept ahead)."""

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass
class EpochRecord:
    """The evaluation of one epoch (epoch 0 = before training): metrics, embeddings, projections."""

    epoch: int
    global_step: int
    metrics: dict[str, float]
    image_embeddings: np.ndarray
    text_embeddings: np.ndarray
    text_image_index: np.ndarray
    projections: dict[str, np.ndarray] = field(default_factory=dict)
    """Method name -> (N + M, 2) float32 coordinates, image rows first."""
    captions: list[str] | None = None
    labels: np.ndarray | None = None

    def metrics_row(self) -> dict[str, float | int]:
        return {"epoch": self.epoch, "step": self.global_step, **self.metrics}


@dataclass(frozen=True)
class GapTracePoint:
    """beta = 1/tau and the plug-in gap on a fixed small eval subset, recorded every few optimiser steps."""

    step: int
    epoch: int
    tau: float
    beta: float
    gap_distance: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


class TrainSink(Protocol):
    """Receives what the training loop emits; the CLI, the worker and tests each wire their own."""

    def on_step(self, progress: StepProgress) -> None: ...

    def on_epoch(self, record: EpochRecord) -> None: ...


@runtime_checkable
class TraceSink(Protocol):
    """A sink that also takes gap-trace points (the loop sends them only to sinks that have ``on_trace``)."""

    def on_trace(self, point: GapTracePoint) -> None: ...


class NullSink:
    """A sink that drops everything."""

    def on_step(self, progress: StepProgress) -> None:
        pass

    def on_epoch(self, record: EpochRecord) -> None:
        pass
