"""RunStore: the record of every run, one directory each under ``$GAPVIZ_HOME/runs/<run_id>/``.

Layout (every name is this module's; nothing outside it builds a path inside a run folder):
config.json, status.json (a RunStatus, written only by the transition methods below, under the lock
file .status.lock), meta.json
(name, tags, group), metrics.jsonl (one row per epoch), gap_trace.jsonl (beta and the gap every few
steps), heartbeat (touched while the run trains), epochs/NNN.npz (fp16 embeddings of both
modalities + 2-D projections), captions.json, checkpoints/ (last.pt for resuming, epoch_NNN.pt
model weights). Every write is atomic (temp file, fsync, rename), so a killed worker leaves every
finished epoch readable.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import socket
import time
import traceback as traceback_module
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock (one writer per run in practice)
    fcntl = None  # type: ignore[assignment]

from gapviz.config import RunConfig, flatten, label_problem
from gapviz.errors import GapvizError, describe
from gapviz.fsio import (
    DIR_MODE,
    atomic_write_bytes,
    atomic_write_json,
    json_default,
    private_dir,
    remove_stale_temp_files,
)
from gapviz.runs.index import SummaryIndex
from gapviz.runs.records import EpochRecord, GapTracePoint, RunState, RunStatus

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


def _is_run_id(name: str) -> bool:
    return bool(RUN_ID_PATTERN.match(name))


@functools.cache
def summary_schema() -> str:
    """A digest of a summary's fields and a config's settings: it changes when gapviz adds either, so the index
    is rebuilt after an upgrade instead of listing old rows without the new settings."""
    fields = [f.name for f in dataclasses.fields(RunSummary)] + sorted(flatten(RunConfig().to_dict()))
    return hashlib.sha256("\n".join(fields).encode()).hexdigest()[:16]


DEFAULT_HOME = Path("~/.gapviz")
HEARTBEAT_INTERVAL_S = 5.0
"""A run in training touches its heartbeat file this often (queued or foreground alike)."""
STALE_AFTER_S = 30.0
"""A foreground run whose heartbeat is older than this is abandoned: the same bound as a queued run's
(RQ heartbeat TTL 20 s + reaper interval 10 s, gapviz.queue.client)."""
FOREGROUND_ABANDONED = (
    "process {pid} on {host} stopped responding (killed or crashed) - "
    "`gapviz resume {run_id}` continues from the last checkpoint"
)
GAP_TRACE_KEYS = ("step", "epoch", "tau", "beta", "gap_distance")
PROJECTION_PREFIX = "proj_"
TEMP_SUFFIX = ".tmp"


class StoreError(GapvizError):
    """A run that does not exist, a bad run id, or an unreadable run directory."""


def check_labels(name: str, tags: Iterable[str]) -> None:
    """Raise StoreError (one line) when the run name or a tag is too long or holds a control character."""
    for path, text in [("name", str(name))] + [("tag", str(tag)) for tag in tags]:
        problem = label_problem(path, text)
        if problem is not None:
            raise StoreError(f"run {problem}")


UNREADABLE = RunState.UNREADABLE
"""The state a run summary shows when its files cannot be read (never stored in status.json); an alias."""


def _reason(error: BaseException) -> str:
    """One line about why a file could not be read: StoreError's own text, else the error's type and message."""
    if isinstance(error, StoreError):
        return str(error)
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)
"""What reading a run's file raises when the file is corrupt or truncated (JSON and Unicode errors are ValueErrors)."""


@contextlib.contextmanager
def reading(path: str | Path, errors: tuple[type[BaseException], ...] = READ_ERRORS) -> Iterator[None]:
    """Turn ``errors`` raised while reading ``path`` into one-line StoreErrors naming it."""
    try:
        yield
    except errors as error:
        raise StoreError(f"cannot read {path}: {_reason(error)}") from None


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every member of a run's .npz file, read in one opening; an unreadable file is a StoreError naming it."""
    with reading(path), np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def npz_keys(path: str | Path) -> list[str]:
    """The member names of a run's .npz file; an unreadable one is a StoreError naming it."""
    with reading(path), np.load(path, allow_pickle=False) as data:
        return list(data.files)


def npz_member(path: str | Path, key: str) -> np.ndarray | None:
    """One member of a run's .npz file (None when absent); an unreadable one is a StoreError naming it."""
    with reading(path), np.load(path, allow_pickle=False) as data:
        return data[key] if key in data.files else None


def gapviz_home(override: str | Path | None = None) -> Path:
    """The data folder: ``override``, else $GAPVIZ_HOME, else ~/.gapviz."""
    raw = override or os.environ.get("GAPVIZ_HOME") or DEFAULT_HOME
    return Path(raw).expanduser().resolve()


def new_run_id() -> str:
    """Sortable, unique: UTC time plus random hex."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class RunSummary:
    """One line of `gapviz runs list`."""

    run_id: str
    name: str
    state: RunState
    epochs_done: int
    epochs_total: int
    created_at: float
    group: str
    tags: tuple[str, ...]
    last_metrics: dict[str, float]
    problem: str = ""
    """Why the run is UNREADABLE (its file and the reason); empty for a readable run."""
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    """The run's config as dotted settings (``config.flatten``), so a listing filters by setting without reading
    configs."""

    def to_row(self) -> dict[str, Any]:
        """Plain JSON for the summary index (``volatile``: the summary may change with no write, so it is re-read)."""
        row = dataclasses.asdict(self)
        row["state"], row["tags"] = self.state.value, list(self.tags)
        row["volatile"] = self.state in RunState.ACTIVE or self.state in (RunState.CREATED, UNREADABLE)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunSummary:
        """The summary an index row holds (the inverse of :meth:`to_row`)."""
        fields = {f.name: row[f.name] for f in dataclasses.fields(cls) if f.name in row}
        fields["state"], fields["tags"] = RunState(row["state"]), tuple(row.get("tags", ()))
        return cls(**fields)


@dataclass(frozen=True)
class CheckpointFiles:
    """The checkpoint files of one run: what the training loop writes and resume reads (no torch here)."""

    folder: Path

    @property
    def last(self) -> Path:
        """Everything resume needs (model, temperature, optimiser, step, projections)."""
        return self.folder / "last.pt"

    def epoch(self, epoch: int) -> Path:
        """Model weights after ``epoch``, loadable by open_clip as a local checkpoint."""
        return self.folder / f"epoch_{epoch:03d}.pt"

    def kept_epochs(self) -> list[int]:
        """Epochs whose weights are kept, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(int(p.stem.split("_")[1]) for p in self.folder.glob("epoch_[0-9]*.pt"))

    def prune(self, keep: int) -> None:
        """Keep the newest ``keep`` epoch files (-1: all)."""
        if keep < 0:
            return
        kept = self.kept_epochs()
        for epoch in kept[: len(kept) - keep]:
            self.epoch(epoch).unlink(missing_ok=True)


class RunStore:
    """Create, append to, read, list, delete and export runs under ``home/runs``."""

    def __init__(self, home: str | Path | None = None):
        self.home = gapviz_home(home)
        self.runs_dir = self.home / "runs"
        private_dir(self.runs_dir, root=self.home)
        self.index = SummaryIndex(
            self.home / "index",
            self.runs_dir,
            lambda run_id: self.summary_or_unreadable(run_id).to_row(),
            _is_run_id,
            summary_schema(),
        )

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
        return self.checkpoint_files(run_id).folder

    def checkpoint_files(self, run_id: str) -> CheckpointFiles:
        """Names of the run's checkpoints (for the training loop and gapviz.training.checkpoint)."""
        return CheckpointFiles(self.run_dir(run_id) / "checkpoints")

    def resume_checkpoint(self, run_id: str) -> Path | None:
        """The checkpoint a resume continues from, or None when the run saved none yet."""
        path = self.checkpoint_files(self.existing_run_dir(run_id).name).last
        return path if path.is_file() else None

    def checkpoint_epochs(self, run_id: str) -> list[int]:
        """Epochs whose model weights are kept (``train.keep_epoch_checkpoints``), oldest first."""
        return self.checkpoint_files(self.existing_run_dir(run_id).name).kept_epochs()

    def epoch_checkpoint(self, run_id: str, epoch: int = -1) -> Path:
        """The model weights saved after ``epoch`` (-1: the newest one kept)."""
        files = self.checkpoint_files(self.existing_run_dir(run_id).name)
        kept = files.kept_epochs()
        if not kept:
            raise StoreError(f"run {run_id} has no saved checkpoint")
        if epoch < 0:
            return files.epoch(kept[-1])
        if epoch not in kept:
            available = ", ".join(str(e) for e in kept)
            raise StoreError(f"run {run_id} has no checkpoint for epoch {epoch}; kept epochs: {available}")
        return files.epoch(epoch)

    def check_references(self, cfg: RunConfig) -> None:
        """Refuse a config whose init_run, data file or image folder does not exist, as training would, before
        any run is created (``gapviz train`` and ``gapviz submit`` alike). A parent run still created, queued or
        running need not have its checkpoint yet; any other must."""
        from gapviz.data.loader import check_paths

        if cfg.model.init_run:
            self.existing_run_dir(cfg.model.init_run)
            if self.state(cfg.model.init_run) not in {*RunState.ACTIVE, RunState.CREATED}:
                self.epoch_checkpoint(cfg.model.init_run, cfg.model.init_epoch)
        check_paths(cfg.data)

    def epoch_file(self, run_id: str, epoch: int) -> Path:
        """The .npz of one evaluated epoch (it may not exist yet)."""
        return self.run_dir(run_id) / "epochs" / f"{int(epoch):03d}.npz"

    def record_files(self, run_id: str) -> list[Path]:
        """The files whose change means the run changed (metrics, status, meta): cache keys of the app."""
        folder = self.run_dir(run_id)
        return [folder / "metrics.jsonl", folder / "status.json", folder / "meta.json"]

    @staticmethod
    def projection_key(method: str) -> str:
        """The key of a 2-D projection in an epoch's arrays."""
        return PROJECTION_PREFIX + method

    @staticmethod
    def projections(arrays: dict[str, np.ndarray] | Iterable[str]) -> dict[str, Any]:
        """Method -> coordinates of an epoch's arrays (given only keys: method -> key)."""
        if isinstance(arrays, dict):
            return {k[len(PROJECTION_PREFIX) :]: v for k, v in arrays.items() if k.startswith(PROJECTION_PREFIX)}
        return {k[len(PROJECTION_PREFIX) :]: k for k in arrays if k.startswith(PROJECTION_PREFIX)}

    def _heartbeat_file(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "heartbeat"

    def _gap_trace_file(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "gap_trace.jsonl"

    # ---- writing -----------------------------------------------------------------------
    def create(self, cfg: RunConfig, *, group: str = "", tags: tuple[str, ...] = (), run_id: str | None = None) -> str:
        run_id = run_id or new_run_id()
        check_labels(cfg.name, tags)
        path = self.run_dir(run_id)
        if path.exists():
            raise StoreError(f"run {run_id} already exists")
        path.mkdir(mode=DIR_MODE)
        (path / "epochs").mkdir(mode=DIR_MODE)
        atomic_write_bytes(path / "config.json", (cfg.to_json() + "\n").encode())
        atomic_write_json(path / "meta.json", {"name": cfg.name or run_id, "group": group, "tags": list(tags)})
        now = time.time()
        self._write_status(run_id, RunStatus(state=RunState.CREATED, created_at=now, updated_at=now))
        return run_id

    # ---- status transitions: the only writers of status.json ---------------------------
    def queued(self, run_id: str, *, job_id: str, queue_name: str, resume: bool = False, note: str = "") -> RunStatus:
        """Submitted to ``queue_name`` as RQ job ``job_id``."""
        return self._change(
            run_id,
            state=RunState.QUEUED,
            job_id=job_id,
            queue=queue_name,
            queued_at=time.time(),
            resume=resume,
            cancel_requested=False,
            note=note,
        )

    def running(self, run_id: str, *, worker: str = "") -> RunStatus:
        """Training starts in this process (a resume clears the error and ``abandoned`` of the last try). A
        cancel asked for while the run was queued is kept, so it stops at its first step."""
        self.beat(run_id)
        return self._update(
            run_id,
            lambda status: status.replace(
                state=RunState.RUNNING,
                started_at=time.time(),
                finished_at=None,
                host=socket.gethostname(),
                pid=os.getpid(),
                worker=worker,
                error=None,
                traceback=None,
                abandoned=False,
                cancel_requested=status.cancel_requested and status.state == RunState.QUEUED,
            ),
        )

    def finished(self, run_id: str, epochs_done: int) -> RunStatus:
        """Every epoch trained and recorded."""
        return self._change(
            run_id,
            state=RunState.FINISHED,
            finished_at=time.time(),
            epoch=epochs_done,
            error=None,
            traceback=None,
            abandoned=False,
        )

    def failed(self, run_id: str, error: str, traceback: str | None = None) -> RunStatus:
        """Training raised ``error`` (a one-line message; ``traceback`` for the curious)."""
        return self._change(run_id, state=RunState.FAILED, finished_at=time.time(), error=error, traceback=traceback)

    def record_exception(self, run_id: str, error: BaseException) -> RunState:
        """The one failure recorder (the worker's job and the foreground runner): Ctrl-C or a shutdown is
        INTERRUPTED; anything else is FAILED with its one-line message and traceback, unless a failure with a
        traceback is already recorded (the runner's, seen again by the job). A vanished run records nothing."""
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            self.interrupted(run_id)
            return RunState.INTERRUPTED
        try:
            status = self.status(run_id)
        except StoreError:
            return RunState.FAILED
        if status.state != RunState.FAILED or not status.traceback:
            self.failed(run_id, describe(error), "".join(traceback_module.format_exception(error)))
        return RunState.FAILED

    def interrupted(self, run_id: str, note: str = "") -> RunStatus:
        """Stopped by a shutdown (Ctrl-C, a worker stopping); resumable from its last checkpoint."""
        return self._change(
            run_id, state=RunState.INTERRUPTED, finished_at=time.time(), error=None, traceback=None, note=note
        )

    def cancelled(self, run_id: str) -> RunStatus:
        """Cancelled by the user (a running run stops at a step boundary; its finished epochs stay)."""
        return self._change(run_id, state=RunState.CANCELLED, finished_at=time.time(), cancel_requested=True)

    def abandoned(self, run_id: str, message: str) -> RunStatus:
        """The process training the run stopped responding: failed, ``abandoned``, resumable."""
        return self._change(
            run_id, state=RunState.FAILED, abandoned=True, finished_at=time.time(), error=message, traceback=None
        )

    def reverted(self, run_id: str, previous: RunStatus) -> RunStatus:
        """Back to ``previous`` (a submission that could not reach the queue)."""
        return self._change(
            run_id,
            state=previous.state,
            job_id=previous.job_id,
            queue=previous.queue,
            queued_at=previous.queued_at,
            resume=previous.resume,
            cancel_requested=previous.cancel_requested,
            note=previous.note,
        )

    def request_cancel(self, run_id: str) -> RunStatus:
        """Ask the run to stop at its next step: the one stop signal, which the runner's heartbeat thread reads
        from status.json whether the run trains in a worker or in the foreground."""
        return self._change(run_id, cancel_requested=True)

    def record_progress(self, run_id: str, progress: dict[str, Any]) -> RunStatus:
        """The newest step (written every few seconds by the runner)."""
        return self._change(run_id, progress=progress)

    def _change(self, run_id: str, **changes: Any) -> RunStatus:
        """Read, change, write status.json under the run's lock (a worker's progress write and a client's
        cancel request never lose each other's fields)."""
        return self._update(run_id, lambda status: status.replace(**changes))

    def _update(self, run_id: str, change: Callable[[RunStatus], RunStatus]) -> RunStatus:
        """status.json read, passed through ``change`` and written, all under the run's lock."""
        with self._status_lock(run_id):
            return self._write_status(run_id, change(self._read_status(run_id)))

    @contextlib.contextmanager
    def _status_lock(self, run_id: str) -> Iterator[None]:
        with open(self.existing_run_dir(run_id) / ".status.lock", "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            yield

    def _write_status(self, run_id: str, status: RunStatus) -> RunStatus:
        status = status.replace(updated_at=time.time())
        atomic_write_json(self.run_dir(run_id) / "status.json", status.to_dict())
        self.index.changed(run_id)
        return status

    # ---- heartbeat ----------------------------------------------------------------------
    def beat(self, run_id: str) -> None:
        """Say the run's process is alive (the runner calls this every HEARTBEAT_INTERVAL_S)."""
        path = self._heartbeat_file(run_id)
        try:
            os.utime(path)
        except FileNotFoundError:
            path.touch()

    def last_beat(self, run_id: str, status: RunStatus) -> float:
        """When the run's process last said it was alive (its start when it never beat)."""
        try:
            return self._heartbeat_file(run_id).stat().st_mtime
        except OSError:
            return float(status.started_at or status.updated_at)

    def _foreground_dead(self, run_id: str, status: RunStatus) -> bool:
        """A running run without a queue job (`gapviz train`, reproduce) whose process is gone or silent."""
        if status.state != RunState.RUNNING or status.job_id:
            return False
        if status.host == socket.gethostname() and status.pid and not _process_alive(status.pid):
            return True
        return time.time() - self.last_beat(run_id, status) > STALE_AFTER_S

    def update_meta(self, run_id: str, **fields: Any) -> dict[str, Any]:
        """Rename, tag or group a run (a name or tag too long or with a control character is refused)."""
        check_labels(fields.get("name", ""), fields.get("tags", ()))
        meta = self.meta(run_id)
        meta.update({k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()})
        atomic_write_json(self.run_dir(run_id) / "meta.json", meta)
        self.index.changed(run_id)
        return meta

    def append_epoch(self, run_id: str, record: EpochRecord) -> None:
        """Save one epoch's arrays, then its metrics row (the row is what marks the epoch done)."""
        path = self.existing_run_dir(run_id)
        arrays: dict[str, Any] = {
            "image": record.image_embeddings.astype(np.float16),
            "text": record.text_embeddings.astype(np.float16),
            "text_image_index": record.text_image_index.astype(np.int32),
        }
        for method, coords in record.projections.items():
            arrays[self.projection_key(method)] = coords.astype(np.float32)
        if record.labels is not None:
            arrays["labels"] = record.labels.astype(np.int32)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(self.epoch_file(run_id, record.epoch), buffer.getvalue())
        if record.captions is not None and not (path / "captions.json").exists():
            atomic_write_json(path / "captions.json", record.captions)
        rows = [row for row in self.metrics(run_id) if row["epoch"] != record.epoch]
        rows.append(record.metrics_row())
        rows.sort(key=lambda row: row["epoch"])
        body = "".join(json.dumps(row, default=json_default) + "\n" for row in rows)
        atomic_write_bytes(path / "metrics.jsonl", body.encode())
        self._change(run_id, epoch=record.epoch, global_step=record.global_step)

    def truncate_epochs(self, run_id: str, after_epoch: int) -> None:
        """Forget epochs (and gap-trace points) after ``after_epoch``: a resumed run re-does them."""
        path = self.existing_run_dir(run_id)
        rows = [row for row in self.metrics(run_id) if row["epoch"] <= after_epoch]
        atomic_write_bytes(path / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
        for npz in (path / "epochs").glob("*.npz"):
            if int(npz.stem) > after_epoch:
                npz.unlink()
        trace = [row for row in self.gap_trace(run_id) if row["epoch"] <= after_epoch]
        atomic_write_bytes(self._gap_trace_file(run_id), "".join(json.dumps(r) + "\n" for r in trace).encode())
        self.index.changed(run_id)

    def append_gap_trace(self, run_id: str, rows: Iterable[dict[str, Any] | GapTracePoint]) -> None:
        """Append points (keys: step, epoch, tau, beta, gap_distance) to the run's gap trace."""
        lines = []
        for row in rows:
            data = row.to_dict() if isinstance(row, GapTracePoint) else dict(row)
            missing = [key for key in GAP_TRACE_KEYS if key not in data]
            if missing:
                raise StoreError(f"gap-trace row without {', '.join(missing)}")
            lines.append(json.dumps({key: data[key] for key in GAP_TRACE_KEYS}, default=json_default) + "\n")
        if not lines:
            return
        # One append of whole lines: a reader sees complete rows (a torn last line after a kill is skipped).
        with open(self._gap_trace_file(self.existing_run_dir(run_id).name), "a", encoding="utf-8") as handle:
            handle.write("".join(lines))

    def remove_temp_files(self, run_id: str) -> list[Path]:
        """Delete temporary files a killed writer left in checkpoints/ and epochs/ (only the trainer writes
        there, so call it when no process trains the run: on start or resume)."""
        folder = self.existing_run_dir(run_id)
        stale = [p for sub in ("checkpoints", "epochs") for p in (folder / sub).glob(f".*{TEMP_SUFFIX}")]
        for path in stale:
            path.unlink(missing_ok=True)
        return sorted({*stale, *remove_stale_temp_files(folder)})

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete every run's ``*.tmp`` files left unmodified for a while (``gapviz up``): killed atomic writes."""
        if not self.runs_dir.is_dir():
            return []
        return remove_stale_temp_files(self.runs_dir)

    # ---- reading -----------------------------------------------------------------------
    def config(self, run_id: str) -> RunConfig:
        path = self.existing_run_dir(run_id) / "config.json"
        with reading(path, (*READ_ERRORS, TypeError, KeyError)):
            return RunConfig.from_json(path.read_text())

    def status(self, run_id: str) -> RunStatus:
        """The run's status; a foreground run whose process died (or went silent) is marked abandoned first."""
        status = self._read_status(run_id)
        if self._foreground_dead(run_id, status):
            message = FOREGROUND_ABANDONED.format(pid=status.pid, host=status.host or "?", run_id=run_id)
            try:
                return self.abandoned(run_id, message)
            except OSError:  # a read-only store: say so without recording it
                return status.replace(state=RunState.FAILED, abandoned=True, error=message)
        return status

    def _read_status(self, run_id: str) -> RunStatus:
        path = self.existing_run_dir(run_id) / "status.json"
        try:
            return RunStatus.from_dict(self._read_json(path))
        except (TypeError, ValueError) as error:
            raise StoreError(f"cannot read {path}: {error}") from None

    def state(self, run_id: str) -> RunState:
        return self.status(run_id).state

    def meta(self, run_id: str) -> dict[str, Any]:
        return self._read_json(self.existing_run_dir(run_id) / "meta.json")

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        """The per-epoch metric rows; a torn last line (a run killed while appending) is left out, any other
        unreadable line is a StoreError naming the file and line."""
        path = self.existing_run_dir(run_id) / "metrics.jsonl"
        if not path.exists():
            return []
        with reading(path):
            lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = []
        for number, line in enumerate(lines, start=1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                if number == len(lines):
                    break
                raise StoreError(f"cannot read {path}: line {number}: {error.msg}") from None
            if not isinstance(row, dict) or "epoch" not in row:
                raise StoreError(f"cannot read {path}: line {number} is not an epoch row")
            rows.append(row)
        return rows

    def epochs(self, run_id: str) -> list[int]:
        return [int(row["epoch"]) for row in self.metrics(run_id)]

    def epoch_arrays(self, run_id: str, epoch: int) -> dict[str, np.ndarray]:
        """Embeddings and projections saved for ``epoch`` (keys: image, text, text_image_index, proj_*)."""
        path = self.epoch_file(self.existing_run_dir(run_id).name, epoch)
        if not path.is_file():
            raise StoreError(f"run {run_id} has no saved epoch {epoch}")
        return read_npz(path)

    def gap_trace(self, run_id: str) -> list[dict[str, Any]]:
        """The run's gap-trace points in step order: dicts with step, epoch, tau, beta, gap_distance."""
        path = self._gap_trace_file(self.existing_run_dir(run_id).name)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        rows = []
        for line in lines:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the torn last line of a killed run
        return rows

    def captions(self, run_id: str) -> list[str]:
        path = self.existing_run_dir(run_id) / "captions.json"
        if not path.exists():
            return []
        with reading(path):
            captions = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(captions, list):
            raise StoreError(f"cannot read {path}: not a list of captions")
        return [str(c) for c in captions]

    def _read_json(self, path: Path) -> dict[str, Any]:
        with reading(path):
            value = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(value, dict):
            raise StoreError(f"cannot read {path}: not a JSON object")
        return value

    def run_ids(self) -> list[str]:
        """Every run folder's id, newest first: broken ones too (summaries shows them as unreadable)."""
        ids = [p.name for p in self.runs_dir.iterdir() if p.is_dir() and RUN_ID_PATTERN.match(p.name)]
        return sorted(ids, reverse=True)

    def summaries(self) -> Iterator[RunSummary]:
        """Every run's summary, newest first, from the summary index (gapviz.runs.index: warm, it re-reads only
        runs that changed or are active); a run whose files cannot be read is UNREADABLE, never left out."""
        return self.versioned_summaries()[0]

    def summaries_version(self) -> str:
        """A key that changes whenever :meth:`summaries` would list something different, for caches of the
        listing."""
        return self.versioned_summaries()[1]

    def versioned_summaries(self) -> tuple[Iterator[RunSummary], str]:
        """:meth:`summaries` (lazy: RunSummary objects are built only when iterated) and their version, from one
        reading of the index, so a cache keyed by the version does not read the index a second time on a miss."""
        rows, version = self.index.versioned()
        return (RunSummary.from_row(rows[run_id]) for run_id in sorted(rows, reverse=True)), version

    def reindex(self) -> int:
        """Rebuild the summary index from the run folders (`gapviz runs reindex`); returns the run count."""
        return len(self.index.rebuild())

    def summary_or_unreadable(self, run_id: str) -> RunSummary:
        """The run's summary, or an UNREADABLE one naming the file and the reason."""
        if not (self.runs_dir / run_id / "config.json").is_file():
            return self.unreadable(run_id, f"{self.runs_dir / run_id / 'config.json'} is missing")
        try:
            return self.summary(run_id)
        except (StoreError, ValueError, TypeError, KeyError) as error:
            return self.unreadable(run_id, _reason(error))

    def unreadable(self, run_id: str, problem: str) -> RunSummary:
        """The summary of a run that cannot be read: its id as name, the mtime of its folder as creation time."""
        path = self.runs_dir / run_id
        created = path.stat().st_mtime if path.exists() else 0.0
        return RunSummary(run_id, run_id, UNREADABLE, -1, 0, created, "", (), {}, problem)

    def summary(self, run_id: str) -> RunSummary:
        status, meta, cfg, rows = self.status(run_id), self.meta(run_id), self.config(run_id), self.metrics(run_id)
        last = {k: v for k, v in (rows[-1] if rows else {}).items() if isinstance(v, (int, float))}
        return RunSummary(
            run_id=run_id,
            name=meta.get("name", run_id),
            state=status.state,
            epochs_done=max((int(r["epoch"]) for r in rows), default=-1),
            epochs_total=cfg.train.epochs,
            created_at=float(status.created_at),
            group=meta.get("group", ""),
            tags=tuple(meta.get("tags", ())),
            last_metrics=last,
            settings=flatten(cfg.to_dict()),
        )

    def describe(self, run_id: str) -> dict[str, Any]:
        """Everything `gapviz runs show --json` prints: state, status, meta, config, per-epoch metrics."""
        status = self.status(run_id)
        return {
            "run_id": run_id,
            "state": status.state.value,
            "status": status.to_dict(),
            "meta": self.meta(run_id),
            "config": self.config(run_id).to_dict(),
            "epochs": self.metrics(run_id),
        }

    # ---- removing and exporting -------------------------------------------------------
    def delete(self, run_id: str) -> None:
        """Remove the run's folder and everything in it (stale temporary files included)."""
        shutil.rmtree(self.existing_run_dir(run_id))
        self.index.changed(run_id)

    def export(self, run_id: str, dest: str | Path) -> list[Path]:
        """Write metrics.csv, embeddings.npz (every epoch, keys eNNN_image...) and config.json to ``dest``."""
        self.config(run_id)  # a corrupt config is refused, not copied
        rows = self.metrics(run_id)
        dest = Path(dest).expanduser().resolve()
        dest.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        columns = list(dict.fromkeys(key for row in rows for key in row))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        written = [dest / f"{run_id}_metrics.csv", dest / f"{run_id}_embeddings.npz", dest / f"{run_id}_config.json"]
        atomic_write_bytes(written[0], text.getvalue().encode())
        arrays: dict[str, Any] = {
            f"e{epoch:03d}_{key}": value
            for epoch in self.epochs(run_id)
            for key, value in self.epoch_arrays(run_id, epoch).items()
        }
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(written[1], buffer.getvalue())
        shutil.copyfile(self.existing_run_dir(run_id) / "config.json", written[2])
        return written
