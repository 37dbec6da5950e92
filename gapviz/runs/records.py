"""What a training run emits: step progress and one EpochRecord per epoch, and the sink that takes them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Protocol

import numpy as np


class RunState(str, Enum):
    """Life cycle of a run, as stored in status.json and reported by the CLI and app."""

    CREATED = "created"
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def is_terminal(self) -> bool:
        return self in (RunState.FINISHED, RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED)


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


class TrainSink(Protocol):
    """Receives what the training loop emits; the CLI, the worker and tests each wire their own."""

    def on_step(self, progress: StepProgress) -> None: ...

    def on_epoch(self, record: EpochRecord) -> None: ...


class NullSink:
    """A sink that drops everything."""

    def on_step(self, progress: StepProgress) -> None:
        pass

    def on_epoch(self, record: EpochRecord) -> None:
        pass
