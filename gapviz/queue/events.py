"""Live events of a run: a Redis Stream per run, written by the worker, read by the app and the CLI.

Stream ``gapviz:events:<run_id>``; every entry has three text fields: ``kind`` (``step``,
``epoch`` or ``state``), ``ts`` (Unix time when the event happened, for latency) and ``data``
(JSON). Epoch entries carry the metrics and the 2-D projections as base64 float16 (never the
embeddings: those stay in the RunStore). Steps are throttled (at most one per
``STEP_INTERVAL_S``, plus the last step of each epoch); epochs and state changes always go out.
The stream is trimmed to about ``STREAM_MAXLEN`` entries and expires ``STREAM_TTL_S`` after the
run ends: Redis carries the live view, the RunStore is the record. :class:`RunFollower` merges
both, so a page opened late (or after the stream expired) replays the whole run, then follows.

Everything that lands in Redis is UTF-8 JSON or plain text; nothing is pickled.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gapviz.fsio import json_clean
from gapviz.runs.records import EpochRecord, RunState, StepProgress, StrEnum

if TYPE_CHECKING:
    from redis import Redis

    from gapviz.runs.store import RunStore

log = logging.getLogger("gapviz.queue.events")

STREAM_PREFIX = "gapviz:events:"
STREAM_MAXLEN = 10_000
"""Entries kept per run (approximate trim). Steps come at <= 4/s, so this holds the last ~40 min of
steps; epochs older than that are replayed from the RunStore by RunFollower."""
STREAM_TTL_S = 7 * 24 * 3600
"""A finished run's stream expires after this; its record stays on disk."""
STEP_INTERVAL_S = 0.25
"""At most 4 step events per second (the last step of an epoch is always sent)."""
MAX_PENDING = 2_000
"""Events waiting for Redis (e.g. while it restarts); beyond this the oldest steps are dropped."""
RETRY_MAX_S = 2.0


class EventKind(StrEnum):
    """What a stream entry carries: one optimiser step's progress, an epoch's record, or a state change."""

    STEP = "step"
    EPOCH = "epoch"
    STATE = "state"


KIND_STEP, KIND_EPOCH, KIND_STATE = EventKind.STEP, EventKind.EPOCH, EventKind.STATE
"""Aliases of the EventKind members, kept for callers that still use the old names."""


def stream_key(run_id: str) -> str:
    return f"{STREAM_PREFIX}{run_id}"


@dataclass(frozen=True)
class Event:
    """One entry of a run's stream (or of its RunStore replay, whose ids start with ``store:``)."""

    id: str
    kind: str
    run_id: str
    ts: float
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def epoch(self) -> int | None:
        value = self.data.get("epoch")
        return int(value) if value is not None else None

    @property
    def projections(self) -> dict[str, np.ndarray]:
        """Epoch events: method -> (N + M, 2) float32, image rows first."""
        return self.data.get("projections", {})

    @property
    def state(self) -> RunState | None:
        """A state event's RunState (None for other kinds, and for a state this version does not know)."""
        value = self.data.get("state") if self.kind == EventKind.STATE else None
        return RunState(value) if isinstance(value, str) and value in RunState._value2member_map_ else None


# ---- encoding ----------------------------------------------------------------------------------


def encode_array(array: np.ndarray, dtype: str = "<f2") -> dict[str, Any]:
    """A small array as JSON: shape, little-endian dtype and base64 bytes."""
    packed = np.ascontiguousarray(np.asarray(array).astype(dtype))
    return {"shape": list(packed.shape), "dtype": dtype, "b64": base64.b64encode(packed.tobytes()).decode("ascii")}


def decode_array(blob: dict[str, Any]) -> np.ndarray:
    raw = base64.b64decode(blob["b64"])
    return np.frombuffer(raw, dtype=np.dtype(blob["dtype"])).reshape(blob["shape"]).astype(np.float32)


def step_fields(run_id: str, progress: StepProgress, ts: float | None = None) -> dict[str, str]:
    return _fields(EventKind.STEP, run_id, progress.to_dict(), ts)


def epoch_payload(
    epoch: int, global_step: int, metrics: dict[str, Any], n_image: int, n_text: int, projections: dict[str, Any]
) -> dict[str, Any]:
    """The data of an epoch event, live (from an EpochRecord) or replayed (from the RunStore): one shape."""
    return {
        "epoch": int(epoch),
        "global_step": int(global_step),
        "metrics": metrics,
        "n_image": int(n_image),
        "n_text": int(n_text),
        "projections": projections,
    }


def epoch_fields(run_id: str, record: EpochRecord, ts: float | None = None) -> dict[str, str]:
    data = epoch_payload(
        record.epoch,
        record.global_step,
        record.metrics,
        len(record.image_embeddings),
        len(record.text_embeddings),
        {method: encode_array(coords) for method, coords in record.projections.items()},
    )
    return _fields(EventKind.EPOCH, run_id, data, ts)


def state_fields(run_id: str, state: RunState | str, ts: float | None = None, **extra: Any) -> dict[str, str]:
    value = state.value if isinstance(state, RunState) else str(state)
    return _fields(EventKind.STATE, run_id, {"state": value, **extra}, ts)


def _fields(kind: EventKind, run_id: str, data: dict[str, Any], ts: float | None) -> dict[str, str]:
    return {
        "kind": kind,
        "run": run_id,
        "ts": repr(time.time() if ts is None else ts),
        "data": json.dumps(json_clean(data), separators=(",", ":"), allow_nan=False),
    }


def decode_entry(entry_id: Any, fields: dict[Any, Any]) -> Event:
    text = {_text(k): _text(v) for k, v in fields.items()}
    data = json.loads(text.get("data", "{}"))
    if text.get("kind") == EventKind.EPOCH:
        data["projections"] = {m: decode_array(blob) for m, blob in data.get("projections", {}).items()}
    kind, run_id, ts = text.get("kind", ""), text.get("run", ""), float(text.get("ts", 0))
    return Event(id=_text(entry_id), kind=kind, run_id=run_id, ts=ts, data=data)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ---- publishing --------------------------------------------------------------------------------


def publish_state(conn: "Redis", run_id: str, state: RunState | str, *, expire: bool = False, **extra: Any) -> str:
    """Add one state event now (used by submit, cancel and the abandoned-job handler)."""
    pipe = conn.pipeline(transaction=False)
    pipe.xadd(stream_key(run_id), state_fields(run_id, state, **extra), maxlen=STREAM_MAXLEN, approximate=True)
    if expire:
        pipe.expire(stream_key(run_id), STREAM_TTL_S)
    return _text(pipe.execute()[0])


class EventPublisher:
    """A TrainSink that streams a run's steps (throttled) and epochs to Redis.

    ``on_step``/``on_epoch`` only encode and append to an in-memory queue, so the training loop
    never waits on the network; a background thread sends batches with one pipelined round trip
    and retries while Redis is away (the oldest step events are dropped past ``max_pending``;
    epochs and states are kept). :meth:`close` flushes, then marks the stream to expire.
    """

    def __init__(
        self,
        conn: "Redis",
        run_id: str,
        *,
        maxlen: int = STREAM_MAXLEN,
        step_interval: float = STEP_INTERVAL_S,
        max_pending: int = MAX_PENDING,
    ):
        if maxlen < 100:
            raise ValueError("maxlen must be at least 100 so a run's epochs are not trimmed at once")
        if step_interval < 0:
            raise ValueError("step_interval must be >= 0 seconds")
        self.conn, self.run_id, self.key = conn, run_id, stream_key(run_id)
        self.maxlen, self.step_interval, self.max_pending = maxlen, step_interval, max_pending
        self.sent = self.dropped = self.errors = 0
        self._pending: deque[tuple[bool, dict[str, str]]] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closing = False
        self._give_up = False
        self._last_step = -math.inf
        self._thread: threading.Thread | None = None

    # TrainSink
    def on_step(self, progress: StepProgress) -> None:
        now = time.monotonic()
        last_of_epoch = progress.step >= progress.steps_per_epoch
        if now - self._last_step < self.step_interval and not last_of_epoch:
            return
        self._last_step = now
        self._put(step_fields(self.run_id, progress), droppable=True)

    def on_epoch(self, record: EpochRecord) -> None:
        self._put(epoch_fields(self.run_id, record))

    def publish_state(self, state: RunState | str, **extra: Any) -> None:
        self._put(state_fields(self.run_id, state, **extra))

    def _put(self, fields: dict[str, str], droppable: bool = False) -> None:
        with self._cond:
            if self._closing:
                return
            self._pending.append((droppable, fields))
            if len(self._pending) > self.max_pending:
                self._drop_oldest_step()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"events-{self.run_id}", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _drop_oldest_step(self) -> None:
        for index, (droppable, _) in enumerate(self._pending):
            if droppable:
                del self._pending[index]
                self.dropped += 1
                return

    def _run(self) -> None:
        import redis

        backoff = 0.1
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending or self._give_up:
                    self._cond.notify_all()
                    return
                batch = list(self._pending)
                self._pending.clear()
                self._busy = True
            try:
                pipe = self.conn.pipeline(transaction=False)
                for _, fields in batch:
                    pipe.xadd(self.key, fields, maxlen=self.maxlen, approximate=True)
                pipe.execute()
                sent, failed = len(batch), False
                backoff = 0.1
            except (redis.exceptions.RedisError, OSError) as error:
                sent, failed = 0, True
                self.errors += 1
                if self.errors == 1 or self.errors % 50 == 0:
                    log.warning("events for run %s not sent (%s); retrying", self.run_id, error)
            with self._cond:
                self.sent += sent
                self._busy = False
                if failed:
                    self._pending.extendleft(reversed(batch))
                    while len(self._pending) > self.max_pending and any(d for d, _ in self._pending):
                        self._drop_oldest_step()
                self._cond.notify_all()
            if failed:
                with self._cond:
                    self._cond.wait_for(lambda: self._give_up, timeout=backoff)
                backoff = min(RETRY_MAX_S, backoff * 2)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far reached Redis; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            idle = lambda: not self._pending and not self._busy  # noqa: E731
            return self._cond.wait_for(idle, timeout=max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float = 5.0, *, expire: bool = True) -> bool:
        """Flush (up to ``timeout``), stop the sender and let the stream expire; False if events were lost."""
        flushed = self.flush(timeout)
        with self._cond:
            self._closing = True
            self._give_up = True
            lost = len(self._pending)
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if expire:
            try:
                self.conn.expire(self.key, STREAM_TTL_S)
            except Exception:  # noqa: BLE001 - Redis away: the stream has no TTL yet, nothing lost
                pass
        if lost:
            log.warning("run %s: %d events not sent to Redis (the RunStore has the epochs)", self.run_id, lost)
        return flushed and not lost


# ---- reading -----------------------------------------------------------------------------------


def read_events(
    conn: "Redis", run_id: str, last_id: str = "0-0", *, block_ms: int | None = None, count: int | None = None
) -> tuple[list[Event], str]:
    """Events after ``last_id`` (``0-0``: from the start) and the id to pass next time.

    ``block_ms`` waits up to that long for the first new event (capped below the client's socket
    timeout, which is 5 s by default in redis-py 8). Raises redis errors as they are.
    """
    if block_ms:
        timeout = conn.connection_pool.connection_kwargs.get("socket_timeout")
        if timeout:
            block_ms = max(1, min(block_ms, int(timeout * 1000) - 500))
    response = conn.xread({stream_key(run_id): last_id}, count=count, block=block_ms)
    events = [decode_entry(entry_id, fields) for entry_id, fields in _entries(response)]
    return events, (events[-1].id if events else last_id)


def _entries(response: Any) -> list[tuple[Any, dict]]:
    if not response:
        return []
    if isinstance(response, dict):  # RESP3: {stream: [[id, fields], ...]}
        return [(entry[0], entry[1]) for entries in response.values() for entry in entries]
    return [(entry[0], entry[1]) for _, entries in response for entry in entries]


def last_stream_id(conn: "Redis", run_id: str) -> str | None:
    """Id of the newest entry of the run's stream, or None when there is no stream."""
    newest = conn.xrevrange(stream_key(run_id), count=1)
    return _text(newest[0][0]) if newest else None


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def store_epoch_event(store: "RunStore", run_id: str, row: dict[str, Any]) -> Event:
    """An epoch of the RunStore as an Event (what the stream carried while the run was live)."""
    epoch = int(row["epoch"])
    try:
        arrays = store.epoch_arrays(run_id, epoch)
    except Exception:  # noqa: BLE001 - metrics without arrays still show
        arrays = {}
    metrics = {k: v for k, v in row.items() if k not in ("epoch", "step")}
    projections = {method: coords.astype(np.float32) for method, coords in store.projections(arrays).items()}
    data = epoch_payload(
        epoch, int(row.get("step", 0)), metrics, len(arrays.get("image", ())), len(arrays.get("text", ())), projections
    )
    return Event(id=f"store:{epoch}", kind=EventKind.EPOCH, run_id=run_id, ts=0.0, data=data)


class RunFollower:
    """Replay a run from the RunStore, then follow its stream; falls back to the store without Redis.

    Each :meth:`poll` returns new events in order. The first poll yields every finished epoch
    on disk, then whatever the stream holds beyond them; later polls yield only new stream
    events. When Redis is away (``available`` is False) or the stream has expired, polls read
    new epochs and the state from the store instead. Consumers keep epochs by number: an epoch
    that comes again (a resumed run redoes epochs after its checkpoint) replaces the old one.
    """

    def __init__(self, store: "RunStore", run_id: str, conn: "Redis | None" = None):
        self.store, self.run_id, self.conn = store, run_id, conn
        self.last_id = "0-0"
        self.available = conn is not None
        self.error = ""
        self.state: RunState | None = None
        self._started = False
        self._epochs_seen: set[int] = set()
        self._catchup_until: tuple[int, int] | None = None

    def poll(self, block_ms: int | None = None) -> list[Event]:
        """New events since the last poll; ``block_ms`` waits that long for live ones (not on the first poll)."""
        events: list[Event] = []
        first = not self._started
        if first:
            self._started = True
            if self.conn is not None:
                try:
                    newest = last_stream_id(self.conn, self.run_id)
                    self._catchup_until = _id_tuple(newest) if newest else None
                except Exception as error:  # noqa: BLE001
                    self._mark_unavailable(error)
            events.extend(self._disk_epochs())
        if self.conn is not None:
            events.extend(self._stream(None if first else block_ms))
        if self.conn is None or not self.available:
            events.extend(self._disk_epochs())
            self._refresh_state_from_store(events)
            if block_ms and not first:
                time.sleep(min(block_ms, 1000) / 1000)
        elif self.state is None:
            self._refresh_state_from_store(events)
        return events

    def _stream(self, block_ms: int | None) -> list[Event]:
        assert self.conn is not None
        try:
            fresh, self.last_id = read_events(self.conn, self.run_id, self.last_id, block_ms=block_ms)
        except Exception as error:  # noqa: BLE001 - Redis away: the store carries on
            self._mark_unavailable(error)
            return []
        self.available, self.error = True, ""
        kept = []
        for event in fresh:
            if event.kind == EventKind.EPOCH and event.epoch is not None:
                in_catchup = self._catchup_until is not None and _id_tuple(event.id) <= self._catchup_until
                if in_catchup and event.epoch in self._epochs_seen:
                    continue
                self._epochs_seen.add(event.epoch)
            if event.kind == EventKind.STATE:
                self.state = event.state
            kept.append(event)
        return kept

    def _mark_unavailable(self, error: BaseException) -> None:
        self.available, self.error = False, f"queue unavailable: {error}"

    def _disk_epochs(self) -> list[Event]:
        try:
            rows = self.store.metrics(self.run_id)
        except Exception:  # noqa: BLE001
            return []
        events = []
        for row in rows:
            epoch = int(row["epoch"])
            if epoch in self._epochs_seen:
                continue
            self._epochs_seen.add(epoch)
            events.append(store_epoch_event(self.store, self.run_id, row))
        return events

    def _refresh_state_from_store(self, events: list[Event]) -> None:
        try:
            state = self.store.status(self.run_id).state
        except Exception:  # noqa: BLE001
            return
        if state and state != self.state:
            self.state = state
            event_id, data = f"store:state:{state}", {"state": state}
            events.append(Event(id=event_id, kind=EventKind.STATE, run_id=self.run_id, ts=time.time(), data=data))

    @property
    def finished(self) -> bool:
        """The run reached a terminal state (no more events will come)."""
        try:
            return self.state is not None and RunState(self.state).is_terminal
        except ValueError:
            return False
