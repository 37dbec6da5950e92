"""What the queue holds and who works on it (queues, workers, runs), and reaping jobs whose worker died."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from gapviz.queue import DEFAULT_QUEUE
from gapviz.queue.connection import (
    QUEUES_KEY,
    WORKER_INFO_KEY,
    NoTimeout,
    QueueUnavailable,
    as_text,
    connect,
    get_queue,
    unavailable_on_error,
)
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore, StoreError

if TYPE_CHECKING:
    from redis import Redis

HEARTBEAT_TTL_S = 20
"""A running job's entry in RQ's StartedJobRegistry lives this long unless its worker renews it."""
REAP_AFTER_START_S = HEARTBEAT_TTL_S + 10
"""After Redis (re)starts, live workers get this long to renew heartbeats before anything is reaped:
entries that expired while Redis was down belong to workers that are still training."""


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
        names = {as_text(name) for name in conn.smembers(QUEUES_KEY)}
    return sorted(names | {DEFAULT_QUEUE})


def workers(conn: "Redis") -> list[dict[str, Any]]:
    """Every live RQ worker: name, host, pid, state, queues, current job/run, device, last heartbeat."""
    from rq import Worker
    from rq.serializers import JSONSerializer

    rows = []
    with unavailable_on_error():
        for worker in Worker.all(connection=conn, serializer=JSONSerializer):
            extra = {as_text(k): as_text(v) for k, v in conn.hgetall(WORKER_INFO_KEY.format(name=worker.name)).items()}
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
        row: dict[str, Any] = {
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
    """Where Redis is (host:port or socket), never its password."""
    kwargs = conn.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return f"unix://{kwargs['path']}"
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
