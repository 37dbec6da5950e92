"""Faults with real processes: a worker killed with SIGKILL mid-run, Redis killed and restarted, and
`gapviz up` restarting a dead worker and shutting everything down cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis
from queue_fixtures import (
    REPO,
    WORKER_START_TIMEOUT_S,
    log_tail,
    start_worker,
    stop_process,
    subprocess_env,
    tiny_config,
    wait_for,
    wait_for_worker_pids,
    worker_pids,
)

from gapviz.cli import queue as queue_cli
from gapviz.queue import client as queue
from gapviz.queue.redis_server import free_port, read_record, running_server, start_embedded
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

RUN_TIMEOUT_S = 180.0
ABANDON_LIMIT_S = 60.0
"""The spec: a SIGKILLed worker's run is marked failed within a minute."""


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def survivor(redis_server, home):
    """A worker on queue `faults` that lives through the whole module (and reaps dead workers' jobs)."""
    log = home / "survivor.log"
    proc = start_worker(home, redis_server.url, "--queue", "faults", log=log)
    try:
        yield proc, log
    finally:
        stop_process(proc)


def state_of(store: RunStore, run_id: str) -> str:
    return store.status(run_id).state.value


def test_sigkill_of_a_worker_marks_its_run_failed_and_resume_continues(
    redis_server, home, survivor, capsys, monkeypatch
):
    conn = redis.Redis.from_url(redis_server.url)
    store = RunStore(home)
    victim_log = home / "victim.log"
    victim = start_worker(home, redis_server.url, "--queue", "doomed", log=victim_log)
    t0 = time.monotonic()
    wait_for_worker_pids(conn, {victim.pid, survivor[0].pid})
    print(f"workers up after {time.monotonic() - t0:.1f} s")
    sub = queue.submit(conn, store, tiny_config(train__epochs=6), queue_name="doomed")
    wait_for(lambda: len(store.epochs(sub.run_id)) >= 2, RUN_TIMEOUT_S, "two finished epochs")
    print(f"two epochs after {time.monotonic() - t0:.1f} s")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_at = time.monotonic()
    kept = store.epochs(sub.run_id)
    # Nobody calls status here: the surviving worker's monitor thread finds the dead job.
    wait_for(
        lambda: state_of(store, sub.run_id) == "failed",
        ABANDON_LIMIT_S + 15,
        "the run to be marked failed",
        interval=0.5,
    )
    took = time.monotonic() - killed_at
    print(f"SIGKILLed worker's run marked failed after {took:.1f} s")
    status = store.status(sub.run_id)
    assert status.abandoned is True and f"gapviz resume {sub.run_id}" in status.error
    assert took <= ABANDON_LIMIT_S, took
    assert store.epochs(sub.run_id)[: len(kept)] == kept  # no finished epoch lost
    for epoch in kept:
        assert "proj_pca" in store.epoch_arrays(sub.run_id, epoch)
    # `gapviz resume ID` continues from the last checkpoint on a live worker.
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    code = queue_cli.main(["--home", str(home), "resume", sub.run_id, "--queue", "faults"])
    assert code == 0, capsys.readouterr()
    wait_for(lambda: state_of(store, sub.run_id) in ("finished", "failed"), RUN_TIMEOUT_S, "the resumed run")
    assert state_of(store, sub.run_id) == "finished", log_tail(survivor[1])
    print(f"resumed run finished after {time.monotonic() - t0:.1f} s")
    assert store.epochs(sub.run_id) == list(range(7))
    assert store.status(sub.run_id).resume is True
    assert survivor[0].poll() is None


def test_redis_restart_keeps_queued_runs_and_workers_reconnect(redis_server, home, survivor, capsys, monkeypatch):
    conn = redis.Redis.from_url(redis_server.url)
    store = RunStore(home)
    wait_for_worker_pids(conn, {survivor[0].pid})
    held = queue.submit(conn, store, tiny_config(), queue_name="held")  # no worker listens on `held`
    redis_server.kill()
    with pytest.raises(queue.QueueUnavailable, match="^queue unavailable"):
        queue.connect(url=redis_server.url)
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    assert queue_cli.main(["--home", str(home), "status"]) == 1
    assert "queue unavailable" in capsys.readouterr().err
    redis_server.start()
    conn = redis.Redis.from_url(redis_server.url)
    assert queue.position(conn, store, held.run_id) == 0
    assert state_of(store, held.run_id) == "queued"
    # The worker found Redis again by itself and takes new runs.
    wait_for_worker_pids(conn, {survivor[0].pid}, timeout=60)
    fresh = queue.submit(conn, store, tiny_config(train__epochs=1), queue_name="faults")
    wait_for(lambda: state_of(store, fresh.run_id) in ("finished", "failed"), RUN_TIMEOUT_S, "a run after the restart")
    assert state_of(store, fresh.run_id) == "finished", log_tail(survivor[1])
    assert survivor[0].poll() is None
    assert queue.cancel(conn, store, held.run_id) == "cancelled"


# ---- gapviz up ----------------------------------------------------------------------------------


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_up(home: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    home.mkdir(parents=True, exist_ok=True)
    log = home / "up.log"
    env = subprocess_env(home, "")
    env.pop("REDIS_URL")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gapviz.cli.queue", "--home", str(home), "up", *args],
        cwd=REPO,
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # noqa: SIM115
    )
    return proc, log


def test_up_restarts_a_dead_worker_and_stops_everything_on_sigterm(tmp_path, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    home = tmp_path / "up-home"
    up, log = start_up(home, "--no-app", "--workers", "1", "--skip-umap-warmup", "--grace", "60")
    try:
        wait_for(lambda: running_server(home), 30, "the embedded Redis")
        conn = queue.connect(home)
        first = wait_for(lambda: worker_pids(conn), WORKER_START_TIMEOUT_S, "the worker to register")
        (first_pid,) = first
        os.kill(first_pid, signal.SIGKILL)
        second = wait_for(lambda: worker_pids(conn) - first, WORKER_START_TIMEOUT_S, "a restarted worker")
        assert "exited with -9; restarting" in log.read_text()
        store = RunStore(home)
        sub = queue.submit(conn, store, tiny_config(train__epochs=200))
        wait_for(lambda: len(store.epochs(sub.run_id)) >= 2, RUN_TIMEOUT_S, "the run to train")
        children = children_of(up.pid)
        redis_pid = read_record(home).pid
        assert redis_pid in children and set(second) <= children
        up.send_signal(signal.SIGTERM)
        assert up.wait(90) == 0, log_tail(log)
    finally:
        stop_process(up, timeout=5)
    assert not any(alive(pid) for pid in children), [p for p in children if alive(p)]
    # The running run stopped at a step and was queued again, to resume; the queue outlives the restart.
    status = store.status(sub.run_id)
    assert status.state == RunState.QUEUED and status.resume is True, status
    assert store.epochs(sub.run_id)[:2] == [0, 1]
    server = start_embedded(home)
    try:
        assert queue.position(queue.connect(home), store, sub.run_id) == 0
    finally:
        server.stop()


def test_up_serves_the_app_on_loopback_and_stops_it(tmp_path, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    home = tmp_path / "app-home"
    port = free_port()
    up, log = start_up(home, "--workers", "0", "--port", str(port))
    try:

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                    return reply.status == 200
            except OSError:
                return False

        wait_for(healthy, 90, "the Streamlit app", interval=0.5)
        assert f"app at http://127.0.0.1:{port}" in log.read_text()
        children = children_of(up.pid)
        up.send_signal(signal.SIGINT)  # Ctrl-C
        assert up.wait(60) == 0, log_tail(log)
    finally:
        stop_process(up, timeout=5)
    assert not any(alive(pid) for pid in children)
    assert not healthy()
