"""The run queue: RQ on Redis. Connect, submit (one run or many: a sweep), cancel, resume, status.

The web process and the CLI import this module, never torch: a job is enqueued by dotted path
(``gapviz.queue.jobs.train_run``) with the run id as its only payload, serialized with RQ's
JSONSerializer. The RunConfig lives in the RunStore; status.json carries the run's state
(queued on submit; the worker moves it on), its RQ job id and queue.

Redis: ``REDIS_URL`` (redis:// or rediss://) when set, else the embedded server recorded under
``$GAPVIZ_HOME/redis/server.json`` (started by `gapviz up`). When neither answers, calls raise
:class:`QueueUnavailable`, whose message starts with "queue unavailable".
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator
from uuid import uuid4

from rq.timeouts import BaseDeathPenalty

from gapviz.config import ConfigError, RunConfig
from gapviz.errors import GapvizError
from gapviz.queue import DEFAULT_QUEUE, events
from gapviz.runs.records import RunState, RunStatus
from gapviz.runs.store import RunStore, StoreError, gapviz_home, new_run_id

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue

JOB_FUNC = "gapviz.queue.jobs.train_run"
FAILURE_CALLBACK = "gapviz.queue.jobs.on_job_failure"
DEFAULT_JOB_TIMEOUT_S = 7 * 24 * 3600
"""Longest a run may train before RQ stops it (override: $GAPVIZ_JOB_TIMEOUT, seconds; -1: none)."""
RESULT_TTL_S = 7 * 24 * 3600
FAILURE_TTL_S = 30 * 24 * 3600
CANCEL_KEY = "gapviz:cancel:{run_id}"
CANCEL_TTL_S = 7 * 24 * 3600
QUEUES_KEY = "gapviz:queues"
"""Names of the queues gapviz has used (a Redis set), so status and the reaper skip other apps' queues."""
WORKER_INFO_KEY = "gapviz:worker:{name}"
"""Per-worker extras (device, GPU) next to RQ's worker hash; refreshed by the worker."""
HEARTBEAT_TTL_S = 20
"""A running job's entry in RQ's StartedJobRegistry lives this long unless its worker renews it."""
REAP_AFTER_START_S = HEARTBEAT_TTL_S + 10
"""After Redis (re)starts, live workers get this long to renew heartbeats before anything is reaped:
entries that expired while Redis was down belong to workers that are still training."""
CONNECT_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 30.0


class QueueUnavailable(GapvizError, RuntimeError):
    """Redis cannot be reached (not started, wrong URL or password, restarting)."""


class QueueError(GapvizError):
    """A request the queue cannot honour (cancel a finished run, resume a running one, ...)."""


# ---- connecting --------------------------------------------------------------------------------


def redis_url(home: str | Path | None = None) -> str:
    """$REDIS_URL, else the URL of the embedded server recorded under ``home``."""
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise QueueUnavailable("queue unavailable: REDIS_URL must start with redis://, rediss:// or unix://")
        return url
    from gapviz.queue.redis_server import read_record

    info = read_record(gapviz_home(home))
    if info is None:
        raise QueueUnavailable(
            f"queue unavailable: no Redis - start one with `gapviz up` (home {gapviz_home(home)}) or set REDIS_URL"
        )
    return info.url


def connect(home: str | Path | None = None, url: str | None = None, *, check: bool = True) -> "Redis":
    """A Redis client for the queue; ``check`` pings it first (QueueUnavailable if it does not answer)."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    url = url or redis_url(home)
    try:
        conn = redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            health_check_interval=15,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), 3),
        )
    except ValueError as error:
        raise QueueUnavailable(f"queue unavailable: bad Redis URL ({error})") from None
    if check:
        with unavailable_on_error():
            conn.ping()
    return conn


@contextlib.contextmanager
def unavailable_on_error() -> Iterator[None]:
    """Turn Redis connection, timeout and auth errors into QueueUnavailable."""
    import redis

    try:
        yield
    except redis.exceptions.AuthenticationError as error:
        raise QueueUnavailable(f"queue unavailable: Redis refused the password ({error})") from None
    except (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        redis.exceptions.BusyLoadingError,
        OSError,
    ) as error:
        raise QueueUnavailable(f"queue unavailable: {error}") from None


def get_queue(conn: "Redis", name: str = DEFAULT_QUEUE) -> "Queue":
    """An RQ queue with the JSON serializer (no pickle crosses Redis)."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    return Queue(name, connection=conn, serializer=JSONSerializer, death_penalty_class=NoTimeout)


class NoTimeout(BaseDeathPenalty):
    """Lets RQ run our failure callback from any thread (its SIGALRM penalty works in the main thread
    only); the callback is a short status.json write."""

    def setup_death_penalty(self) -> None:
        pass

    def cancel_death_penalty(self) -> None:
        pass


def job_timeout() -> int:
    raw = os.environ.get("GAPVIZ_JOB_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_JOB_TIMEOUT_S
    try:
        value = int(raw)
    except ValueError:
        raise QueueError(f"GAPVIZ_JOB_TIMEOUT must be whole seconds (-1: no limit), not {raw!r}") from None
    if value == 0 or value < -1:
        raise QueueError("GAPVIZ_JOB_TIMEOUT must be > 0 seconds, or -1 for no limit")
    return value


def cancel_key(run_id: str) -> str:
    return CANCEL_KEY.format(run_id=run_id)


# ---- submitting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    run_id: str
    job_id: str
    queue: str
    position: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def submit(
    conn: "Redis",
    store: RunStore,
    cfg: RunConfig,
    *,
    queue_name: str = DEFAULT_QUEUE,
    group: str = "",
    tags: tuple[str, ...] = (),
) -> Submission:
    """Validate ``cfg``, create its run in the store and queue it; a run that cannot be queued is removed."""
    cfg.check()
    store.check_references(cfg)
    run_id = store.create(cfg, group=group, tags=tags)
    try:
        return enqueue_run(conn, store, run_id, queue_name=queue_name)
    except BaseException:
        with contextlib.suppress(Exception):
            store.delete(run_id)
        raise


def submit_many(
    conn: "Redis",
    store: RunStore,
    configs: list[RunConfig],
    *,
    queue_name: str = DEFAULT_QUEUE,
    group: str | None = None,
    tags: tuple[str, ...] = (),
) -> tuple[str, list[Submission]]:
    """Queue several runs (e.g. ``config.sweep(...)``) as one group; every config is checked before any is queued.

    ``group`` defaults to a new ``sweep-<id>`` for more than one run and to none for a single one.
    Returns (group, submissions) in the order of ``configs``.
    """
    problems = [p for cfg in configs for p in cfg.validate()]
    if problems:
        raise ConfigError(list({str(p): p for p in problems}.values()))
    for cfg in configs:
        store.check_references(cfg)
    if group is None:
        group = f"sweep-{new_run_id()}" if len(configs) > 1 else ""
    return group, [submit(conn, store, cfg, queue_name=queue_name, group=group, tags=tags) for cfg in configs]


def enqueue_run(
    conn: "Redis",
    store: RunStore,
    run_id: str,
    *,
    resume: bool = False,
    queue_name: str = DEFAULT_QUEUE,
    at_front: bool = False,
    note: str = "",
) -> Submission:
    """Queue an existing run (``resume``: continue from its last checkpoint). status.json says queued first,
    so the worker's "running" can never be overwritten by it; on failure the old status comes back."""
    previous = store.status(run_id)
    device = store.config(run_id).device
    job_id = uuid4().hex
    store.queued(run_id, job_id=job_id, queue_name=queue_name, resume=resume, note=note)
    try:
        with unavailable_on_error():
            conn.delete(cancel_key(run_id))
            conn.sadd(QUEUES_KEY, queue_name)
            job = _enqueue_job(conn, run_id, job_id, queue_name, resume=resume, device=device, at_front=at_front)
            with contextlib.suppress(Exception):
                conn.persist(events.stream_key(run_id))
                events.publish_state(conn, run_id, RunState.QUEUED, job_id=job_id, queue=queue_name, resume=resume)
            place = job.get_position()
    except BaseException:
        with contextlib.suppress(Exception):
            store.reverted(run_id, previous)
        raise
    return Submission(run_id=run_id, job_id=job_id, queue=queue_name, position=place)


def _enqueue_job(
    conn: "Redis", run_id: str, job_id: str, queue_name: str, *, resume: bool, device: str, at_front: bool
) -> Any:
    """The RQ job: JSON payload (run id, resume, the run's device), failure callback, time limits."""
    from rq import Callback

    return get_queue(conn, queue_name).enqueue(
        JOB_FUNC,
        args=(run_id,),
        kwargs={"resume": resume, "device": device},
        job_id=job_id,
        job_timeout=job_timeout(),
        result_ttl=RESULT_TTL_S,
        failure_ttl=FAILURE_TTL_S,
        description=f"train run {run_id}" + (" (resume)" if resume else ""),
        meta={"run_id": run_id, "resume": resume},
        at_front=at_front,
        on_failure=Callback(FAILURE_CALLBACK),
    )


def resume(conn: "Redis", store: RunStore, run_id: str, *, queue_name: str | None = None) -> Submission:
    """Queue a failed, cancelled or interrupted run again, to continue from its last checkpoint."""
    status = store.status(run_id)  # a dead foreground run reads as abandoned (failed) here
    if status.state in RunState.ACTIVE and (not status.job_id or _job_alive(conn, status)):
        where = "" if status.job_id else f" in process {status.pid} on {status.host}"
        raise QueueError(f"run {run_id} is {status.state.value}{where}; cancel it first or wait for it to end")
    if status.state == RunState.FINISHED:
        raise QueueError(f"run {run_id} already finished all its epochs")
    return enqueue_run(conn, store, run_id, resume=True, queue_name=queue_name or status.queue or DEFAULT_QUEUE)


def _job_alive(conn: "Redis", status: RunStatus) -> bool:
    """Whether the run's RQ job is still queued or running (False if Redis forgot it)."""
    job = fetch_job(conn, status.job_id)
    if job is None:
        return False
    return job.get_status(refresh=False) in ("queued", "started", "deferred", "scheduled")


def fetch_job(conn: "Redis", job_id: str | None) -> Any:
    """The RQ job ``job_id`` (None when Redis does not know it)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.serializers import JSONSerializer

    if not job_id:
        return None
    with unavailable_on_error():
        try:
            return Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
        except NoSuchJobError:
            return None


def position(conn: "Redis", store: RunStore, run_id: str) -> int | None:
    """0-based place of a queued run in its queue (0: next), or None when it is not waiting."""
    status = store.status(run_id)
    if status.state != RunState.QUEUED or not status.job_id:
        return None
    with unavailable_on_error():
        return get_queue(conn, status.queue or DEFAULT_QUEUE).get_job_position(status.job_id)


# ---- cancelling --------------------------------------------------------------------------------


def cancel(conn: "Redis", store: RunStore, run_id: str) -> str:
    """Cancel a run: a queued one leaves the queue at once (returns "cancelled"); a running one stops at
    its next step boundary, keeping its finished epochs (returns "stopping"); a dead one ends at once."""
    with contextlib.suppress(QueueUnavailable):
        reap_abandoned(conn)  # a queued run whose worker died is marked abandoned now, not at the next reap
    status = store.status(run_id)  # a foreground run whose process died reads as abandoned
    if status.abandoned and status.state == RunState.FAILED:
        store.cancelled(run_id)
        return "cancelled"
    if status.state.is_terminal:
        raise QueueError(f"run {run_id} is already {status.state.value}")
    with unavailable_on_error():
        # The key first: a worker that picks the job up right now sees it before training.
        conn.set(cancel_key(run_id), "1", ex=CANCEL_TTL_S)
        if _nothing_runs(conn, status) and store.state(run_id) in (RunState.CREATED, RunState.QUEUED):
            # Nothing runs it (any more), and no worker moved it on: it is cancelled now.
            store.cancelled(run_id)
            with contextlib.suppress(Exception):
                events.publish_state(conn, run_id, RunState.CANCELLED, expire=True)
            conn.delete(cancel_key(run_id))
            return "cancelled"
    store.request_cancel(run_id)  # a foreground run reads it from status.json, a queued one from the key
    return "stopping"


def _nothing_runs(conn: "Redis", status: RunStatus) -> bool:
    """Take the run's job off its queue if it waits there; True when no worker has (or will have) it."""
    from rq.exceptions import InvalidJobOperation

    job = fetch_job(conn, status.job_id)
    job_state = job.get_status(refresh=False) if job is not None else None
    if job is not None and job_state in ("queued", "deferred", "scheduled", "created"):
        with contextlib.suppress(InvalidJobOperation):
            job.cancel()
        job_state = "canceled"
    return job is None or job_state in ("canceled", "stopped", "failed", "finished") or status.state == RunState.CREATED


def cancel_requested(conn: "Redis", run_id: str) -> bool:
    return bool(conn.exists(cancel_key(run_id)))


# ---- abandoned jobs ----------------------------------------------------------------------------


def reap_abandoned(
    conn: "Redis", queue_names: list[str] | None = None, *, min_uptime_s: float = REAP_AFTER_START_S
) -> list[str]:
    """Move jobs whose worker stopped heart-beating to RQ's failed registry (RQ calls our failure
    callback, which marks the run failed); returns their job ids. Safe from any thread or process.
    ``queue_names``: default every gapviz queue (a worker reaps for all, not just its own queues)."""
    from rq.registry import StartedJobRegistry
    from rq.serializers import JSONSerializer
    from rq.utils import current_timestamp

    reaped: list[str] = []
    with unavailable_on_error():
        if min_uptime_s > 0 and int(conn.info("server").get("uptime_in_seconds", 0)) < min_uptime_s:
            return reaped
        names = queue_names if queue_names is not None else queue_names_known(conn)
        for name in names:
            registry = StartedJobRegistry(
                name, connection=conn, serializer=JSONSerializer, death_penalty_class=NoTimeout
            )
            expired = registry.get_expired_job_ids(current_timestamp())
            if expired:
                registry.cleanup()
                reaped.extend(expired)
    return reaped


def queue_names_known(conn: "Redis") -> list[str]:
    """Every queue gapviz submitted to or a gapviz worker listened on (plus the default one)."""
    with unavailable_on_error():
        names = {_text(name) for name in conn.smembers(QUEUES_KEY)}
    return sorted(names | {DEFAULT_QUEUE})


# ---- status ------------------------------------------------------------------------------------


def workers(conn: "Redis") -> list[dict[str, Any]]:
    """Every live RQ worker: name, host, pid, state, queues, current job/run, device, last heartbeat."""
    from rq import Worker
    from rq.serializers import JSONSerializer

    rows = []
    with unavailable_on_error():
        for worker in Worker.all(connection=conn, serializer=JSONSerializer):
            extra = {_text(k): _text(v) for k, v in conn.hgetall(WORKER_INFO_KEY.format(name=worker.name)).items()}
            current = worker.get_current_job_id()
            rows.append(
                {
                    "name": worker.name,
                    "hostname": worker.hostname,
                    "pid": worker.pid,
                    "state": worker.get_state(),
                    "queues": worker.queue_names(),
                    "job_id": current,
                    "run_id": extra.get("run_id") if current else None,
                    "device": extra.get("device", ""),
                    "last_heartbeat": worker.last_heartbeat.timestamp() if worker.last_heartbeat else None,
                    "successful_jobs": worker.successful_job_count,
                    "failed_jobs": worker.failed_job_count,
                }
            )
    return sorted(rows, key=lambda row: row["name"])


def queues(conn: "Redis") -> list[dict[str, Any]]:
    """Per queue: waiting, running, failed, finished and cancelled job counts."""
    from rq.registry import CanceledJobRegistry, FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
    from rq.serializers import JSONSerializer

    rows = []
    with unavailable_on_error():
        for name in queue_names_known(conn):
            q = get_queue(conn, name)
            kw: dict[str, Any] = {"connection": conn, "serializer": JSONSerializer}
            started = StartedJobRegistry(name, death_penalty_class=NoTimeout, **kw)
            rows.append(
                {
                    "name": name,
                    "queued": q.count,
                    "running": started.get_job_count(cleanup=False),
                    "failed": FailedJobRegistry(name, **kw).get_job_count(cleanup=False),
                    "finished": FinishedJobRegistry(name, **kw).get_job_count(cleanup=False),
                    "cancelled": CanceledJobRegistry(name, **kw).get_job_count(cleanup=False),
                }
            )
    return rows


def queue_status(conn: "Redis") -> dict[str, Any]:
    """A one-line summary for pages: waiting and running jobs over all queues, and live workers."""
    from rq import Worker

    rows = queues(conn)
    with unavailable_on_error():
        worker_count = Worker.count(connection=conn)
    return {
        "available": True,
        "queued": sum(row["queued"] for row in rows),
        "running": sum(row["running"] for row in rows),
        "workers": worker_count,
        "queues": rows,
    }


def run_rows(store: RunStore, conn: "Redis | None" = None, *, limit: int = 20) -> list[dict[str, Any]]:
    """Active runs (queued, running) plus the ``limit`` newest others, with queue position where queued."""
    rows = []
    for index, run_id in enumerate(store.run_ids()):
        try:
            status = store.status(run_id)
            summary = store.summary(run_id)
        except (StoreError, ValueError):
            continue
        if status.state not in RunState.ACTIVE and index >= limit:
            continue
        row = {
            "run_id": run_id,
            "name": summary.name,
            "state": status.state.value,
            "group": summary.group,
            "epochs_done": summary.epochs_done,
            "epochs_total": summary.epochs_total,
            "queue": status.queue,
            "job_id": status.job_id,
            "position": None,
            "error": status.error,
            "progress": status.progress,
            "host": status.host,
            "cancel_requested": status.cancel_requested,
            "abandoned": status.abandoned,
        }
        if conn is not None and status.state == RunState.QUEUED and row["job_id"]:
            with contextlib.suppress(Exception):
                row["position"] = get_queue(conn, row["queue"] or DEFAULT_QUEUE).get_job_position(row["job_id"])
        rows.append(row)
    return rows


def status(store: RunStore, conn: "Redis | None" = None, *, limit: int = 20) -> dict[str, Any]:
    """Queues, workers and runs; with Redis away, ``available`` is False and runs come from the store alone."""
    report: dict[str, Any] = {"available": False, "error": "", "redis": "", "queues": [], "workers": [], "runs": []}
    try:
        if conn is None:
            conn = connect(store.home)
        with unavailable_on_error():
            conn.ping()
        reap_abandoned(conn)
        report["queues"] = queues(conn)
        report["workers"] = workers(conn)
        report["available"] = True
        report["redis"] = _safe_location(conn)
    except QueueUnavailable as error:
        report["error"] = str(error)
        conn = None
    report["runs"] = run_rows(store, conn, limit=limit)
    return report


def _safe_location(conn: "Redis") -> str:
    kwargs = conn.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}"
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
