"""Atomic file writes (readers see the old or the new content, never a partial file), strict JSON, and
owner-only permissions: everything gapviz writes under $GAPVIZ_HOME is 0700 folders and 0600 files."""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

PRIVATE_UMASK = 0o077
"""Group and others get no access to anything a gapviz process creates."""
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_umask() -> None:
    """Add go-rwx to this process's umask (children inherit it): files and folders it creates are the user's only."""
    previous = os.umask(PRIVATE_UMASK)
    os.umask(previous | PRIVATE_UMASK)


def private_dir(path: Path, root: Path | None = None) -> Path:
    """Create ``path`` (and missing parents) 0700; with ``root`` (an ancestor, e.g. the home) every folder from
    ``root`` down to ``path`` is set 0700, else only ``path`` (folders above the home are not ours to change)."""
    path = Path(path)
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    chain = [path]
    if root is not None:
        root = Path(root)
        chain += [parent for parent in path.parents if parent == root or root in parent.parents]
    for folder in chain:
        os.chmod(folder, DIR_MODE)
    return path


def open_private_append(path: Path) -> Any:
    """Open ``path`` for unbuffered binary append, creating it 0600 (its folder 0700) if missing."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    return os.fdopen(fd, "ab", buffering=0)


def tighten_tree(root: Path) -> int:
    """Remove group and other access from ``root`` and everything below it (``chmod -R go-rwx``, symlinks not
    followed) so a home made by an older gapviz or a loose umask becomes private; returns how many entries changed."""
    changed = 0
    paths = [Path(root)]
    for folder, dirs, files in os.walk(root):
        paths.extend(Path(folder) / name for name in dirs + files)
    for path in paths:
        try:
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode) or not mode & 0o077:
                continue
            os.chmod(path, stat.S_IMODE(mode) & ~0o077)
            changed += 1
        except OSError:
            continue  # vanished meanwhile, or not ours
    return changed


TEMP_SUFFIX = ".tmp"
"""The suffix of atomic_write_bytes' temporary files."""
STALE_TEMP_AGE_S = 10.0
"""A temporary file unmodified this long is a dead writer's (a live one writes it within a second)."""


def remove_stale_temp_files(folder: Path, older_than_s: float = STALE_TEMP_AGE_S) -> list[Path]:
    """Delete the regular ``*.tmp`` files under ``folder`` (symlinks not followed) unmodified for ``older_than_s``
    seconds: what atomic writes killed by SIGKILL leave behind. Returns them, sorted."""
    removed = []
    now = time.time()
    for parent, _, names in os.walk(folder, followlinks=False):
        for name in names:
            path = Path(parent) / name
            if not name.endswith(TEMP_SUFFIX):
                continue
            try:
                info = path.lstat()
                if stat.S_ISREG(info.st_mode) and now - info.st_mtime >= older_than_s:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                continue
    return sorted(removed)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so readers see the old or the new content, never a partial one (created 0600)."""
    if not path.parent.is_dir():
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True, default=json_default) + "\n").encode())


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars and arrays."""
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_clean(value: Any) -> Any:
    """``value`` as strict JSON data: numpy scalars and arrays as Python numbers and lists, NaN/inf as None,
    tuples as lists, mapping keys as strings."""
    if isinstance(value, Mapping):
        return {str(k): json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_clean(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy (and torch) scalars and arrays
        return json_clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
