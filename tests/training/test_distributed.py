"""One run on two ranks (gloo, CPU): the loss and every gradient equal one process with the doubled batch, a
2-rank run trains through the queue, and a killed rank fails the run by name and resume finishes it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import redis
from queue_fixtures import log_tail, start_worker, stop_process, wait_for
from train_fixtures import tiny_config

from gapviz.errors import GapvizError
from gapviz.queue import client as queue
from gapviz.queue import events
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore
from gapviz.training import distributed, equivalence
from gapviz.training.loop import prepare
from gapviz.training.runner import execute_run

RANKS = 2
RUN_TIMEOUT_S = 240.0
"""Hang guard only: a worker and two spawned ranks each import torch and open_clip first."""
RANK_BATCH = 32
TOLERANCE = 1e-5


def configs(batch_size: int, devices: int) -> dict[str, Any]:
    """The rank check's cases with ``batch_size`` pairs per rank (devices × batch_size pairs a step)."""
    return equivalence.case_configs(tiny_config(checked=False), devices, batch_size * devices)


@pytest.mark.slow
def test_two_ranks_equal_one_process_with_the_doubled_batch_in_loss_and_every_gradient(tmp_path):
    job = (tmp_path, distributed.init_method(), ["cpu"] * RANKS, configs(RANK_BATCH, RANKS))
    ranked = distributed.launch(equivalence.rank_step, job, RANKS, None, lambda: False)
    alone = configs(RANKS * RANK_BATCH, 1)
    setup = prepare(next(iter(alone.values())), tmp_path)
    for case, (full_loss, full_grads) in equivalence.each_config(setup, alone, setup.model).items():
        loss, grads = ranked[case]
        assert set(grads) == set(full_grads) and "temperature.nu" in grads
        assert loss == pytest.approx(full_loss, abs=TOLERANCE), case
        for name, grad in full_grads.items():
            np.testing.assert_allclose(grads[name], grad, atol=TOLERANCE, rtol=0, err_msg=f"{case}: {name}")


def two_rank_config(**overrides: Any) -> Any:
    """Two ranks of 32 pairs on 128 pairs: 2 steps per epoch, 2 epochs."""
    return tiny_config(train__devices=RANKS, eval__linear_probe=False, eval__trace_every_steps=1, **overrides)


@pytest.mark.slow
def test_a_two_rank_run_trains_through_the_queue_and_is_one_run(redis_server, home):
    conn, store = redis.Redis.from_url(redis_server.url), RunStore(home)
    log = home / "worker.log"
    worker = start_worker(home, redis_server.url, "--queue", "ddp", log=log)
    try:
        sub = queue.submit(conn, store, two_rank_config(), queue_name="ddp")
        state = lambda: store.status(sub.run_id).state  # noqa: E731
        wait_for(lambda: state() not in RunState.ACTIVE, RUN_TIMEOUT_S, "the 2-rank run to end")
        assert state() == RunState.FINISHED, f"{store.status(sub.run_id).error}\n{log_tail(log)}"
    finally:
        stop_process(worker)
    assert [row["epoch"] for row in store.metrics(sub.run_id)] == [0, 1, 2]
    assert store.epochs(sub.run_id) == [0, 1, 2]
    assert [point["step"] for point in store.gap_trace(sub.run_id)] == [0, 1, 2, 3, 4]
    assert [summary.run_id for summary in store.summaries()] == [sub.run_id]
    published = events.RunFollower(store, sub.run_id, conn).poll()
    assert [e.epoch for e in published if e.kind == "epoch"] == [0, 1, 2]


@pytest.mark.slow
def test_a_killed_rank_fails_the_run_naming_it_and_resume_finishes_it(home, monkeypatch):
    store = RunStore(home)
    run_id = store.create(two_rank_config())
    monkeypatch.setenv(distributed.KILL_RANK_ENV, "1:3")  # rank 1, before the last step of epoch 2
    with pytest.raises(distributed.RankFailed, match="rank 1 of 2 was killed"):
        execute_run(store, run_id)
    status = store.status(run_id)
    assert status.state == RunState.FAILED and "rank 1 of 2 was killed (SIGKILL)" in (status.error or "")
    assert store.epochs(run_id) == [0, 1]
    monkeypatch.delenv(distributed.KILL_RANK_ENV)
    assert execute_run(store, run_id, resume=True) == RunState.FINISHED
    assert [row["epoch"] for row in store.metrics(run_id)] == [0, 1, 2]


@pytest.mark.slow
def test_a_stop_seen_by_rank_0_stops_every_rank_at_the_same_step(home):
    """Only rank 0 reads the stop (a cancel, a worker shutdown); it broadcasts it, so rank 1 does not wait for
    a step that never comes and the run ends cancelled, not failed."""
    store = RunStore(home)
    run_id = store.create(two_rank_config())
    assert execute_run(store, run_id, should_stop=lambda: True) == RunState.CANCELLED
    assert store.epochs(run_id) == [0]


def test_rank_devices_are_the_cpu_or_the_first_gpus_and_a_pinned_gpu_is_refused_in_one_line():
    assert distributed.rank_devices("cpu", 2) == ["cpu", "cpu"]
    assert distributed.rank_devices("cuda:3", 1) == ["cuda:3"]
    with pytest.raises(GapvizError, match=r"^train.devices = 2 needs device cuda or auto, not the one GPU cuda:3"):
        distributed.rank_devices("cuda:3", 2)


def test_devices_are_checked_with_the_other_settings():
    problems = {p.path: p.message for p in tiny_config(checked=False, train__devices=0).validate()}
    assert problems["train.devices"] == "must be >= 1"
    problems = {p.path: p.message for p in tiny_config(checked=False, train__devices=8).validate()}
    assert "batch size × devices must be <= data.train_size" in problems["train.devices"]
