"""Submitting and cancelling runs: submit (one run or many: a sweep), enqueue, resume, position, cancel.

The web process and the CLI import this module, never torch: a job is enqueued by dotted path
(``gapviz.queue.jobs.train_run``) with the run id as its only payload, serialized with RQ's
JSONSerializer. The RunConfig lives in the RunStore; status.json carries the run's state
(queued on submit; the worker moves it on), its RQ job id and queue.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from rq.job import JobStatus

from gapviz.config import ConfigError, RunConfig
from gapviz.queue import DEFAULT_QUEUE, events
from gapviz.queue.connection import QUEUES_KEY, QueueError, QueueUnavailable, fetch_job, get_queue, unavailable_on_error
from gapviz.queue.status import reap_abandoned
from gapviz.runs.records import RunState, RunStatus, StrEnum
from gapviz.runs.store import RunStore, new_run_id

if TYPE_CHECKING:
    from redis import Redis

JOB_FUNC = "gapviz.queue.jobs.train_run"
FAILURE_CALLBACK = "gapviz.queue.jobs.on_job_failure"
DEFAULT_JOB_TIMEOUT_S = 7 * 24 * 3600
"""Longest a run may train before RQ stops it (override: $GAPVIZ_JOB_TIMEOUT, seconds; -1: none)."""
RESULT_TTL_S = 7 * 24 * 3600
FAILURE_TTL_S = 30 * 24 * 3600
WAITING_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED)
"""RQ jobs no worker has taken yet: cancel takes them off their queue."""
ALIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED)
"""RQ jobs still queued or running: resume refuses a run whose job is one of these."""
ENDED_JOB_STATUSES = (JobStatus.CANCELED, JobStatus.STOPPED, JobStatus.FAILED, JobStatus.FINISHED)
"""RQ jobs no worker runs any more."""


class CancelOutcome(StrEnum):
    """What cancel did: the run ended now (``cancelled``), or it stops at its next step (``stopping``)."""

    CANCELLED = "cancelled"
    STOPPING = "stopping"


def job_timeout() -> int:
    """RQ's time limit for a run: $GAPVIZ_JOB_TIMEOUT seconds, else a week (-1: none)."""
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
            conn.sadd(QUEUES_KEY, queue_name)
            with contextlib.suppress(Exception):  # before the job exists: a worker's "running" must come after it
                conn.persist(events.stream_key(run_id))
                events.publish_state(conn, run_id, RunState.QUEUED, job_id=job_id, queue=queue_name, resume=resume)
            job = _enqueue_job(conn, run_id, job_id, queue_name, resume=resume, device=device, at_front=at_front)
            place = job.get_position()
    except BaseException:
        with contextlib.suppress(Exception):
            store.reverted(run_id, previous)
            events.publish_state(conn, run_id, previous.state)
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
    return job.get_status(refresh=False) in (
        JobStatus.QUEUED,
        JobStatus.STARTED,
        JobStatus.DEFERRED,
        JobStatus.SCHEDULED,
    )


def position(conn: "Redis", store: RunStore, run_id: str) -> int | None:
    """0-based place of a queued run in its queue (0: next), or None when it is not waiting."""
    status = store.status(run_id)
    if status.state != RunState.QUEUED or not status.job_id:
        return None
    with unavailable_on_error():
        return get_queue(conn, status.queue or DEFAULT_QUEUE).get_job_position(status.job_id)


# ---- cancelling --------------------------------------------------------------------------------


def cancel(conn: "Redis", store: RunStore, run_id: str) -> CancelOutcome:
    """Cancel a run: a queued one leaves the queue at once (returns CANCELLED); a running one stops at
    its next step boundary, keeping its finished epochs (returns STOPPING); a dead one ends at once.

    The one stop signal is ``cancel_requested`` in status.json (RunStore.request_cancel): the runner's
    heartbeat thread reads it, in a worker or in the foreground, and a worker picking the job up checks it."""
    with contextlib.suppress(QueueUnavailable):
        reap_abandoned(conn)  # a queued run whose worker died is marked abandoned now, not at the next reap
    status = store.status(run_id)  # a foreground run whose process died reads as abandoned
    if status.abandoned and status.state == RunState.FAILED:
        store.cancelled(run_id)
        return CancelOutcome.CANCELLED
    if status.state.is_terminal:
        raise QueueError(f"run {run_id} is already {status.state.value}")
    store.request_cancel(run_id)  # first: a worker that picks the job up right now sees it before training
    with unavailable_on_error():
        if _nothing_runs(conn, status) and store.state(run_id) in (RunState.CREATED, RunState.QUEUED):
            # Nothing runs it (any more), and no worker moved it on: it is cancelled now.
            store.cancelled(run_id)
            with contextlib.suppress(Exception):
                events.publish_state(conn, run_id, RunState.CANCELLED, expire=True)
            return CancelOutcome.CANCELLED
    return CancelOutcome.STOPPING


def _nothing_runs(conn: "Redis", status: RunStatus) -> bool:
    """Take the run's job off its queue if it waits there; True when no worker has (or will have) it."""
    from rq.exceptions import InvalidJobOperation

    job = fetch_job(conn, status.job_id)
    job_state = job.get_status(refresh=False) if job is not None else None
    if job is not None and job_state in WAITING_JOB_STATUSES:
        with contextlib.suppress(InvalidJobOperation):
            job.cancel()
        job_state = JobStatus.CANCELED
    return job is None or job_state in ENDED_JOB_STATUSES or status.state == RunState.CREATED
