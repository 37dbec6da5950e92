"""Owner-only $GAPVIZ_HOME (0700 folders, 0600 files) and one `gapviz up` per home (the up lock)."""

from __future__ import annotations

import os
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gapviz.data.cache import load_images
from gapviz.queue.uplock import UpLock, UpLockError, holder_pid, lock_path
from gapviz.runs.store import RunStore
from tests.queue_fixtures import tiny_config

pytestmark = pytest.mark.timeout(120)

HOLD = (
    "import sys; from gapviz.queue.uplock import UpLock; lock = UpLock(sys.argv[1]); lock.acquire();"
    " print('held', flush=True); sys.stdin.read()"
)


def loose_entries(root: Path) -> list[str]:
    """Everything under ``root`` (itself included) that group or others may access, with its mode."""
    found = [root, *root.rglob("*")]
    return [
        f"{p} {oct(stat.S_IMODE(p.lstat().st_mode))}" for p in found if not p.is_symlink() and p.lstat().st_mode & 0o077
    ]


def up_argv(home: Path) -> list[str]:
    return [sys.executable, "-m", "gapviz.cli.main", "--home", str(home), "up", "--no-app", "--workers", "0"]


def up_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    env.pop("REDIS_URL", None)
    return env


def loose_umask() -> None:
    os.umask(0o022)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen]:
    """Another process holding the up lock of tmp_path/home."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "home")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_second_up_on_a_home_is_refused_naming_the_holder(tmp_path, holder):
    home = tmp_path / "home"
    result = subprocess.run(up_argv(home), capture_output=True, text=True, timeout=60, env=up_env())
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and f"(pid {holder.pid})" in result.stderr, result.stderr
    assert not (home / "redis").exists()  # refused before starting anything
    with pytest.raises(UpLockError, match=f"pid {holder.pid}"):
        UpLock(home).acquire()
    holder.stdin.close()  # the holder exits: the kernel drops its lock, the file stays
    holder.wait(30)
    with UpLock(home) as lock:
        assert lock.fd is not None and holder_pid(home) == os.getpid()
    assert stat.S_IMODE(lock_path(home).stat().st_mode) == 0o600


def read_until(proc: subprocess.Popen, marker: str, timeout: float) -> str:
    """stdout of ``proc`` (read unbuffered from its descriptor) up to the first ``marker``."""
    assert proc.stdout is not None
    text, deadline = "", time.monotonic() + timeout
    while marker not in text and time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 0.5)[0]:
            text += os.read(proc.stdout.fileno(), 4096).decode(errors="replace")
    assert marker in text, text
    return text


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_up_tightens_an_old_home_and_keeps_everything_it_writes_private(tmp_path):
    home = tmp_path / "home"
    (home / "runs" / "old").mkdir(parents=True)
    (home / "runs" / "old" / "meta.json").write_text("{}")
    for path, mode in (
        (home, 0o755),
        (home / "runs", 0o775),
        (home / "runs" / "old", 0o755),
        (home / "runs" / "old" / "meta.json", 0o644),
    ):
        os.chmod(path, mode)
    proc = subprocess.Popen(
        up_argv(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=up_env(), preexec_fn=loose_umask
    )
    try:
        out = read_until(proc, "Ctrl-C stops everything", 60)
        assert f"made {home} private" in out and "4 file(s)/folder(s)" in out, out
        assert (home / "redis" / "data" / "appendonly.aof").exists() and (home / "up.lock").exists()
        assert loose_entries(home) == []
        second = subprocess.run(up_argv(home), capture_output=True, text=True, timeout=60, env=up_env())
        assert second.returncode == 1 and f"(pid {proc.pid})" in second.stderr, second.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    assert loose_entries(home) == []


def test_runs_and_image_caches_are_private_even_under_a_loose_umask(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for index in range(2):
        Image.fromarray(np.full((8, 8, 3), index * 100, dtype=np.uint8)).save(images / f"{index}.png")
    home = tmp_path / "home"
    previous = os.umask(0o022)
    try:
        run_id = RunStore(home).create(tiny_config())
        array, kept = load_images(sorted(images.iterdir()), 8, home)
    finally:
        os.umask(previous)
    assert array.shape[0] == 2 and list(kept) == [0, 1]
    assert (home / "runs" / run_id / "config.json").is_file() and list((home / "cache" / "images").glob("*.npy"))
    assert loose_entries(home) == []
