"""Shared helpers for the queue tests: a real redis-server (the one `gapviz up` starts) on a free
port in a temp folder, real worker processes, and waiting with a deadline.

The fixtures ``redis_server`` and ``conn`` are defined in conftest.py (every test module gets them).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import train_fixtures

REPO = Path(__file__).resolve().parent.parent
WORKER_START_TIMEOUT_S = 180.0
"""Hang guard only: a worker imports torch and open_clip before it registers (seconds, more when busy)."""

FAST_RUN = {
    "data.train_size": 128,
    "data.eval_size": 32,
    "train.batch_size": 32,
    "train.epochs": 2,
    "eval.linear_probe": False,
}
"""tiny-test made smaller still: 4 steps per epoch, a 32-pair evaluation."""


tiny_config = functools.partial(train_fixtures.tiny_config, FAST_RUN, False)
"""The suite's one tiny config (train_fixtures.tiny_config) at the queue tests' sizes, unchecked as before."""


def wait_for(predicate: Callable[[], Any], timeout: float, message: str, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until truthy (returned) or fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


def subprocess_env(home: Path, url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GAPVIZ_HOME=str(home),
        REDIS_URL=url,
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        GAPVIZ_SKIP_UMAP_WARMUP="1",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    env.update(extra)
    return env


def start_worker(home: Path, url: str, *args: str, log: Path | None = None, **env: str) -> subprocess.Popen:
    """`python -m gapviz.queue.worker ARGS` with GAPVIZ_HOME/REDIS_URL set; output to ``log``."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "gapviz.queue.worker", *args],
        cwd=REPO,
        env=subprocess_env(home, url, **env),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def worker_names(conn: Any, queue: str | None = None) -> set[str]:
    from rq import Worker

    workers = Worker.all(connection=conn)
    return {w.name for w in workers if queue is None or queue in w.queue_names()}


def worker_pids(conn: Any) -> set[int]:
    from rq import Worker

    return {int(w.pid) for w in Worker.all(connection=conn) if w.pid}


def wait_for_worker_pids(conn: Any, pids: set[int], timeout: float = WORKER_START_TIMEOUT_S) -> None:
    wait_for(lambda: pids <= worker_pids(conn), timeout, f"workers {sorted(pids)} to register")


def stop_process(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGTERM, wait, SIGKILL if needed; returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
