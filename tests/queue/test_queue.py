"""The queue without workers: submit, sweep, position, cancel, resume, status, abandoned jobs, the CLI,
and what lands in Redis (JSON only)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import zlib

import pytest
import redis
from queue_fixtures import tiny_config

from gapviz.cli import queue as queue_cli
from gapviz.config import ConfigError, sweep
from gapviz.errors import GapvizError
from gapviz.queue import client as queue
from gapviz.queue import events
from gapviz.queue.redis_server import ServerInfo, write_record
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore

pytestmark = pytest.mark.timeout(60)


def rq_job_hash(conn, job_id: str) -> dict[bytes, bytes]:
    return conn.hgetall(f"rq:job:{job_id}")


def test_submit_queues_the_run_id_as_a_json_payload(conn, store):
    first = queue.submit(conn, store, tiny_config(name="one"))
    second = queue.submit(conn, store, tiny_config(name="two"))
    assert (first.position, second.position) == (0, 1)
    status = store.status(first.run_id)
    assert status.state == RunState.QUEUED and status.job_id == first.job_id and status.queue == "gapviz"
    func, instance, args, kwargs = json.loads(zlib.decompress(rq_job_hash(conn, first.job_id)[b"data"]))
    assert (func, instance, args, kwargs) == (
        "gapviz.queue.jobs.train_run",
        None,
        [first.run_id],
        {"resume": False, "device": "auto"},
    )
    assert queue.position(conn, store, second.run_id) == 1
    got, _ = events.read_events(conn, first.run_id)
    assert [e.state for e in got] == ["queued"]


def test_nothing_in_redis_is_pickled(conn, store):
    sub = queue.submit(conn, store, tiny_config())
    queue.submit_many(conn, store, sweep(tiny_config(), {"temperature.tau": [0.05, 0.1]}))
    queue.cancel(conn, store, sub.run_id)
    queue.resume(conn, store, sub.run_id)
    checked = 0
    for key in conn.scan_iter("*"):
        kind = conn.type(key)
        values: list[bytes] = []
        if kind == b"hash":
            values = list(conn.hgetall(key).values())
        elif kind == b"string":
            values = [conn.get(key)]
        elif kind == b"list":
            values = conn.lrange(key, 0, -1)
        elif kind == b"stream":
            values = [v for _, fields in conn.xrange(key) for v in fields.values()]
        for value in values:
            if key.startswith(b"rq:job:") and value[:2] in (b"x\x9c", b"x\xda", b"x^", b"x\x01"):
                value = zlib.decompress(value)  # RQ compresses job data: inside it is JSON
                json.loads(value)
            assert not value.startswith(b"\x80"), (key, value[:20])  # pickle's protocol marker
            value.decode("utf-8")
            checked += 1
        if key.startswith(b"rq:job:"):
            job = conn.hgetall(key)
            json.loads(zlib.decompress(job[b"data"]))
            assert json.loads(job[b"meta"])["run_id"]
    assert checked > 20


def test_a_sweep_queues_one_run_per_value_in_one_group(conn, store):
    group, subs = queue.submit_many(conn, store, sweep(tiny_config(name="base"), {"temperature.tau": [0.05, 0.1, 0.2]}))
    assert len(subs) == 3 and [s.position for s in subs] == [0, 1, 2]
    taus = sorted(store.config(s.run_id).temperature.tau for s in subs)
    assert taus == [0.05, 0.1, 0.2]
    assert {store.meta(s.run_id)["group"] for s in subs} == {group}
    assert store.meta(subs[0].run_id)["name"] == "base temperature.tau=0.05"
    group2, grid = queue.submit_many(
        conn, store, sweep(tiny_config(), {"temperature.tau": [0.05, 0.1], "seed": [1, 2]})
    )
    assert len(grid) == 4 and group2 != group and group2.startswith("sweep-")


def test_a_bad_sweep_value_queues_nothing(conn, store):
    with pytest.raises(ConfigError, match=r"temperature.tau: must be in \(0, 10\].*\(sweep value -1\)"):
        queue.submit_many(conn, store, sweep(tiny_config(), {"temperature.tau": [0.05, -1]}))
    bad = tiny_config().replace(seed=-1)
    with pytest.raises(ConfigError, match="seed"):
        queue.submit_many(conn, store, [tiny_config(), bad])  # the good one is not queued either
    assert store.run_ids() == [] and queue.get_queue(conn).count == 0


def test_cancel_a_queued_run(conn, store):
    sub = queue.submit(conn, store, tiny_config())
    other = queue.submit(conn, store, tiny_config())
    assert queue.cancel(conn, store, sub.run_id) == "cancelled"
    assert store.state(sub.run_id) == RunState.CANCELLED
    assert queue.get_queue(conn).job_ids == [other.job_id]
    assert queue.position(conn, store, other.run_id) == 0
    assert sub.job_id in queue.get_queue(conn).canceled_job_registry.get_job_ids()
    with pytest.raises(queue.QueueError, match="already cancelled"):
        queue.cancel(conn, store, sub.run_id)
    got, _ = events.read_events(conn, sub.run_id)
    assert [e.state for e in got] == ["queued", "cancelled"]


def test_cancel_a_running_run_sets_its_flag(conn, store):
    sub = queue.submit(conn, store, tiny_config())
    job = queue.get_queue(conn).dequeue_any(
        [queue.get_queue(conn)], None, connection=conn, serializer=queue.get_queue(conn).serializer
    )
    assert job is not None
    job[0].set_status("started")
    store.running(sub.run_id)
    assert queue.cancel(conn, store, sub.run_id) == "stopping"
    assert store.status(sub.run_id).cancel_requested is True
    assert store.state(sub.run_id) == RunState.RUNNING  # the worker moves it to cancelled at a step


def test_resume_requeues_with_resume_true_and_refuses_active_or_finished(conn, store):
    sub = queue.submit(conn, store, tiny_config())
    with pytest.raises(queue.QueueError, match="is queued"):
        queue.resume(conn, store, sub.run_id)
    queue.cancel(conn, store, sub.run_id)
    again = queue.resume(conn, store, sub.run_id)
    assert again.job_id != sub.job_id and store.status(sub.run_id).resume is True
    _, _, args, kwargs = json.loads(zlib.decompress(rq_job_hash(conn, again.job_id)[b"data"]))
    assert args == [sub.run_id] and kwargs == {"resume": True, "device": "auto"}
    store.finished(sub.run_id, 2)
    with pytest.raises(queue.QueueError, match="already finished"):
        queue.resume(conn, store, sub.run_id)


def test_submit_that_cannot_reach_redis_leaves_no_run(store):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=None)
    with pytest.raises(queue.QueueUnavailable, match="^queue unavailable"):
        queue.submit(dead, store, tiny_config())
    assert store.run_ids() == []


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_connect_errors_say_queue_unavailable(tmp_path, monkeypatch, redis_server):
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(queue.QueueUnavailable, match="gapviz up"):
        queue.connect(tmp_path / "empty-home")
    monkeypatch.setenv("REDIS_URL", "http://example.org")
    with pytest.raises(queue.QueueUnavailable, match="redis://"):
        queue.connect()
    monkeypatch.setenv("REDIS_URL", f"redis://:wrong@127.0.0.1:{redis_server.port}/0")
    with pytest.raises(queue.QueueUnavailable, match="^queue unavailable"):
        queue.connect()
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    with pytest.raises(queue.QueueUnavailable, match="^queue unavailable"):
        queue.connect()


def test_the_embedded_record_is_found_without_redis_url(tmp_path, monkeypatch, redis_server):
    monkeypatch.delenv("REDIS_URL", raising=False)
    home = tmp_path / "home"
    write_record(home, ServerInfo(host=redis_server.host, port=redis_server.port, password=redis_server.password))
    assert queue.connect(home).ping()


def test_status_lists_queues_and_runs_with_positions(conn, store):
    subs = [queue.submit(conn, store, tiny_config()) for _ in range(2)]
    report = queue.status(store, conn)
    assert report["available"] and report["workers"] == []
    (row,) = [q for q in report["queues"] if q["name"] == "gapviz"]
    assert row["queued"] == 2
    positions = {r["run_id"]: r["position"] for r in report["runs"]}
    assert positions == {subs[0].run_id: 0, subs[1].run_id: 1}
    summary = queue.queue_status(conn)
    assert (summary["queued"], summary["running"], summary["workers"]) == (2, 0, 0)


def test_abandoned_job_marks_its_run_failed(conn, store):
    """What the worker-side heartbeat makes happen after a SIGKILL, without a worker: an expired entry."""
    sub = queue.submit(conn, store, tiny_config())
    q = queue.get_queue(conn)
    q.remove(sub.job_id)
    conn.zadd(f"rq:wip:{q.name}", {f"{sub.job_id}:deadbeef": time.time() - 5})
    store.running(sub.run_id)
    assert queue.reap_abandoned(conn, min_uptime_s=10**6) == []  # Redis just (re)started: workers may be alive
    assert queue.reap_abandoned(conn, min_uptime_s=0) == [sub.job_id]
    status = store.status(sub.run_id)
    assert status.state == RunState.FAILED and status.abandoned is True
    assert f"gapviz resume {sub.run_id}" in status.error
    assert sub.job_id in q.failed_job_registry.get_job_ids()
    assert queue.reap_abandoned(conn, min_uptime_s=0) == []


# ---- CLI ---------------------------------------------------------------------------------------


def cli(capsys, home, *argv: str) -> tuple[int, str, str]:
    code = queue_cli.main(["--home", str(home), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_submit_status_cancel_resume(conn, store, capsys, monkeypatch, redis_server):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    code, out, _ = cli(capsys, store.home, "submit", "--preset", "tiny-test", "--set", "train.epochs=1", "--json")
    assert code == 0
    run_id = json.loads(out)["runs"][0]["run_id"]
    assert store.config(run_id).train.epochs == 1
    code, out, _ = cli(capsys, store.home, "submit", "--preset", "tiny-test", "--sweep", "seed=1,2")
    assert code == 0 and "group sweep-" in out and out.count("queued on gapviz") == 2
    code, out, _ = cli(capsys, store.home, "status", "--json")
    report = json.loads(out)
    assert code == 0 and report["available"] and len(report["runs"]) == 3
    code, out, _ = cli(capsys, store.home, "status")
    assert code == 0 and "3 waiting" in out and "position 1" in out
    code, out, _ = cli(capsys, store.home, "cancel", run_id)
    assert code == 0 and "cancelled" in out
    code, out, _ = cli(capsys, store.home, "resume", run_id)
    assert code == 0 and "resume" in out and store.state(run_id) == RunState.QUEUED


@pytest.mark.parametrize(
    "argv, message",
    [
        (("cancel", "no-such-run"), "no run"),
        (("resume", "no-such-run"), "no run"),
        (("submit", "--set", "train.epochs=-1"), "config error: train.epochs"),
        (("submit", "--sweep", "nonsense.key=1,2"), "config error: nonsense.key"),
        (("submit", "--sweep", "temperature.tau="), "config error: temperature.tau: --sweep"),
        (("submit", "--sweep", "seed=0,1", "--sweep", "seed=2"), "config error: seed: swept twice"),
    ],
)
def test_cli_errors_are_one_line(conn, store, capsys, monkeypatch, redis_server, argv, message):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    code, out, err = cli(capsys, store.home, *argv)
    assert code == 1 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_cli_without_redis_says_queue_unavailable(store, capsys, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    store.create(tiny_config())
    code, out, err = cli(capsys, store.home, "status")
    assert code == 1 and "queue unavailable" in err and "runs (1)" in out
    code, out, err = cli(capsys, store.home, "submit", "--preset", "tiny-test")
    assert code == 1 and err.startswith("gapviz: error: queue unavailable") and len(err.strip().splitlines()) == 1
    assert len(store.run_ids()) == 1


def _foreground(store: RunStore, *, alive: bool) -> tuple[str, subprocess.Popen]:
    """A run trained "in the foreground" by another process on this machine (as `gapviz train` does)."""
    run_id = store.create(tiny_config())
    code = (
        "import time; from gapviz.runs.store import RunStore; "
        f"RunStore({str(store.home)!r}).running({run_id!r}); print('ok', flush=True); time.sleep(600 if {alive} else 0)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ok"
    if not alive:
        proc.wait()
    return run_id, proc


def test_cancelling_a_dead_foreground_run_ends_it_at_once_and_it_is_resumable(conn, store):
    run_id, _ = _foreground(store, alive=False)
    assert queue.cancel(conn, store, run_id) == "cancelled"
    assert store.state(run_id) == RunState.CANCELLED
    again = queue.resume(conn, store, run_id)
    assert store.status(run_id).state == RunState.QUEUED and store.status(run_id).job_id == again.job_id


def test_a_live_foreground_run_is_not_resumed_twice_and_cancel_reaches_it_through_status(conn, store):
    run_id, proc = _foreground(store, alive=True)
    try:
        with pytest.raises(queue.QueueError, match=f"is running in process {proc.pid}"):
            queue.resume(conn, store, run_id)
        assert queue.cancel(conn, store, run_id) == "stopping"
        assert store.status(run_id).cancel_requested and store.state(run_id) == RunState.RUNNING
    finally:
        proc.kill()
        proc.wait()
    assert store.status(run_id).abandoned  # its process is gone now


@pytest.mark.parametrize(
    "setting, message",
    [
        ("model.init_run=../../x", "invalid run id '../../x'"),
        ("model.init_run=no-such-run", "no run 'no-such-run'"),
        ("model.init_run={finished}", "has no saved checkpoint"),
        ("data.path={home}/missing.csv", "missing.csv: file not found"),
    ],
)
def test_a_missing_reference_is_refused_at_submit_and_leaves_no_run(
    conn, store, capsys, monkeypatch, redis_server, setting, message
):
    """Issue 20.4: submit exited 0 and the worker failed the run; now submit and train refuse it alike."""
    from gapviz.cli.main import main as gapviz_main

    monkeypatch.setenv("REDIS_URL", redis_server.url)
    finished = store.create(tiny_config(), run_id="parent-run")
    store.finished(finished, 1)
    setting = setting.format(home=store.home, finished=finished)
    extra = ("--set", "data.source=csv") if "data.path" in setting else ()
    code, out, err = cli(capsys, store.home, "submit", "--preset", "tiny-test", "--set", setting, *extra)
    assert code == 1 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert store.run_ids() == [finished] and conn.llen("rq:queue:gapviz") == 0
    code = gapviz_main(["--home", str(store.home), "train", "--preset", "tiny-test", "--set", setting, *extra])
    _, train_err = capsys.readouterr()
    assert code == 1 and train_err.strip() == err.strip() and store.run_ids() == [finished]
    overrides = dict(pair.replace(".", "__", 1).split("=", 1) for pair in (setting, *extra[1:]))
    with pytest.raises(GapvizError, match=re.escape(message)):
        queue.submit(conn, store, tiny_config(**overrides))
    assert store.run_ids() == [finished]


def test_fine_tuning_from_a_queued_run_is_accepted_before_its_checkpoint_exists(conn, store):
    parent = queue.submit(conn, store, tiny_config()).run_id
    child = queue.submit(conn, store, tiny_config(model__init_run=parent)).run_id
    assert store.config(child).model.init_run == parent and store.state(child) == RunState.QUEUED
