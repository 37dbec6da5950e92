"""Connecting to the queue's Redis: the URL, the client, errors as QueueUnavailable, RQ queues and jobs.

Redis: ``REDIS_URL`` (redis:// or rediss://) when set, else the embedded server recorded under
``$GAPVIZ_HOME/redis/server.json`` (started by `gapviz up`). When neither answers, calls raise
:class:`QueueUnavailable`, whose message starts with "queue unavailable". Also the Redis key names the
submission, status and worker code share.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from rq.timeouts import BaseDeathPenalty

from gapviz.errors import GapvizError
from gapviz.queue import DEFAULT_QUEUE
from gapviz.runs.store import gapviz_home

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue

QUEUES_KEY = "gapviz:queues"
"""Names of the queues gapviz has used (a Redis set), so status and the reaper skip other apps' queues."""
WORKER_INFO_KEY = "gapviz:worker:{name}"
"""Per-worker extras (device, GPU) next to RQ's worker hash; refreshed by the worker."""
CONNECT_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 30.0


class QueueUnavailable(GapvizError, RuntimeError):
    """Redis cannot be reached (not started, wrong URL or password, restarting)."""


class QueueError(GapvizError):
    """A request the queue cannot honour (cancel a finished run, resume a running one, ...)."""


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


def as_text(value: Any) -> str:
    """A Redis reply as str (bytes decoded), since the client returns bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)
