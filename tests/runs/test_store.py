import csv
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from gapviz.config import RunConfig
from gapviz.runs.records import EpochRecord, GapTracePoint, RunState
from gapviz.runs.store import STALE_AFTER_S, RunStore, StoreError, gapviz_home


def record(epoch, n=6, d=4, seed=0):
    rng = np.random.default_rng(seed + epoch)
    return EpochRecord(
        epoch=epoch,
        global_step=10 * epoch,
        metrics={"gap_distance": 1.0 / (epoch + 1), "tau": 0.07},
        image_embeddings=rng.normal(size=(n, d)).astype(np.float32),
        text_embeddings=rng.normal(size=(n, d)).astype(np.float32),
        text_image_index=np.arange(n),
        projections={"pca": rng.normal(size=(2 * n, 2)).astype(np.float32)},
        captions=[f"caption {i}" for i in range(n)],
        labels=np.arange(n) % 2,
    )


def test_home_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("GAPVIZ_HOME", str(tmp_path / "h"))
    assert gapviz_home() == (tmp_path / "h").resolve()
    assert gapviz_home(tmp_path / "x") == (tmp_path / "x").resolve()


def test_create_read_and_status(home):
    store = RunStore()
    cfg = RunConfig(name="first")
    run_id = store.create(cfg, group="g1", tags=("a",))
    assert store.config(run_id) == cfg
    assert store.state(run_id) == RunState.CREATED
    assert store.meta(run_id) == {"name": "first", "group": "g1", "tags": ["a"]}
    store.running(run_id)
    store.append_epoch(run_id, record(1))
    assert store.status(run_id).state == RunState.RUNNING and store.status(run_id).epoch == 1
    store.update_meta(run_id, name="renamed", tags=("a", "b"))
    assert store.summary(run_id).name == "renamed" and store.summary(run_id).tags == ("a", "b")


def test_epochs_round_trip_in_fp16(home):
    store = RunStore()
    run_id = store.create(RunConfig())
    first = record(0)
    store.append_epoch(run_id, first)
    store.append_epoch(run_id, record(1))
    assert store.epochs(run_id) == [0, 1]
    arrays = store.epoch_arrays(run_id, 0)
    assert arrays["image"].dtype == np.float16
    np.testing.assert_allclose(arrays["image"], first.image_embeddings, atol=1e-2)
    np.testing.assert_array_equal(arrays["proj_pca"], first.projections["pca"])
    assert store.captions(run_id) == first.captions
    assert store.metrics(run_id)[1]["gap_distance"] == pytest.approx(0.5)
    store.append_epoch(run_id, record(1, seed=5))
    assert store.epochs(run_id) == [0, 1]
    store.truncate_epochs(run_id, 0)
    assert store.epochs(run_id) == [0]
    with pytest.raises(StoreError, match="no saved epoch 1"):
        store.epoch_arrays(run_id, 1)


def test_list_delete_and_bad_ids(home):
    store = RunStore()
    ids = [store.create(RunConfig(name=f"r{i}"), run_id=f"run-{i}") for i in range(3)]
    assert store.run_ids() == sorted(ids, reverse=True)
    assert [s.name for s in store.summaries()] == ["r2", "r1", "r0"]
    store.delete("run-1")
    assert store.run_ids() == ["run-2", "run-0"]
    for bad in ("../etc", "", "a/b"):
        with pytest.raises(StoreError, match="invalid run id"):
            store.run_dir(bad)
    with pytest.raises(StoreError, match="no run"):
        store.config("run-1")
    with pytest.raises(StoreError, match="already exists"):
        store.create(RunConfig(), run_id="run-0")


def test_export_writes_csv_npz_and_config(home, tmp_path):
    store = RunStore()
    run_id = store.create(RunConfig())
    store.append_epoch(run_id, record(0))
    store.append_epoch(run_id, record(1))
    metrics_csv, npz, config = store.export(run_id, tmp_path / "out")
    rows = list(csv.DictReader(metrics_csv.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    with np.load(npz) as data:
        assert {"e000_image", "e001_text", "e001_proj_pca"} <= set(data.files)
    assert json.loads(config.read_text()) == RunConfig().to_dict()


def test_writes_are_atomic_leaving_no_temp_files(home):
    store = RunStore()
    run_id = store.create(RunConfig())
    for epoch in range(3):
        store.append_epoch(run_id, record(epoch))
    leftovers = [p for p in store.run_dir(run_id).rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_transitions_are_typed_and_a_resumed_run_that_finishes_clears_abandoned(home):
    store = RunStore()
    run_id = store.create(RunConfig())
    store.queued(run_id, job_id="j1", queue_name="q")
    status = store.status(run_id)
    assert status.state == RunState.QUEUED and status.job_id == "j1" and status.queue == "q" and status.queued_at
    store.running(run_id)
    store.abandoned(run_id, "AbandonedJobError: worker stopped responding")
    assert store.status(run_id).abandoned and store.state(run_id) in RunState.RESUMABLE
    store.running(run_id)
    assert not store.status(run_id).abandoned and store.status(run_id).error is None
    store.abandoned(run_id, "again")
    final = store.finished(run_id, 3)
    assert store.status(run_id) == final
    assert final.state == RunState.FINISHED and final.abandoned is False and final.error is None and final.epoch == 3
    assert RunState.FINISHED not in RunState.ACTIVE | RunState.RESUMABLE


def _run_in_other_process(store: RunStore, run_id: str) -> None:
    """A process that marks the run running and then dies without a word (as a SIGKILLed `gapviz train`)."""
    code = f"from gapviz.runs.store import RunStore; RunStore({str(store.home)!r}).running({run_id!r})"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_foreground_run_whose_process_died_reads_as_abandoned(home):
    store = RunStore()
    run_id = store.create(RunConfig())
    _run_in_other_process(store, run_id)
    status = store.status(run_id)
    assert status.state == RunState.FAILED and status.abandoned
    assert "stopped responding" in status.error and f"gapviz resume {run_id}" in status.error
    assert json.loads((store.run_dir(run_id) / "status.json").read_text())["abandoned"] is True  # recorded


def test_a_silent_foreground_run_is_abandoned_after_the_queue_bound(home):
    store = RunStore()
    run_id = store.create(RunConfig())
    store.running(run_id)  # this process: alive, so only its heartbeat can tell
    assert store.state(run_id) == RunState.RUNNING
    silent_since = time.time() - STALE_AFTER_S - 1
    os.utime(store.run_dir(run_id) / "heartbeat", (silent_since, silent_since))
    assert store.status(run_id).abandoned
    queued = store.create(RunConfig())  # a queue worker's run: RQ's heartbeat decides, not this file
    store.queued(queued, job_id="j", queue_name="gapviz")
    store.running(queued)
    os.utime(store.run_dir(queued) / "heartbeat", (silent_since, silent_since))
    assert store.state(queued) == RunState.RUNNING


def test_gap_trace_round_trip_and_truncation(home):
    store = RunStore()
    run_id = store.create(RunConfig())
    tau = 0.07
    rows = [dict(step=s, epoch=(s + 3) // 4, tau=tau, beta=1 / tau, gap_distance=1 - s / 9) for s in range(9)]
    store.append_gap_trace(run_id, rows[:5])
    store.append_gap_trace(run_id, [GapTracePoint(**row) for row in rows[5:]])
    assert store.gap_trace(run_id) == rows
    with (store.run_dir(run_id) / "gap_trace.jsonl").open("a") as handle:
        handle.write('{"step": 9, "epo')  # a writer killed mid-line
    assert store.gap_trace(run_id) == rows
    store.truncate_epochs(run_id, 1)
    assert [row["step"] for row in store.gap_trace(run_id)] == [0, 1, 2, 3, 4]
    with pytest.raises(StoreError, match="without beta"):
        store.append_gap_trace(run_id, [{"step": 1, "epoch": 1, "tau": 0.1, "gap_distance": 1.0}])


def test_stale_temp_files_are_removed_and_checkpoint_names_come_from_the_store(home):
    store = RunStore()
    run_id = store.create(RunConfig())
    files = store.checkpoint_files(run_id)
    files.folder.mkdir()
    for epoch in (0, 1, 2, 3):
        files.epoch(epoch).write_bytes(b"w")
    files.prune(2)
    assert store.checkpoint_epochs(run_id) == [2, 3] and store.epoch_checkpoint(run_id) == files.epoch(3)
    assert store.resume_checkpoint(run_id) is None
    stale = [files.folder / ".epoch_002.pt.x1y2.tmp", store.epoch_file(run_id, 1).with_name(".001.npz.abc.tmp")]
    for path in stale:
        path.write_bytes(b"partial")
    (store.run_dir(run_id) / ".status.json.keep.tmp").write_bytes(b"another writer's")
    assert sorted(store.remove_temp_files(run_id)) == sorted(stale)
    assert not any(path.exists() for path in stale) and (store.run_dir(run_id) / ".status.json.keep.tmp").exists()
    stale[0].write_bytes(b"partial")
    store.delete(run_id)
    assert not store.run_dir(run_id).exists()


def test_stale_temp_files_are_removed_on_resume_and_by_up(tmp_path):
    """Issue 20.5: atomic writes killed by SIGKILL leave .tmp files; old ones go, fresh ones (a live writer's) stay."""
    store = RunStore(tmp_path / "home")
    first, second = store.create(RunConfig(name="a")), store.create(RunConfig(name="b"))
    old = time.time() - 60
    stale = []
    for run_id, sub in ((first, ""), (first, "checkpoints"), (second, "epochs")):
        folder = store.run_dir(run_id) / sub
        folder.mkdir(exist_ok=True)
        path = folder / ".status.json.x1y2.tmp"
        path.write_text("partial")
        os.utime(path, (old, old))
        stale.append(path)
    fresh = store.run_dir(second) / ".meta.json.live.tmp"
    fresh.write_text("being written")
    kept = store.run_dir(second) / "notes.tmp.txt"
    kept.write_text("not a temp file")
    os.utime(kept, (old, old))
    assert store.remove_temp_files(first) == sorted(stale[:2])
    assert stale[2].exists() and fresh.exists()
    assert store.remove_stale_temp_files() == [stale[2]]
    assert fresh.exists() and kept.exists() and not any(p.exists() for p in stale)
    assert store.config(first).name == "a" and store.status(second).state == RunState.CREATED


def test_record_exception_is_the_one_failure_recorder(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create(RunConfig(name="fails"))
    store.running(run_id)
    try:
        raise ValueError("first\nsecond line")
    except ValueError as error:
        assert store.record_exception(run_id, error) == RunState.FAILED
    status = store.status(run_id)
    assert status.state == RunState.FAILED and "ValueError" in status.traceback and "\n" not in status.error
    assert store.record_exception(run_id, RuntimeError("seen again by the job")) == RunState.FAILED
    assert store.status(run_id).traceback == status.traceback  # the first failure, with its traceback, stays
    other = store.create(RunConfig(name="stopped"))
    store.running(other)
    assert store.record_exception(other, KeyboardInterrupt()) == RunState.INTERRUPTED
    assert store.status(other).state == RunState.INTERRUPTED
    assert store.record_exception("20990101-000000-abcdef", ValueError("gone")) == RunState.FAILED  # no such run


def test_a_cancel_asked_while_queued_survives_the_start_and_a_resume_clears_it(home):
    """status.json's cancel_requested is the one stop signal: a worker that starts the run just after a
    cancel keeps the request (the heartbeat stops it at its first step); queueing it again clears it."""
    store = RunStore(home)
    run_id = store.create(RunConfig())
    store.queued(run_id, job_id="j1", queue_name="default")
    store.request_cancel(run_id)
    assert store.running(run_id).cancel_requested is True
    store.cancelled(run_id)
    store.queued(run_id, job_id="j2", queue_name="default", resume=True)
    assert store.status(run_id).cancel_requested is False
    store.request_cancel(run_id)
    store.interrupted(run_id)
    assert store.running(run_id).cancel_requested is False  # a foreground resume of a stopped run starts clean
