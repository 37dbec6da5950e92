"""gapviz.reproduce.runner with the queue: a plan is queued as it becomes ready, and reported once finished.

A real redis-server; the "worker" is this process (execute_run), so no worker processes start.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from gapviz.reproduce.experiments.base import ExperimentError
from gapviz.reproduce.runner import QueueProgress, Report, group_name, plan_for, reproduce
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore
from gapviz.training.runner import execute_run

pytestmark = pytest.mark.slow

TINY = {
    "data.train_size": 64,
    "data.eval_size": 32,
    "train.epochs": 1,
    "train.batch_size": 32,
    "eval.linear_probe": False,
}
"""Shrinks every run of the temperature sweep (overrides apply after the experiment's settings)."""


def running_elsewhere(store: RunStore, run_id: str, *, stay: bool) -> subprocess.Popen:
    """Another process on this machine marks the run running (as its `gapviz reproduce` would), then exits
    at once (killed-like: its heartbeat never comes) or ``stay``s alive."""
    code = (
        "import sys, time; from gapviz.runs.store import RunStore; "
        f"RunStore({str(store.home)!r}).running({run_id!r}); print('ok', flush=True); time.sleep(600 if {stay} else 0)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ok"
    if not stay:
        proc.wait()
    return proc


def keyed(store):
    return {store.meta(r)["reproduce"]["key"]: r for r in store.run_ids() if "reproduce" in store.meta(r)}


def test_queue_mode_queues_runs_as_they_become_ready_then_writes_the_report(conn, redis_server, tmp_path, monkeypatch):
    from gapviz.queue.client import get_queue

    monkeypatch.setenv("REDIS_URL", redis_server.url)
    lines = []
    first = reproduce("temperature-sweep", "tiny", tmp_path, overrides=TINY, queue=True, seeds=1, log=lines.append)
    assert isinstance(first, QueueProgress)
    assert first.submitted == ["pretrain seed=0"] and len(first.blocked) == 6 and not first.done
    store = RunStore(tmp_path)
    runs = keyed(store)
    assert len(runs) == 7 and {store.meta(r)["group"] for r in runs.values()} == {
        group_name("temperature-sweep", "tiny")
    }
    assert store.state(runs["pretrain seed=0"]) == RunState.QUEUED and get_queue(conn).count == 1
    assert store.state(runs["finetune tau=1/100 seed=0"]) == RunState.CREATED
    finetune = store.config(runs["finetune tau=1/100 seed=0"])
    assert finetune.model.init_run == runs["pretrain seed=0"] and finetune.model.init_epoch == 1
    assert finetune.train.epochs == 1 and finetune.temperature.mode == "fixed"
    assert any("--queue" in line for line in lines)
    shifted = reproduce("shift", "tiny", tmp_path, overrides=TINY, queue=True, seeds=1, log=lines.append)
    assert set(store.run_ids()) == set(runs.values())  # the queued pretraining run is shared, not duplicated
    assert (
        shifted.active == ["pretrain seed=0"] and shifted.blocked == ["trained seed=0"] and get_queue(conn).count == 1
    )

    assert execute_run(store, runs["pretrain seed=0"]) == RunState.FINISHED  # what a worker would do
    second = reproduce("temperature-sweep", "tiny", tmp_path, overrides=TINY, queue=True, seeds=1, log=lines.append)
    assert sorted(second.submitted) == sorted(k for k in runs if k != "pretrain seed=0") and second.finished == [
        "pretrain seed=0"
    ]
    assert keyed(store) == runs and get_queue(conn).count == 7

    for key, run_id in runs.items():
        if key != "pretrain seed=0":
            execute_run(store, run_id)
    report = reproduce(
        "temperature-sweep", "tiny", tmp_path, overrides=TINY, queue=True, wait=True, seeds=1, log=lines.append
    )
    assert isinstance(report, Report) and (report.folder / "report.md").is_file()
    assert report.results["runs"] == runs and report.results["group"] == "reproduce-temperature-sweep-tiny"
    assert report.results["seeds"] == 1 and report.results["verdict"] == "inconclusive"  # one seed decides nothing
    assert "inconclusive (one seed)" in (report.folder / "report.md").read_text()


def test_a_failed_run_stops_the_queued_reproduction_with_a_hint(conn, redis_server, tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    reproduce("mismatch", "tiny", tmp_path, overrides=TINY, queue=True, log=lambda line: None)
    store = RunStore(tmp_path)
    run_id = keyed(store)["mismatch=0.1 seed=0"]
    store.failed(run_id, "RuntimeError: out of memory")
    with pytest.raises(ExperimentError, match="out of memory.*gapviz resume"):
        reproduce("mismatch", "tiny", tmp_path, overrides=TINY, queue=True, log=lambda line: None)


def test_without_redis_queue_mode_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    with pytest.raises(ExperimentError, match="queue unavailable"):
        reproduce("mismatch", "tiny", tmp_path, overrides=TINY, queue=True, log=lambda line: None)


def test_report_only_needs_finished_runs(tmp_path):
    with pytest.raises(ExperimentError, match="no run for"):
        reproduce("mismatch", "tiny", tmp_path, overrides=TINY, report_only=True, log=lambda line: None)
    assert RunStore(tmp_path).run_ids() == []


def test_fresh_trains_again_in_a_new_group(tmp_path):
    overrides = {**TINY, "train.epochs": 0}
    first = reproduce("cone", "tiny", tmp_path, overrides=overrides, log=lambda line: None)
    again = reproduce("cone", "tiny", tmp_path, overrides=overrides, log=lambda line: None)
    fresh = reproduce("cone", "tiny", tmp_path, overrides=overrides, fresh=True, log=lambda line: None)
    assert again.results["runs"] == first.results["runs"]
    assert not set(fresh.results["runs"].values()) & set(first.results["runs"].values())
    assert fresh.results["group"].startswith("reproduce-cone-tiny-")
    assert len(plan_for("cone", "tiny")) == len(fresh.results["runs"])


def test_changed_settings_make_new_runs_not_reuse_old_ones(tmp_path):
    overrides = {**TINY, "train.epochs": 0}
    first = reproduce("cone", "tiny", tmp_path, overrides=overrides, log=lambda line: None)
    other = reproduce("cone", "tiny", tmp_path, overrides={**overrides, "data.eval_size": 16}, log=lambda line: None)
    assert not set(other.results["runs"].values()) & set(first.results["runs"].values())
    assert RunStore(tmp_path).config(other.results["runs"]["gapviz-tiny seed=0"]).data.eval_size == 16


def test_a_run_left_running_by_a_killed_process_is_trained_again(tmp_path):
    overrides = {**TINY, "train.epochs": 0}
    first = reproduce("cone", "tiny", tmp_path, overrides=overrides, log=lambda line: None)
    store = RunStore(tmp_path)
    run_id = first.results["runs"]["gapviz-tiny seed=0"]
    running_elsewhere(store, run_id, stay=False)
    again = reproduce("cone", "tiny", tmp_path, overrides=overrides, log=lambda line: None)
    assert again.results["runs"] == first.results["runs"] and store.state(run_id) == RunState.FINISHED
    alive = running_elsewhere(store, run_id, stay=True)
    try:
        with pytest.raises(ExperimentError, match="is running"):
            reproduce("cone", "tiny", tmp_path, overrides=overrides, log=lambda line: None)
    finally:
        alive.kill()
        alive.wait()
