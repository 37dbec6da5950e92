"""The run-summary index: listing runs costs what changed since the last listing, not what exists.

The run folders stay the record; the index is a cache of their summaries that can always be rebuilt
(`gapviz runs reindex`). It is built for a shared network folder (NFS), where SQLite's and ``flock``'s locking
cannot be trusted, from the three operations that are atomic there too:

- ``index/summaries.json`` (one file) holds every run's summary. It is replaced by write-then-rename only.
- Every store write that changes a summary creates a new, uniquely named marker ``index/changed/<run_id>~<uid>``
  (exclusive create, one writer per name), after the write lands. A lister reads the one folder of markers and
  re-reads only those runs, plus runs whose summary can change with time alone (queued or running: a dead
  heartbeat reads as abandoned) and unreadable ones (a hand-repaired file writes no marker).
- Runs added or removed without the store (a copied or deleted folder) are found by comparing the names in
  ``runs/`` (one directory read, no file opened) with the index.
- Folding the markers into ``summaries.json`` (at ``FOLD_AT`` pending changes, or once the snapshot is
  ``FOLD_AFTER_S`` old: one change does not rewrite ten thousand summaries) happens under a lock that is a
  directory made with ``mkdir`` (atomic on NFS), taken without waiting: a lister that does not get it merges
  in memory only. The holder deletes just the markers it read, so a marker written meanwhile is kept for the
  next lister; a lock left by a killed lister is broken after ``STALE_LOCK_S``.

Warm, a listing stats the snapshot (parsed again only when another process replaced it) and reads two folders,
plus one run's files per pending change and per active run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from gapviz.fsio import atomic_write_json, json_default, private_dir

INDEX_VERSION = 1
STALE_LOCK_S = 60.0
"""A merge lock older than this is left by a killed lister and is broken."""
MARK_SEPARATOR = "~"
FOLD_AT = 32
"""Changes (markers, runs added or removed) that make a lister rewrite the snapshot at once; fewer are re-read
from their folders on each listing until the snapshot is FOLD_AFTER_S old, so a listing after one change does
not rewrite every run's summary."""
FOLD_AFTER_S = 30.0

Summary = dict[str, Any]
"""One run's summary as plain JSON (RunStore turns it into a RunSummary)."""
_PARSED: dict[Path, tuple[Any, dict[str, Summary]]] = {}
"""Snapshot file -> (its stamp, its runs): a process lists again without parsing an unchanged snapshot."""


class SummaryIndex:
    """The index of ``runs_dir``'s summaries under ``folder``; ``read_summary(run_id)`` reads one run's files."""

    def __init__(
        self,
        folder: Path,
        runs_dir: Path,
        read_summary: Callable[[str], Summary],
        is_run: Callable[[str], bool],
        schema: str = "",
    ):
        """``schema`` names the summaries' shape (their fields, the settings a config has): a snapshot written
        under another one, by an older or newer gapviz, is rebuilt rather than served without the new fields."""
        self.folder, self.runs_dir = folder, runs_dir
        self.read_summary, self.is_run, self.schema = read_summary, is_run, schema
        self.snapshot_file = folder / "summaries.json"
        self.changed_dir = folder / "changed"
        self.lock_dir = folder / "merging.lock"

    # ---- writers -----------------------------------------------------------------------------
    def changed(self, run_id: str) -> None:
        """Mark ``run_id`` as changed (called by the store after each write that a summary shows)."""
        with contextlib.suppress(OSError):
            if not self.changed_dir.is_dir():
                private_dir(self.changed_dir, root=self.folder.parent)
            name = f"{run_id}{MARK_SEPARATOR}{uuid.uuid4().hex[:12]}"
            os.close(os.open(self.changed_dir / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))

    # ---- readers -----------------------------------------------------------------------------
    def summaries(self) -> dict[str, Summary]:
        """Every run's summary, current: the snapshot with changed, active, new and vanished runs folded in."""
        return self.versioned()[0]

    def versioned(self) -> tuple[dict[str, Summary], str]:
        """The summaries and their version: a digest of the snapshot's identity, the runs gone from it and the
        rows re-read from their folders, so it changes whenever the summaries do (pages cache per version)."""
        stamp = self._stamp()
        snapshot = self._read_snapshot(stamp)
        if snapshot is None:
            return self.rebuild(), uuid.uuid4().hex
        marks = self._marks()
        folders = self._folders()
        stale = {run_id for run_id, _ in marks} | (folders - snapshot.keys())
        stale |= {run_id for run_id, row in snapshot.items() if row.get("volatile")}
        merged = {run_id: row for run_id, row in snapshot.items() if run_id in folders}
        reread = {run_id: self.read_summary(run_id) for run_id in sorted(stale & folders)}
        merged.update(reread)
        gone = sorted(snapshot.keys() - folders)
        body = json.dumps([stamp, gone, reread], sort_keys=True, default=json_default).encode()
        pending = len(marks) + len(merged.keys() ^ snapshot.keys())
        if pending and (pending >= FOLD_AT or self._age(stamp) >= FOLD_AFTER_S):
            self._fold(merged, marks, stamp)
        return merged, hashlib.blake2b(body, digest_size=12).hexdigest()

    def rebuild(self) -> dict[str, Summary]:
        """Every run's summary read from its folder, written as the new snapshot (`gapviz runs reindex`)."""
        marks = self._marks()
        merged = {run_id: self.read_summary(run_id) for run_id in sorted(self._folders())}
        self._fold(merged, marks, None)
        return merged

    def _folders(self) -> set[str]:
        try:
            with os.scandir(self.runs_dir) as entries:
                return {entry.name for entry in entries if self.is_run(entry.name) and entry.is_dir()}
        except FileNotFoundError:
            return set()

    def _marks(self) -> list[tuple[str, str]]:
        """(run id, marker name) of every change marker now present."""
        try:
            with os.scandir(self.changed_dir) as entries:
                names = [entry.name for entry in entries]
        except FileNotFoundError:
            return []
        return [(name.split(MARK_SEPARATOR, 1)[0], name) for name in names if MARK_SEPARATOR in name]

    def _read_snapshot(self, stamp: Any) -> dict[str, Summary] | None:
        """The snapshot's runs (parsed once per version of the file in this process), or None if unusable."""
        cached = _PARSED.get(self.snapshot_file)
        if stamp is not None and cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            data = json.loads(self.snapshot_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("runs"), dict):
            return None
        if data.get("version") != INDEX_VERSION or data.get("schema", "") != self.schema:
            return None
        _PARSED[self.snapshot_file] = (stamp, data["runs"])
        return data["runs"]

    # ---- folding -----------------------------------------------------------------------------
    def _stamp(self) -> tuple[int, int, int] | None:
        """Identity of the snapshot file now (a rename by another lister changes it)."""
        try:
            info = self.snapshot_file.stat()
        except OSError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    @staticmethod
    def _age(stamp: Any) -> float:
        """Seconds since the snapshot was written (its stamp holds the mtime in ns)."""
        return time.time() - stamp[1] / 1e9 if stamp is not None else math.inf

    def _fold(self, merged: dict[str, Summary], marks: list[tuple[str, str]], stamp: Any) -> None:
        """Write ``merged`` as the snapshot and delete the markers it includes, if the lock is free and no other
        lister replaced the snapshot since this one read it (its fold may hold changes whose markers are gone);
        ``stamp`` None (a rebuild) writes regardless."""
        with self._lock() as held:
            if not held or (stamp is not None and self._stamp() != stamp):
                return
            with contextlib.suppress(OSError):
                snapshot = {"version": INDEX_VERSION, "schema": self.schema, "runs": merged}
                body = json.loads(json.dumps(snapshot, default=json_default))
                atomic_write_json(self.snapshot_file, body)
                _PARSED[self.snapshot_file] = (self._stamp(), body["runs"])
                for _, name in marks:
                    with contextlib.suppress(FileNotFoundError):
                        (self.changed_dir / name).unlink()

    @contextlib.contextmanager
    def _lock(self) -> Iterator[bool]:
        """The merge lock, without waiting: yields whether this process holds it."""
        try:
            if not self.folder.is_dir():
                private_dir(self.folder, root=self.folder.parent)
            self._break_stale_lock()
            self.lock_dir.mkdir(mode=0o700)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            with contextlib.suppress(OSError):
                self.lock_dir.rmdir()

    def _break_stale_lock(self) -> None:
        with contextlib.suppress(OSError):
            if time.time() - self.lock_dir.stat().st_mtime > STALE_LOCK_S:
                self.lock_dir.rmdir()
