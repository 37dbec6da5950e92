"""Checkpoint save and load: the only code that writes or reads a run's .pt files.

File names come from :class:`gapviz.runs.store.CheckpointFiles` (the RunStore's). ``last.pt`` holds
everything resume needs; ``epoch_NNN.pt`` the model weights alone, loadable by open_clip as a local
checkpoint. Writes are atomic (gapviz.fsio), loads use ``weights_only=True`` (no pickle runs).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch

from gapviz.fsio import atomic_write_bytes
from gapviz.runs.store import CheckpointFiles, StoreError
from gapviz.training.setup import TrainingSetup


def save_checkpoint(
    files: CheckpointFiles,
    setup: TrainingSetup,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    global_step: int,
    previous: dict[str, np.ndarray],
    position: int | None = None,
) -> None:
    """Write epoch_NNN.pt, then last.pt, then drop epoch files beyond ``train.keep_epoch_checkpoints``.

    With ``position`` (a shard stream's samples read in the unfinished epoch after ``epoch``) it is a mid-epoch
    checkpoint: last.pt alone, recording the position; epoch files keep the weights of finished epochs."""
    if position is None:
        weights = {"state_dict": setup.model.state_dict(), "epoch": epoch, "model_name": setup.cfg.model.name}
        atomic_write_bytes(files.epoch(epoch), _torch_bytes(weights))
    full = {
        "state_dict": setup.model.state_dict(),
        "temperature": setup.temperature.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "global_step": global_step,
        "projections": {k: torch.from_numpy(v) for k, v in previous.items()},
        "position": position or 0,
    }
    atomic_write_bytes(files.last, _torch_bytes(full))
    files.prune(setup.cfg.train.keep_epoch_checkpoints)


def _torch_bytes(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _read(path: Any, device: Any) -> dict[str, Any]:
    """torch.load with weights only; a corrupt or truncated file is gapviz's one-line StoreError, never PyTorch's
    advice to load it with weights_only=False (which would run code from the file)."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # noqa: BLE001 - pickle, zip, EOF and runtime errors all mean an unreadable file
        raise StoreError(
            f"cannot read checkpoint {path}: corrupt or truncated ({type(error).__name__}); delete it to train the run "
            "again from the start"
        ) from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise StoreError(f"cannot read checkpoint {path}: not a gapviz checkpoint")
    return state


def load_checkpoint(
    files: CheckpointFiles, setup: TrainingSetup, optimizer: torch.optim.Optimizer
) -> tuple[int, int, dict[str, np.ndarray], int]:
    """Restore model, temperature and optimiser from last.pt; returns (epoch, global step, projections, stream
    position: samples a shard stream had read in the epoch after ``epoch``, 0 for an epoch-end checkpoint)."""
    state = _read(files.last, setup.device)
    setup.model.load_state_dict(state["state_dict"])
    setup.temperature.load_state_dict(state["temperature"])
    optimizer.load_state_dict(state["optimizer"])
    previous = {k: v.cpu().numpy() for k, v in state["projections"].items()}
    return int(state["epoch"]), int(state["global_step"]), previous, int(state.get("position", 0))


def checkpoint_epoch(files: CheckpointFiles) -> int | None:
    """The epoch of the resumable checkpoint, if there is one."""
    if not files.last.is_file():
        return None
    return int(_read(files.last, "cpu")["epoch"])
