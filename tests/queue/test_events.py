"""Live events: encoding, throttled publishing, resumable reading, trimming, and the RunStore fallback."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import redis
from queue_fixtures import tiny_config

from gapviz.queue import events
from gapviz.queue.redis_server import RedisServer
from gapviz.runs.records import EpochRecord, RunState, StepProgress
from gapviz.runs.store import RunStore

pytestmark = pytest.mark.timeout(60)


def epoch_record(epoch: int, n: int = 6, m: int = 9, seed: int = 0) -> EpochRecord:
    rng = np.random.default_rng(seed + epoch)
    return EpochRecord(
        epoch=epoch,
        global_step=epoch * 4,
        metrics={"gap_distance": 0.5 + epoch, "relative_gap": float("nan"), "tau": 0.07},
        image_embeddings=rng.normal(size=(n, 8)).astype(np.float32),
        text_embeddings=rng.normal(size=(m, 8)).astype(np.float32),
        text_image_index=np.arange(m) % n,
        projections={"pca": rng.normal(size=(n + m, 2)).astype(np.float32)},
    )


def step(epoch: int, index: int, per_epoch: int = 10) -> StepProgress:
    return StepProgress(
        epoch=epoch,
        step=index,
        steps_per_epoch=per_epoch,
        global_step=(epoch - 1) * per_epoch + index,
        total_steps=per_epoch * 3,
        loss=1.0 / index,
        tau=0.07,
        lr=1e-3,
        samples_per_s=100.0,
    )


def test_epoch_event_round_trip_is_compact_json():
    record = epoch_record(1, n=50, m=70)
    fields = events.epoch_fields("run-a", record)
    assert set(fields) == {"kind", "run", "ts", "data"}
    payload = json.loads(fields["data"])  # plain JSON: NaN became null
    assert payload["metrics"]["relative_gap"] is None
    assert set(payload) == {"epoch", "global_step", "metrics", "n_image", "n_text", "projections"}
    assert payload["n_image"] == 50 and payload["n_text"] == 70
    assert len(fields["data"]) < 120 * 4 * 2  # float16 base64: ~5.3 bytes per point, not the embeddings
    event = events.decode_entry(b"1-0", {k.encode(): v.encode() for k, v in fields.items()})
    assert event.kind == "epoch" and event.run_id == "run-a" and event.epoch == 1
    assert event.projections["pca"].dtype == np.float32
    np.testing.assert_allclose(event.projections["pca"], record.projections["pca"], rtol=1e-3, atol=1e-3)


def test_steps_are_throttled_epochs_and_states_always_sent(conn):
    publisher = events.EventPublisher(conn, "run-t", step_interval=0.25)
    publisher.publish_state(RunState.RUNNING)
    publisher.on_epoch(epoch_record(0))
    for index in range(1, 11):
        publisher.on_step(step(1, index))
    publisher.on_epoch(epoch_record(1))
    assert publisher.close()
    got, _ = events.read_events(conn, "run-t")
    kinds = [e.kind for e in got]
    steps = [e.data["step"] for e in got if e.kind == "step"]
    assert kinds[0] == "state" and kinds[1] == "epoch" and kinds[-1] == "epoch"
    assert steps == [1, 10]  # the first, then (within 0.25 s) only the epoch's last step
    assert conn.ttl(events.stream_key("run-t")) > 0  # closed: the stream expires, the store stays


def test_throttle_rate_is_at_most_four_per_second(conn):
    publisher = events.EventPublisher(conn, "run-rate")
    started = time.monotonic()
    index = 0
    while time.monotonic() - started < 1.1:
        index += 1
        publisher.on_step(step(1, index, per_epoch=10**6))
        time.sleep(0.005)
    publisher.close()
    got, _ = events.read_events(conn, "run-rate")
    assert 2 <= len(got) <= 6, len(got)


def test_read_resumes_from_last_id_and_blocks_for_live_events(conn):
    publisher = events.EventPublisher(conn, "run-r", step_interval=0)
    for index in range(1, 6):
        publisher.on_step(step(1, index))
    publisher.flush()
    first, last = events.read_events(conn, "run-r", count=3)
    rest, last2 = events.read_events(conn, "run-r", last)
    assert [e.data["step"] for e in first + rest] == [1, 2, 3, 4, 5]
    assert events.read_events(conn, "run-r", last2) == ([], last2)
    publisher.on_epoch(epoch_record(1))
    live, _ = events.read_events(conn, "run-r", last2, block_ms=2000)
    assert [e.kind for e in live] == ["epoch"]
    assert time.time() - live[0].ts < 2.0
    publisher.close()


def test_streams_are_trimmed_with_maxlen(conn):
    publisher = events.EventPublisher(conn, "run-m", step_interval=0, maxlen=100)
    for index in range(1, 2001):
        publisher.on_step(step(1, index, per_epoch=10**6))
    publisher.close()
    length = conn.xlen(events.stream_key("run-m"))
    assert 100 <= length < 400  # approximate trimming (~): whole macro-nodes go


def test_bad_settings_are_rejected(conn):
    with pytest.raises(ValueError, match="maxlen"):
        events.EventPublisher(conn, "x", maxlen=10)
    with pytest.raises(ValueError, match="step_interval"):
        events.EventPublisher(conn, "x", step_interval=-1)


def test_publisher_keeps_events_while_redis_restarts(tmp_path):
    server = RedisServer(tmp_path / "r")
    server.start()
    try:
        client = redis.Redis.from_url(server.url, socket_connect_timeout=1, socket_timeout=2)
        publisher = events.EventPublisher(client, "run-x", step_interval=0)
        publisher.on_epoch(epoch_record(0))
        assert publisher.flush()
        server.kill()
        publisher.on_step(step(1, 1))  # training goes on while Redis is away: this must not block
        publisher.on_epoch(epoch_record(1))
        assert not publisher.flush(timeout=0.5)
        server.start()
        assert publisher.close(timeout=15)
        got, _ = events.read_events(client, "run-x")
        assert [(e.kind, e.epoch) for e in got] == [("epoch", 0), ("step", 1), ("epoch", 1)]
    finally:
        server.stop()


# ---- RunFollower: store + stream -------------------------------------------------------------------


def make_run(store: RunStore, epochs_on_disk: int) -> str:
    run_id = store.create(tiny_config())
    for epoch in range(epochs_on_disk):
        store.append_epoch(run_id, epoch_record(epoch))
    return run_id


def test_follower_replays_disk_then_stream_then_follows_live(conn, store):
    run_id = make_run(store, 2)
    publisher = events.EventPublisher(conn, run_id, step_interval=0)
    publisher.publish_state(RunState.RUNNING)
    publisher.on_epoch(epoch_record(0))
    publisher.on_epoch(epoch_record(1))
    publisher.on_step(step(2, 1))
    publisher.flush()
    follower = events.RunFollower(store, run_id, conn)
    first = follower.poll()
    epochs = [e.epoch for e in first if e.kind == "epoch"]
    assert epochs == [0, 1]  # from disk; the stream's copies of 0 and 1 are skipped
    assert all(e.id.startswith("store:") for e in first if e.kind == "epoch")
    assert first[0].projections["pca"].shape == (15, 2)
    assert [e.kind for e in first if not e.id.startswith("store:")] == ["state", "step"]
    assert follower.state == "running" and follower.available
    store.append_epoch(run_id, epoch_record(2))
    publisher.on_epoch(epoch_record(2))
    publisher.publish_state(RunState.FINISHED)
    publisher.close()
    later = follower.poll(block_ms=1000)
    assert [(e.kind, e.epoch if e.kind == "epoch" else e.state) for e in later] == [("epoch", 2), ("state", "finished")]
    assert follower.finished


def test_follower_reads_the_store_when_the_stream_expired(conn, store):
    run_id = make_run(store, 3)
    store.finished(run_id, 1)
    follower = events.RunFollower(store, run_id, conn)
    got = follower.poll()
    assert [e.epoch for e in got if e.kind == "epoch"] == [0, 1, 2]
    assert follower.state == "finished" and follower.finished


def test_follower_without_redis_says_unavailable_and_reads_disk(store):
    run_id = make_run(store, 1)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=None)
    follower = events.RunFollower(store, run_id, dead)
    got = follower.poll()
    assert not follower.available and follower.error.startswith("queue unavailable")
    assert [e.epoch for e in got if e.kind == "epoch"] == [0]
    store.append_epoch(run_id, epoch_record(1))
    assert [e.epoch for e in follower.poll() if e.kind == "epoch"] == [1]
    offline = events.RunFollower(store, run_id, None)
    assert [e.epoch for e in offline.poll() if e.kind == "epoch"] == [0, 1]


def test_only_text_lands_in_the_stream(conn):
    publisher = events.EventPublisher(conn, "run-j", step_interval=0)
    publisher.on_epoch(epoch_record(3))
    publisher.on_step(step(1, 1))
    publisher.publish_state(RunState.FAILED, error="boom")
    publisher.close()
    for _, fields in conn.xrange(events.stream_key("run-j")):
        for value in fields.values():
            value.decode("utf-8")  # raises on binary
            assert not value.startswith(b"\x80")  # no pickle
        data = json.loads(fields[b"data"])
        assert isinstance(data, dict)
        assert math.isfinite(float(fields[b"ts"]))
