"""The RQ job ``gapviz.queue.jobs.train_run``: train one stored run inside the worker process.

Payload: the run id, ``resume`` and the run's configured device (resolved against the worker's
``--device``, which the worker sets with :func:`set_worker_device`); the RunConfig is read from the
RunStore once, by the runner. A run with ``train.devices = N > 1`` is launched from here too: the runner
spawns its N ranks (gapviz.training.distributed) and this process keeps its bookkeeping and events. Its
device must then be ``cpu``, ``cuda`` or ``auto`` (cuda:0 … cuda:N-1): a worker pinned to one GPU
(``--device cuda:K``) fails such a run with one line, so multi-GPU runs go to a queue of whole-node workers
(docs/queue.md, Multi-GPU runs). The job wires
:func:`gapviz.training.runner.execute_run` to an :class:`~gapviz.queue.events.EventPublisher` (live events) and
to two stop causes:

- **cancel**: `gapviz cancel` sets ``cancel_requested`` in the run's status.json, the one stop signal;
  the runner's heartbeat thread reads it every ``runner.CANCEL_POLL_S`` (in a worker as in the
  foreground) and the loop stops at its next step boundary (state cancelled, finished epochs kept).
  RQ's own stop-job command kills the work horse, which a SimpleWorker does not have, and would stop
  mid-step anyway.
- **interrupt**: the worker calls :func:`request_interrupt` on SIGTERM/SIGINT (``gapviz up``
  shutting down); the run stops at its next step boundary, is marked interrupted and queued
  again at the front (``resume=True``), so it continues from its last checkpoint next time a
  worker is up.
- **failure**: execute_run records the error and traceback in status.json and re-raises; the
  job re-raises too, so RQ records the failure. :func:`on_job_failure` is the RQ failure
  callback; it handles the case no job code sees: a worker that died (SIGKILL, lost machine),
  found by RQ's abandoned-job check (see :func:`gapviz.queue.client.reap_abandoned`).

Only this module's functions run in the worker; torch is imported by the runner when a job starts
(the worker has already imported it at start-up).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

from gapviz.queue import DEFAULT_QUEUE, events
from gapviz.queue.connection import connect
from gapviz.queue.submission import enqueue_run
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore, StoreError

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger("gapviz.queue.jobs")

FLUSH_TIMEOUT_S = 10.0
REQUEUE_INTERRUPTED = True
INTERRUPT_NOTE = "interrupted by a worker shutdown"

_interrupt = threading.Event()
_worker_device = {"device": ""}
"""The device of this worker process (`gapviz worker --device`), set once at start by the worker."""


def request_interrupt() -> None:
    """Ask the job running in this process to stop at its next step and be queued again."""
    _interrupt.set()


def set_worker_device(device: str) -> None:
    """The device this worker's runs use when theirs says ``auto`` (see :func:`run_device`)."""
    _worker_device["device"] = device.strip()


def run_device(configured: str) -> str | None:
    """The device to run on: the worker's ``--device`` when the run says ``auto`` (or says CUDA and the
    worker names a GPU); otherwise None, keeping the run's own device."""
    worker_device = _worker_device["device"]
    if not worker_device:
        return None
    if configured == "auto":
        return worker_device
    if configured.startswith("cuda") and worker_device.startswith("cuda"):
        return worker_device
    return None


def _current_job() -> Any:
    from rq import get_current_job

    return get_current_job()


def train_run(run_id: str, resume: bool = False, device: str = "auto") -> dict[str, Any]:
    """Train ``run_id`` (``resume``: from its last checkpoint; ``device``: the run's configured device, from
    the payload); returns ``{"run_id", "state"}``."""
    job = _current_job()
    conn = job.connection if job is not None else connect()
    store = RunStore()
    store.existing_run_dir(run_id)
    if _cancelled_before_start(conn, store, run_id):
        return {"run_id": run_id, "state": RunState.CANCELLED.value}
    publisher = events.EventPublisher(conn, run_id)
    with contextlib.suppress(Exception):
        conn.persist(events.stream_key(run_id))
    torch = sys.modules.get("torch")  # loaded by the worker's warm-up; never imported here for callbacks
    publisher.publish_state(
        RunState.RUNNING,
        job_id=job.id if job is not None else None,
        host=socket.gethostname(),
        pid=os.getpid(),
        resume=resume,
        torch_threads=torch.get_num_threads() if torch is not None else None,
    )
    try:
        from gapviz.training.runner import execute_run

        state = execute_run(
            store,
            run_id,
            publisher,
            _interrupt.is_set,
            resume=resume,
            stopped_state=RunState.INTERRUPTED,
            device=run_device(device),
            worker=getattr(job, "worker_name", None) or "",
        )
    except BaseException as error:
        final = store.record_exception(run_id, error)
        publisher.publish_state(final, error=store.status(run_id).error)
        publisher.close(FLUSH_TIMEOUT_S)
        raise
    return _after_run(conn, store, run_id, state, publisher)


def _after_run(conn: "Redis", store: RunStore, run_id: str, state: RunState, publisher: Any) -> dict[str, Any]:
    """Publish the final state; a run stopped by a worker shutdown is interrupted and queued again."""
    requeued = False
    if state == RunState.INTERRUPTED:
        store.interrupted(run_id, note=INTERRUPT_NOTE)
        publisher.publish_state(state)
        publisher.flush(FLUSH_TIMEOUT_S)
        requeued = REQUEUE_INTERRUPTED and _requeue(conn, store, run_id)
    else:
        publisher.publish_state(state)
    publisher.close(FLUSH_TIMEOUT_S, expire=not requeued)
    return {"run_id": run_id, "state": RunState.QUEUED.value if requeued else state.value}


def _cancelled_before_start(conn: "Redis", store: RunStore, run_id: str) -> bool:
    """A run cancelled while its job was being picked up ends here, untouched."""
    status = store.status(run_id)
    if not status.cancel_requested and status.state != RunState.CANCELLED:
        return False
    store.cancelled(run_id)
    with contextlib.suppress(Exception):
        events.publish_state(conn, run_id, RunState.CANCELLED, expire=True)
    return True


def _requeue(conn: "Redis", store: RunStore, run_id: str) -> bool:
    """Queue an interrupted run again at the front, to resume; False (it stays interrupted) without Redis."""
    queue_name = store.status(run_id).queue or DEFAULT_QUEUE
    note = f"{INTERRUPT_NOTE}; queued again to resume from its last checkpoint"
    try:
        enqueue_run(conn, store, run_id, resume=True, queue_name=queue_name, at_front=True, note=note)
    except Exception as error:  # noqa: BLE001 - Redis away: the run stays interrupted; `gapviz resume` later
        log.warning("run %s interrupted and not requeued (%s); `gapviz resume %s` continues it", run_id, error, run_id)
        store.interrupted(run_id, note=INTERRUPT_NOTE)
        return False
    return True


ABANDONED_MESSAGE = (
    "worker stopped responding (killed, crashed or lost its machine) - "
    "`gapviz resume {run_id}` continues from the last checkpoint"
)


def on_job_failure(job: Any, connection: "Redis", exc_type: Any = None, exc_value: Any = None, tb: Any = None) -> None:
    """RQ failure callback. For a job whose worker died (AbandonedJobError, found by whoever cleans RQ's
    started-job registry) it marks the run failed/abandoned; a job that raised was recorded by train_run."""
    try:
        from rq.exceptions import AbandonedJobError

        if exc_type is not AbandonedJobError and not isinstance(exc_value, AbandonedJobError):
            return
        run_id = (job.meta or {}).get("run_id") or (job.args[0] if job.args else None)
        if not run_id:
            return
        store = RunStore()
        status = store.status(run_id)
        if status.state not in RunState.ACTIVE:
            return  # it ended (or was resumed as another job) before the heartbeat ran out
        if status.job_id not in (None, job.id):
            return
        message = ABANDONED_MESSAGE.format(run_id=run_id)
        store.abandoned(run_id, f"AbandonedJobError: {message}")
        with contextlib.suppress(Exception):
            events.publish_state(connection, run_id, RunState.FAILED, expire=True, error=message, abandoned=True)
    except StoreError:
        pass  # the run's store is not mounted where this cleanup ran
    except Exception:  # noqa: BLE001 - a raising callback would stop RQ's registry cleanup
        log.exception("failure callback for job %s", getattr(job, "id", "?"))
