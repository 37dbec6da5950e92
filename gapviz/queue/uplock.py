"""One `gapviz up` per home: an exclusive ``flock`` on ``$GAPVIZ_HOME/up.lock``, which holds the owner's pid.

The kernel drops the lock when the holder exits (even on SIGKILL), so a stale file never blocks a
start; the file itself stays. The descriptor is close-on-exec, so children do not keep the lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gapviz.errors import GapvizError
from gapviz.fsio import DIR_MODE, FILE_MODE

LOCK_FILE = "up.lock"


class UpLockError(GapvizError):
    """Another `gapviz up` already runs on this home."""


def lock_path(home: str | Path) -> Path:
    """Where the lock of ``home`` lives."""
    return Path(home) / LOCK_FILE


def holder_pid(home: str | Path) -> int:
    """The pid written by the last holder of ``home``'s lock (0 if none or unreadable)."""
    try:
        return int(lock_path(home).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def is_held(home: str | Path) -> bool:
    """Whether a `gapviz up` holds ``home``'s lock now (a shared, non-blocking probe that takes nothing it keeps)."""
    try:
        fd = os.open(lock_path(home), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a shared lock we got
    return False


class UpLock:
    """The exclusive lock of one home: :meth:`acquire` or :class:`UpLockError` naming the holder's pid."""

    def __init__(self, home: str | Path):
        self.home = Path(home)
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting and write our pid into the file; raise if another process holds it."""
        self.home.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)  # `gapviz up` then tightens an older home
        fd = os.open(lock_path(self.home), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            pid = holder_pid(self.home)
            who = f"pid {pid}" if pid else "another process"
            raise UpLockError(f"`gapviz up` is already running on {self.home} ({who}); stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        """Drop the lock (closing the descriptor unlocks it); the file stays, so no other start races an unlink."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "UpLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
