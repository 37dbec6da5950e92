"""RunStore: the record of every run, one directory each under ``$GAPVIZ_HOME/runs/<run_id>/``.

Layout: config.json, status.json, meta.json (name, tags, group), metrics.jsonl (one row per
epoch), epochs/NNN.npz (fp16 embeddings of both modalities + 2-D projections), checkpoints/
(last.pt for resuming, epoch_NNN.pt model weights). Every write is atomic (temp file, fsync,
rename), so a killed worker leaves every finished epoch readable.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from gapviz.config import RunConfig
from gapviz.errors import GapvizError
from gapviz.fsio import atomic_write_bytes, atomic_write_json, json_default
from gapviz.runs.records import EpochRecord, RunState

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")
DEFAULT_HOME = Path("~/.gapviz")


class StoreError(GapvizError):
    """A run that does not exist, a bad run id, or an unreadable run directory."""


def gapviz_home(override: str | Path | None = None) -> Path:
    """The data folder: ``override``, else $GAPVIZ_HOME, else ~/.gapviz."""
    raw = override or os.environ.get("GAPVIZ_HOME") or DEFAULT_HOME
    return Path(raw).expanduser().resolve()


def new_run_id() -> str:
    """Sortable, unique: UTC time plus random hex."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class RunSummary:
    """One line of `gapviz runs list`."""

    run_id: str
    name: str
    state: str
    epochs_done: int
    epochs_total: int
    created_at: float
    group: str
    tags: tuple[str, ...]
    last_metrics: dict[str, float]


class RunStore:
    """Create, append to, read, list, delete and export runs under ``home/runs``."""

    def __init__(self, home: str | Path | None = None):
        self.home = gapviz_home(home)
        self.runs_dir = self.home / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)

    # ---- paths -------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        if not RUN_ID_PATTERN.match(run_id or ""):
            raise StoreError(f"invalid run id {run_id!r}")
        return self.runs_dir / run_id

    def existing_run_dir(self, run_id: str) -> Path:
        path = self.run_dir(run_id)
        if not (path / "config.json").is_file():
            raise StoreError(f"no run {run_id!r} in {self.runs_dir}")
        return path

    def checkpoint_dir(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "checkpoints"

    def epoch_checkpoint(self, run_id: str, epoch: int = -1) -> Path:
        """The model weights saved after ``epoch`` (-1: the newest one kept)."""
        folder = self.existing_run_dir(run_id) / "checkpoints"
        kept = sorted(folder.glob("epoch_*.pt"))
        if not kept:
            raise StoreError(f"run {run_id} has no saved checkpoint")
        if epoch < 0:
            return kept[-1]
        path = folder / f"epoch_{epoch:03d}.pt"
        if not path.is_file():
            available = ", ".join(str(int(p.stem.split("_")[1])) for p in kept)
            raise StoreError(f"run {run_id} has no checkpoint for epoch {epoch}; kept epochs: {available}")
        return path

    # ---- writing -----------------------------------------------------------------------
    def create(self, cfg: RunConfig, *, group: str = "", tags: tuple[str, ...] = (), run_id: str | None = None) -> str:
        run_id = run_id or new_run_id()
        path = self.run_dir(run_id)
        if path.exists():
            raise StoreError(f"run {run_id} already exists")
        (path / "epochs").mkdir(parents=True)
        atomic_write_bytes(path / "config.json", (cfg.to_json() + "\n").encode())
        atomic_write_json(path / "meta.json", {"name": cfg.name or run_id, "group": group, "tags": list(tags)})
        now = time.time()
        atomic_write_json(path / "status.json", {"state": RunState.CREATED.value, "created_at": now, "updated_at": now})
        return run_id

    def update_status(self, run_id: str, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into status.json (state may be a RunState)."""
        status = self.status(run_id)
        for key, value in fields.items():
            status[key] = value.value if isinstance(value, RunState) else value
        status["updated_at"] = time.time()
        atomic_write_json(self.run_dir(run_id) / "status.json", status)
        return status

    def update_meta(self, run_id: str, **fields: Any) -> dict[str, Any]:
        """Rename, tag or group a run."""
        meta = self.meta(run_id)
        meta.update({k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()})
        atomic_write_json(self.run_dir(run_id) / "meta.json", meta)
        return meta

    def append_epoch(self, run_id: str, record: EpochRecord) -> None:
        """Save one epoch's arrays, then its metrics row (the row is what marks the epoch done)."""
        path = self.existing_run_dir(run_id)
        arrays: dict[str, np.ndarray] = {
            "image": record.image_embeddings.astype(np.float16),
            "text": record.text_embeddings.astype(np.float16),
            "text_image_index": record.text_image_index.astype(np.int32),
        }
        for method, coords in record.projections.items():
            arrays[f"proj_{method}"] = coords.astype(np.float32)
        if record.labels is not None:
            arrays["labels"] = record.labels.astype(np.int32)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(path / "epochs" / f"{record.epoch:03d}.npz", buffer.getvalue())
        if record.captions is not None and not (path / "captions.json").exists():
            atomic_write_json(path / "captions.json", record.captions)
        rows = [row for row in self.metrics(run_id) if row["epoch"] != record.epoch]
        rows.append(record.metrics_row())
        rows.sort(key=lambda row: row["epoch"])
        body = "".join(json.dumps(row, default=json_default) + "\n" for row in rows)
        atomic_write_bytes(path / "metrics.jsonl", body.encode())

    def truncate_epochs(self, run_id: str, after_epoch: int) -> None:
        """Forget epochs after ``after_epoch`` (a resumed run re-does them)."""
        path = self.existing_run_dir(run_id)
        rows = [row for row in self.metrics(run_id) if row["epoch"] <= after_epoch]
        atomic_write_bytes(path / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
        for npz in (path / "epochs").glob("*.npz"):
            if int(npz.stem) > after_epoch:
                npz.unlink()

    # ---- reading -----------------------------------------------------------------------
    def config(self, run_id: str) -> RunConfig:
        return RunConfig.from_json((self.existing_run_dir(run_id) / "config.json").read_text())

    def status(self, run_id: str) -> dict[str, Any]:
        return self._read_json(self.existing_run_dir(run_id) / "status.json")

    def state(self, run_id: str) -> RunState:
        return RunState(self.status(run_id)["state"])

    def meta(self, run_id: str) -> dict[str, Any]:
        return self._read_json(self.existing_run_dir(run_id) / "meta.json")

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        path = self.existing_run_dir(run_id) / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def epochs(self, run_id: str) -> list[int]:
        return [int(row["epoch"]) for row in self.metrics(run_id)]

    def epoch_arrays(self, run_id: str, epoch: int) -> dict[str, np.ndarray]:
        """Embeddings and projections saved for ``epoch`` (keys: image, text, text_image_index, proj_*)."""
        path = self.existing_run_dir(run_id) / "epochs" / f"{epoch:03d}.npz"
        if not path.is_file():
            raise StoreError(f"run {run_id} has no saved epoch {epoch}")
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}

    def captions(self, run_id: str) -> list[str]:
        path = self.existing_run_dir(run_id) / "captions.json"
        return json.loads(path.read_text()) if path.exists() else []

    def _read_json(self, path: Path) -> dict[str, Any]:
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise StoreError(f"cannot read {path}: {error}") from None

    def run_ids(self) -> list[str]:
        """Every run id, newest first."""
        ids = [p.name for p in self.runs_dir.iterdir() if (p / "config.json").is_file()]
        return sorted(ids, reverse=True)

    def summaries(self) -> Iterator[RunSummary]:
        for run_id in self.run_ids():
            try:
                yield self.summary(run_id)
            except (StoreError, ValueError):
                continue

    def summary(self, run_id: str) -> RunSummary:
        status, meta, cfg, rows = self.status(run_id), self.meta(run_id), self.config(run_id), self.metrics(run_id)
        last = {k: v for k, v in (rows[-1] if rows else {}).items() if isinstance(v, (int, float))}
        return RunSummary(
            run_id=run_id,
            name=meta.get("name", run_id),
            state=status.get("state", "unknown"),
            epochs_done=max((int(r["epoch"]) for r in rows), default=-1),
            epochs_total=cfg.train.epochs,
            created_at=float(status.get("created_at", 0.0)),
            group=meta.get("group", ""),
            tags=tuple(meta.get("tags", ())),
            last_metrics=last,
        )

    def describe(self, run_id: str) -> dict[str, Any]:
        """Everything `gapviz runs show --json` prints: state, status, meta, config, per-epoch metrics."""
        status = self.status(run_id)
        return {
            "run_id": run_id,
            "state": status.get("state"),
            "status": status,
            "meta": self.meta(run_id),
            "config": self.config(run_id).to_dict(),
            "epochs": self.metrics(run_id),
        }

    # ---- removing and exporting -------------------------------------------------------
    def delete(self, run_id: str) -> None:
        shutil.rmtree(self.existing_run_dir(run_id))

    def export(self, run_id: str, dest: str | Path) -> list[Path]:
        """Write metrics.csv, embeddings.npz (every epoch, keys eNNN_image...) and config.json to ``dest``."""
        dest = Path(dest).expanduser().resolve()
        dest.mkdir(parents=True, exist_ok=True)
        rows = self.metrics(run_id)
        columns = list(dict.fromkeys(key for row in rows for key in row))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        written = [dest / f"{run_id}_metrics.csv", dest / f"{run_id}_embeddings.npz", dest / f"{run_id}_config.json"]
        atomic_write_bytes(written[0], text.getvalue().encode())
        arrays = {
            f"e{epoch:03d}_{key}": value for epoch in self.epochs(run_id) for key, value in self.epoch_arrays(run_id, epoch).items()
        }
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(written[1], buffer.getvalue())
        shutil.copyfile(self.existing_run_dir(run_id) / "config.json", written[2])
        return written
