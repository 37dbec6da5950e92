"""Which RQ jobs a gapviz worker runs: only gapviz's own job function, with its own failure callback.

RQ imports and calls whatever dotted name a job in Redis carries (``os.makedirs``, ``os.system``...).
Anyone who can write to Redis could make a worker run it. The Redis password is the first defence;
this allow-list is the second: any other job is failed, with a message saying why, before
anything it names is imported, and without its callbacks, retries or webhooks.
"""

from __future__ import annotations

from typing import Any

from gapviz.queue.submission import FAILURE_CALLBACK, JOB_FUNC

ALLOWED_FUNCTIONS = frozenset({JOB_FUNC})
ALLOWED_CALLBACKS = frozenset({FAILURE_CALLBACK})


def job_problem(job: Any) -> str | None:
    """Why a worker must not run ``job`` (a foreign function, callback or webhook), or None if it may."""
    try:
        func_name = job.func_name
    except Exception:  # noqa: BLE001 - the payload cannot be read (not JSON, not RQ's layout)
        return f"job {job.id}: its payload cannot be read; gapviz workers run only {', '.join(ALLOWED_FUNCTIONS)}"
    if func_name not in ALLOWED_FUNCTIONS or getattr(job, "instance", None) is not None:
        allowed = ", ".join(sorted(ALLOWED_FUNCTIONS))
        return f"job {job.id}: {func_name!r} is not a gapviz job; gapviz workers run only {allowed}"
    for kind in ("success", "failure", "stopped"):
        name = getattr(job, f"_{kind}_callback_name", None)
        if name and name not in ALLOWED_CALLBACKS:
            return f"job {job.id}: its on_{kind} callback {name!r} is not gapviz's; the job is refused"
    if getattr(job, "webhooks", None):
        return f"job {job.id}: gapviz jobs have no webhooks; the job is refused"
    return None


def disarm(job: Any) -> None:
    """Strip a refused job of everything RQ would still run or send when failing it."""
    for kind in ("success", "failure", "stopped"):
        setattr(job, f"_{kind}_callback_name", None)
        setattr(job, f"_{kind}_callback", None)
    job.webhooks = []
    job.retries_left = None
