"""The run queue: RQ on Redis. One import for callers (``from gapviz.queue import client as queue``).

Who owns what:

- :mod:`gapviz.queue.connection`: the Redis URL and client, QueueUnavailable/QueueError, RQ queues and jobs,
  the Redis key names shared by submission, status and the worker;
- :mod:`gapviz.queue.submission`: submit, submit_many, enqueue_run, resume, position, cancel (CancelOutcome),
  the job function's name and time limits, the cancel key;
- :mod:`gapviz.queue.status`: queues, workers, runs, status, and reaping jobs whose worker died.
"""

from __future__ import annotations

from gapviz.queue import DEFAULT_QUEUE
from gapviz.queue.connection import (
    CONNECT_TIMEOUT_S,
    QUEUES_KEY,
    SOCKET_TIMEOUT_S,
    WORKER_INFO_KEY,
    NoTimeout,
    QueueError,
    QueueUnavailable,
    connect,
    fetch_job,
    get_queue,
    redis_url,
    unavailable_on_error,
)
from gapviz.queue.status import (
    HEARTBEAT_TTL_S,
    REAP_AFTER_START_S,
    queue_names_known,
    queue_status,
    queues,
    reap_abandoned,
    run_rows,
    status,
    workers,
)
from gapviz.queue.submission import (
    DEFAULT_JOB_TIMEOUT_S,
    FAILURE_CALLBACK,
    FAILURE_TTL_S,
    JOB_FUNC,
    RESULT_TTL_S,
    CancelOutcome,
    Submission,
    cancel,
    enqueue_run,
    job_timeout,
    position,
    resume,
    submit,
    submit_many,
)

__all__ = [
    "CancelOutcome",
    "CONNECT_TIMEOUT_S",
    "DEFAULT_JOB_TIMEOUT_S",
    "DEFAULT_QUEUE",
    "FAILURE_CALLBACK",
    "FAILURE_TTL_S",
    "HEARTBEAT_TTL_S",
    "JOB_FUNC",
    "QUEUES_KEY",
    "REAP_AFTER_START_S",
    "RESULT_TTL_S",
    "SOCKET_TIMEOUT_S",
    "WORKER_INFO_KEY",
    "NoTimeout",
    "QueueError",
    "QueueUnavailable",
    "Submission",
    "cancel",
    "connect",
    "enqueue_run",
    "fetch_job",
    "get_queue",
    "job_timeout",
    "position",
    "queue_names_known",
    "queue_status",
    "queues",
    "reap_abandoned",
    "redis_url",
    "resume",
    "run_rows",
    "status",
    "submit",
    "submit_many",
    "unavailable_on_error",
    "workers",
]
