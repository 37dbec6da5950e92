"""Jobs on real worker processes: submit -> run -> complete (store and stream), two workers with
three runs, cancel at a step, a job that raises, and what lands in Redis.

Two workers (``python -m gapviz.queue.worker``) serve the whole module; one of them does the full
warm-up (UMAP included), the other skips UMAP for speed. Every job runs the real
``gapviz.training.runner.execute_run``.
"""

from __future__ import annotations

import json
import os
import subprocess
import zlib
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
from queue_fixtures import log_tail, start_worker, stop_process, tiny_config, wait_for, wait_for_worker_pids

from gapviz.config import preset
from gapviz.queue import client as queue
from gapviz.queue import events
from gapviz.runs.store import RunStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

RUN_TIMEOUT_S = 180.0
"""Hang guard for one tiny run (seconds of CPU training, much more on a busy 2-core machine)."""


class Cluster:
    def __init__(self, home: Path, url: str, workers: list[subprocess.Popen], logs: list[Path]):
        self.home, self.url, self.workers, self.logs = home, url, workers, logs
        self.conn = redis.Redis.from_url(url)
        self.store = RunStore(home)

    def wait_state(self, run_id: str, states: tuple[str, ...], timeout: float = RUN_TIMEOUT_S) -> str:
        def reached() -> str | None:
            state = self.store.status(run_id).state.value
            return state if state in states else None

        try:
            return wait_for(reached, timeout, f"run {run_id} to reach {states}", interval=0.2)
        except BaseException:
            print(self.diagnostics(run_id))
            raise

    def wait_done(self, run_id: str, timeout: float = RUN_TIMEOUT_S) -> str:
        """The run's final state once its last event is in the stream too (the job publishes it after status.json)."""
        state = self.wait_state(run_id, ("finished", "failed"), timeout)

        def published() -> bool:
            return any(e.kind == "state" and e.state == state for e in events.read_events(self.conn, run_id)[0])

        wait_for(published, 30, f"the {state} event of run {run_id}")
        return state

    def diagnostics(self, run_id: str) -> str:
        status = json.dumps(self.store.status(run_id).to_dict(), indent=1, default=str)[:3000]
        return f"status of {run_id}:\n{status}\n" + "\n".join(f"--- {p.name}\n{log_tail(p)}" for p in self.logs)


@pytest.fixture(scope="module")
def cluster(redis_server, tmp_path_factory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("home")
    logs = [home / "worker-1.log", home / "worker-2.log"]
    workers = [
        start_worker(home, redis_server.url, log=logs[0]),
        start_worker(home, redis_server.url, log=logs[1], GAPVIZ_SKIP_UMAP_WARMUP="0"),
    ]
    cluster = Cluster(home, redis_server.url, workers, logs)
    try:
        wait_for_worker_pids(cluster.conn, {w.pid for w in workers})
        yield cluster
    except BaseException:
        print(*(f"--- {p.name}\n{log_tail(p)}" for p in logs), sep="\n")
        raise
    finally:
        for worker in workers:
            stop_process(worker)


def stream(cluster: Cluster, run_id: str) -> list[events.Event]:
    got, _ = events.read_events(cluster.conn, run_id)
    return got


def test_workers_warm_up_once_at_start(cluster):
    full, skipped = log_tail(cluster.logs[1], 400), log_tail(cluster.logs[0], 400)
    assert "warm-up done" in full and "umap_s=" in full
    assert "warm-up done" in skipped and "umap_s=" not in skipped


def test_submit_run_complete_with_every_epoch_in_store_and_stream(cluster):
    cfg = preset("tiny-test")
    sub = queue.submit(cluster.conn, cluster.store, cfg)
    assert cluster.wait_done(sub.run_id) == "finished", cluster.diagnostics(sub.run_id)
    store_rows = cluster.store.metrics(sub.run_id)
    assert [row["epoch"] for row in store_rows] == [0, 1, 2]
    got = stream(cluster, sub.run_id)
    assert all(e.run_id == sub.run_id for e in got)
    assert [e.state for e in got if e.kind == "state"] == ["queued", "running", "finished"]
    epochs = [e for e in got if e.kind == "epoch"]
    assert [e.epoch for e in epochs] == [0, 1, 2]
    for event, row in zip(epochs, store_rows, strict=False):
        assert event.data["metrics"]["gap_distance"] == pytest.approx(row["gap_distance"])
        stored = cluster.store.epoch_arrays(sub.run_id, event.epoch)["proj_pca"]
        assert event.projections["pca"].shape == stored.shape
    steps = [e for e in got if e.kind == "step"]
    assert steps and steps[-1].data["global_step"] == store_rows[-1]["step"]
    job = queue.fetch_job(cluster.conn, sub.job_id)
    wait_for(lambda: job.get_status() == "finished", 30, "RQ to record the success")  # after the store's state
    assert job.return_value() == {"run_id": sub.run_id, "state": "finished"}
    assert cluster.conn.ttl(events.stream_key(sub.run_id)) > 0
    # The follower replays the finished run (disk first) the way a page opened late does.
    follower = events.RunFollower(cluster.store, sub.run_id, cluster.conn)
    assert [e.epoch for e in follower.poll() if e.kind == "epoch"] == [0, 1, 2] and follower.finished


def test_two_workers_three_runs_events_never_mixed(cluster):
    subs = [
        queue.submit(cluster.conn, cluster.store, tiny_config(seed=seed, name=f"mix-{seed}", train__epochs=1))
        for seed in range(3)
    ]
    for sub in subs:
        assert cluster.wait_done(sub.run_id) == "finished", cluster.diagnostics(sub.run_id)
    pids = set()
    for sub in subs:
        got = stream(cluster, sub.run_id)
        assert {e.run_id for e in got} == {sub.run_id}
        assert [e.epoch for e in got if e.kind == "epoch"] == [0, 1]
        running = [e for e in got if e.state == "running"]
        assert len(running) == 1
        pids.add(running[0].data["pid"])
        store_gap = [row["gap_distance"] for row in cluster.store.metrics(sub.run_id)]
        stream_gap = [e.data["metrics"]["gap_distance"] for e in got if e.kind == "epoch"]
        assert stream_gap == pytest.approx(store_gap)
    # Both workers took runs, and each ran them in the worker process itself (no fork), with
    # multi-threaded torch, after the worker's own warm-up had run torch compute: the case in
    # which a forked job hangs.
    assert pids == {w.pid for w in cluster.workers}
    threads = {e.data["torch_threads"] for sub in subs for e in stream(cluster, sub.run_id) if e.state == "running"}
    assert min(threads) >= min(2, os.cpu_count() or 1)


def test_cancel_stops_a_running_job_at_a_step_and_keeps_finished_epochs(cluster):
    cfg = tiny_config(train__epochs=40)
    sub = queue.submit(cluster.conn, cluster.store, cfg)
    wait_for(lambda: len(cluster.store.epochs(sub.run_id)) >= 2, RUN_TIMEOUT_S, "two epochs")
    assert queue.cancel(cluster.conn, cluster.store, sub.run_id) == "stopping"
    assert cluster.wait_state(sub.run_id, ("cancelled", "finished", "failed")) == "cancelled"
    kept = cluster.store.epochs(sub.run_id)
    assert len(kept) >= 2 and kept == list(range(len(kept))) and len(kept) < 41
    got = stream(cluster, sub.run_id)
    assert got[-1].state == "cancelled"
    with pytest.raises(queue.QueueError, match="already cancelled"):
        queue.cancel(cluster.conn, cluster.store, sub.run_id)


def test_a_job_that_raises_records_its_error_and_the_worker_goes_on(cluster, tmp_path):
    (tmp_path / "broken.csv").write_text("")  # exists (submit checks that), fails only when the worker reads it
    cfg = tiny_config(data__source="csv", data__path=str(tmp_path / "broken.csv"))
    bad = queue.submit(cluster.conn, cluster.store, cfg)
    assert cluster.wait_state(bad.run_id, ("failed", "finished")) == "failed"
    status = cluster.store.status(bad.run_id)
    assert "broken.csv" in status.error and "Traceback" in status.traceback
    job = queue.fetch_job(cluster.conn, bad.job_id)
    wait_for(lambda: job.get_status() == "failed", 30, "RQ to record the failure")
    assert bad.job_id in queue.get_queue(cluster.conn).failed_job_registry.get_job_ids()
    assert "broken.csv" in (job.latest_result().exc_string or "")
    assert stream(cluster, bad.run_id)[-1].state == "failed"
    assert all(w.poll() is None for w in cluster.workers)
    good = queue.submit(cluster.conn, cluster.store, tiny_config(train__epochs=1))
    assert cluster.wait_state(good.run_id, ("finished", "failed")) == "finished"


def test_only_json_lands_in_redis_after_real_jobs(cluster, tmp_path):
    (tmp_path / "broken.csv").write_text("")
    bad = queue.submit(
        cluster.conn, cluster.store, tiny_config(data__source="csv", data__path=str(tmp_path / "broken.csv"))
    )
    good = queue.submit(cluster.conn, cluster.store, tiny_config(train__epochs=1))
    assert cluster.wait_state(bad.run_id, ("failed", "finished")) == "failed"
    assert cluster.wait_state(good.run_id, ("finished", "failed")) == "finished"
    jobs: set[str] = set()
    for key in cluster.conn.scan_iter("rq:job:*"):
        if cluster.conn.type(key) != b"hash":
            continue
        job = cluster.conn.hgetall(key)
        func, _, args, kwargs = json.loads(zlib.decompress(job[b"data"]))
        assert (
            func == "gapviz.queue.jobs.train_run" and isinstance(args[0], str) and set(kwargs) == {"resume", "device"}
        )
        jobs.add(key.decode().removeprefix("rq:job:"))
    assert {bad.job_id, good.job_id} <= jobs
    for key in cluster.conn.scan_iter("*"):
        kind = cluster.conn.type(key)
        values: list[Any] = []
        if kind == b"hash":
            values = [v for f, v in cluster.conn.hgetall(key).items() if f != b"data"]
        elif kind == b"stream":
            values = [v for _, fields in cluster.conn.xrange(key) for v in fields.values()]
        elif kind == b"string":
            values = [cluster.conn.get(key)]
        for value in values:
            assert not value.startswith(b"\x80"), key  # pickle's protocol marker
            value.decode("utf-8")


@pytest.mark.parametrize(
    ("worker", "configured", "used"),
    [("", "auto", None), ("cpu", "auto", "cpu"), ("cuda:1", "cuda", "cuda:1"), ("cuda:1", "cpu", None)],
)
def test_the_payload_device_meets_the_worker_device(worker, configured, used):
    """The job's payload carries the run's device; the worker's --device fills in "auto" (no env var)."""
    from gapviz.queue import jobs

    jobs.set_worker_device(worker)
    try:
        assert jobs.run_device(configured) == used
    finally:
        jobs.set_worker_device("")
