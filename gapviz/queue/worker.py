"""The gapviz worker: `python -m gapviz.queue.worker [--queue NAME] [--device cuda:0|cpu] [--burst]`.

Why a SimpleWorker (jobs run in the worker process, no fork per job):
- a forked job whose parent has run multi-threaded torch compute hangs forever (OpenMP is not
  fork-safe; measured), and CUDA cannot be used after a fork;
- torch, open_clip and UMAP's numba code are loaded once at start-up (:func:`warm_up`) and every
  job reuses them, so a warm worker picks a job up in milliseconds.
The price: a job that crashes the interpreter takes the worker with it, so `gapviz up` restarts
worker processes that die; a job that merely raises is recorded and the worker goes on.

Additions to RQ's SimpleWorker:
- a monitor thread renews the running job's heartbeat every ``BEAT_INTERVAL_S`` with a short TTL
  (``HEARTBEAT_TTL_S``; RQ's SimpleWorker would set job timeout + 60 s and never renew it), and
  every ``REAP_INTERVAL_S`` moves jobs of dead workers to the failed registry, so a SIGKILLed
  worker's run is marked failed within a minute;
- SIGTERM/SIGINT interrupt the running job at its next step (it is queued again to resume);
- lost Redis connections are retried, and the worker re-registers once Redis is back.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Sequence

from gapviz.errors import EXIT_ERROR, EXIT_OK
from gapviz.fsio import private_umask
from gapviz.queue import DEFAULT_QUEUE

log = logging.getLogger("gapviz.worker")

BEAT_INTERVAL_S = 5.0
REAP_INTERVAL_S = 10.0
WORKER_TTL_S = 30
"""RQ worker-key TTL basis: an idle worker renews every ~15 s; a dead one leaves `status` within ~90 s."""
RECONNECT_MAX_S = 5.0
SKIP_UMAP_ENV = "GAPVIZ_SKIP_UMAP_WARMUP"


def warm_up(skip_umap: bool = False) -> dict[str, float]:
    """Import torch, open_clip and gapviz's training code; compile UMAP's numba code (disk-cached).
    Returns the seconds each part took."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    import open_clip  # noqa: F401
    import torch

    # Multi-threaded torch compute in this process before any job: jobs run here too (no fork), and
    # the first job does not pay for starting torch's thread pool.
    (torch.randn(256, 256) @ torch.randn(256, 256)).sum().item()
    timings["torch_open_clip_s"] = time.perf_counter() - started
    mark = time.perf_counter()
    import gapviz.training.runner  # noqa: F401  (gapviz.training.loop, data, model, metrics, projection)

    timings["gapviz_s"] = time.perf_counter() - mark
    if not skip_umap:
        from gapviz.science import projection

        mark = time.perf_counter()
        projection.warm_umap()
        timings["umap_s"] = time.perf_counter() - mark
    timings["total_s"] = time.perf_counter() - started
    return timings


class _GapvizWorkerMixin:
    """What gapviz adds to RQ's SimpleWorker (see the module docstring); mixed in by :func:`_worker_class`
    so this module imports RQ only when a worker starts."""

    max_connection_wait_time = RECONNECT_MAX_S
    if TYPE_CHECKING:  # what SimpleWorker provides
        connection: Any
        name: str
        log: Any
        execution: Any

        def queue_names(self) -> list[str]: ...

        def maintain_heartbeats(self, job: Any) -> None: ...

        def prepare_job_execution(self, job: Any) -> None: ...

        def handle_job_failure(self, job: Any, queue: Any, started_job_registry: Any, exc_string: str) -> None: ...

    def __init__(self, *args: Any, device: str = "", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.device = device
        self.shutdown_requested = False
        self._job: Any = None
        self._job_lock = threading.Lock()
        self._monitor_stop = threading.Event()
        self._monitor: threading.Thread | None = None

    # -- heartbeats: short TTL, renewed by the monitor thread while a job runs
    def get_heartbeat_ttl(self, job: Any) -> int:
        from gapviz.queue.status import HEARTBEAT_TTL_S

        return HEARTBEAT_TTL_S

    def execute_job(self, job: Any, queue: Any) -> None:
        with self._job_lock:
            self._job = job
        self._write_info(job)
        try:
            super().execute_job(job, queue)  # type: ignore[misc]
        finally:
            with self._job_lock:
                self._job = None
            self._write_info(None)

    def perform_job(self, job: Any, queue: Any) -> bool:
        """Run only gapviz's own jobs (gapviz.queue.allowlist); fail any other with the reason, running nothing."""
        from gapviz.queue import allowlist

        problem = allowlist.job_problem(job)
        if problem is None:
            return super().perform_job(job, queue)  # type: ignore[misc]
        self.log.error("Worker %s: refused %s", self.name, problem)
        allowlist.disarm(job)
        self.prepare_job_execution(job)
        self.handle_job_failure(job, queue, queue.started_job_registry, exc_string=f"JobRefused: {problem}")
        return False

    def handle_execution_ended(self, job: Any, queue: Any, heartbeat_ttl: int) -> None:
        with self._job_lock:  # no heartbeat may race RQ's success/failure bookkeeping
            self._job = None
        super().handle_execution_ended(job, queue, heartbeat_ttl)  # type: ignore[misc]

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        from gapviz.queue.connection import QUEUES_KEY

        super().bootstrap(*args, **kwargs)  # type: ignore[misc]
        self.connection.sadd(QUEUES_KEY, *self.queue_names())
        self._write_info(None)
        self._monitor_stop.clear()
        self._monitor = threading.Thread(target=self._monitor_loop, name="gapviz-monitor", daemon=True)
        self._monitor.start()

    def teardown(self) -> None:
        from gapviz.queue.connection import WORKER_INFO_KEY

        self._monitor_stop.set()
        if self._monitor is not None:
            self._monitor.join(timeout=2.0)
        try:
            self.connection.delete(WORKER_INFO_KEY.format(name=self.name))
        except Exception:  # noqa: BLE001
            pass
        super().teardown()  # type: ignore[misc]

    def _monitor_loop(self) -> None:
        """Every BEAT_INTERVAL_S renew the running job's heartbeat; every REAP_INTERVAL_S reap dead workers' jobs."""
        last_beat = last_reap = time.monotonic()
        while not self._monitor_stop.wait(1.0):
            now = time.monotonic()
            try:
                if now - last_beat >= BEAT_INTERVAL_S:
                    last_beat = now
                    self._beat()
                if now - last_reap >= REAP_INTERVAL_S:
                    last_reap = now
                    self._reap()
            except Exception as error:  # noqa: BLE001 - Redis restarting: try again next tick
                self.log.debug("Worker %s: monitor: %s", self.name, error)

    def _beat(self) -> None:
        with self._job_lock:
            if self._job is not None and self.execution is not None:
                self.maintain_heartbeats(self._job)
        self._write_info(self._job, refresh_only=True)

    def _reap(self) -> None:
        from gapviz.queue.status import reap_abandoned

        reaped = reap_abandoned(self.connection)
        if reaped:
            self.log.warning("Worker %s: jobs of dead workers marked failed: %s", self.name, reaped)

    def _write_info(self, job: Any, refresh_only: bool = False) -> None:
        """Device, run id and pid next to RQ's worker hash (what `gapviz status` shows)."""
        from gapviz.queue.connection import WORKER_INFO_KEY

        key = WORKER_INFO_KEY.format(name=self.name)
        try:
            pipe = self.connection.pipeline(transaction=False)
            if not refresh_only:
                run_id = (job.meta or {}).get("run_id", "") if job is not None else ""
                pipe.hset(key, mapping={"device": self.device or "auto", "run_id": run_id, "pid": os.getpid()})
            pipe.expire(key, WORKER_TTL_S + 60)
            pipe.execute()
        except Exception:  # noqa: BLE001
            pass

    # -- shutdown: interrupt the running job at its next step
    def request_stop(self, signum: Any, frame: Any) -> None:
        from gapviz.queue import jobs

        self.shutdown_requested = True
        jobs.request_interrupt()
        super().request_stop(signum, frame)  # type: ignore[misc]


def _worker_class() -> type:
    """RQ's SimpleWorker with gapviz's additions (imports RQ)."""
    from rq.worker import SimpleWorker

    return type("GapvizWorker", (_GapvizWorkerMixin, SimpleWorker), {})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gapviz worker", description="Run gapviz training jobs from a Redis queue.")
    add_worker_arguments(parser)
    parser.add_argument("--home", help="data folder (default: $GAPVIZ_HOME or ~/.gapviz)")
    return parser


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--queue",
        action="append",
        default=None,
        metavar="NAME",
        help=f"queue to take runs from (repeatable; default: {DEFAULT_QUEUE})",
    )
    parser.add_argument("--device", default="", help="device for runs whose config says auto: cpu, cuda, cuda:N, mps")
    parser.add_argument("--burst", action="store_true", help="quit when the queue is empty")
    parser.add_argument("--name", default="", help="worker name (default: host.pid.random)")
    parser.add_argument("--max-jobs", type=int, default=None, help="quit after this many jobs")
    parser.add_argument(
        "--skip-umap-warmup",
        action="store_true",
        help=f"do not compile UMAP at start (also ${SKIP_UMAP_ENV}=1); the first UMAP run pays it",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


class _Stop:
    """SIGTERM/SIGINT outside RQ's work loop (while reconnecting)."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True


def check_device(device: str) -> str | None:
    """An error message when ``device`` is not usable here (naming the ones that are), else None (imports torch)."""
    if not device:
        return None
    from gapviz.training.model import device_problem

    problem = device_problem(device)
    return f"--device {problem}" if problem else None


def run_worker(
    queue_names: Sequence[str] | None = None,
    *,
    device: str = "",
    burst: bool = False,
    name: str = "",
    max_jobs: int | None = None,
    home: str | None = None,
    url: str | None = None,
    skip_umap: bool | None = None,
    log_level: str = "INFO",
) -> int:
    """Warm up, then work the queues until stopped; reconnects whenever Redis goes away. Returns an exit code."""
    from gapviz.queue.connection import QueueUnavailable, redis_url

    private_umask()  # run folders, caches and logs are owner-only
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    _set_home(home)
    try:
        url = url or redis_url()
    except QueueUnavailable as error:
        print(f"gapviz worker: {error}", file=sys.stderr)
        return EXIT_ERROR
    stop = _Stop()
    stop.install()
    if skip_umap is None:
        skip_umap = os.environ.get(SKIP_UMAP_ENV, "") not in ("", "0")
    timings = warm_up(skip_umap=skip_umap)
    log.info("warm-up done in %.1f s (%s)", timings["total_s"], ", ".join(f"{k}={v:.2f}" for k, v in timings.items()))
    problem = check_device(device)
    if problem:
        print(f"gapviz worker: {problem}", file=sys.stderr)
        return EXIT_ERROR
    from gapviz.queue import jobs

    jobs.set_worker_device(device)
    names = list(queue_names or [DEFAULT_QUEUE])
    return _work(stop, url, names, device=device, burst=burst, name=name, max_jobs=max_jobs, log_level=log_level)


def _set_home(home: str | None) -> None:
    """$GAPVIZ_HOME for this process and its jobs (RunStore() reads it)."""
    from gapviz.runs.store import gapviz_home

    os.environ["GAPVIZ_HOME"] = str(gapviz_home(home))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _work(
    stop: _Stop,
    url: str,
    names: list[str],
    *,
    device: str,
    burst: bool,
    name: str,
    max_jobs: int | None,
    log_level: str,
) -> int:
    """Connect, work until RQ returns, and again after a lost connection, until stopped."""
    import redis
    from rq.serializers import JSONSerializer

    from gapviz.queue.connection import QueueUnavailable, connect

    worker_class = _worker_class()
    base_name = name or f"{socket.gethostname()}.{os.getpid()}"
    wait = 0.5
    while not stop.requested:
        try:
            conn = connect(url=url)
        except QueueUnavailable as error:
            if burst:
                print(f"gapviz worker: {error}", file=sys.stderr)
                return EXIT_ERROR
            log.warning("%s; retrying in %.1f s", error, wait)
            _sleep(stop, wait)
            wait = min(RECONNECT_MAX_S, wait * 2)
            continue
        wait = 0.5
        worker = worker_class(
            names,
            connection=conn,
            serializer=JSONSerializer,
            name=f"{base_name}.{secrets.token_hex(2)}",
            worker_ttl=WORKER_TTL_S,
            job_monitoring_interval=int(BEAT_INTERVAL_S),
            device=device,
        )
        try:
            worker.work(burst=burst, logging_level=log_level, max_jobs=max_jobs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as error:
            log.warning("lost Redis (%s); reconnecting", error)
        finally:
            stop.install()  # RQ's handlers expect a live worker object
        done = max_jobs is not None and worker.successful_job_count + worker.failed_job_count >= max_jobs
        if worker.shutdown_requested or burst or done or stop.requested:
            break
        _sleep(stop, 1.0)
    return EXIT_OK


def _sleep(stop: _Stop, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not stop.requested and time.monotonic() < deadline:
        time.sleep(0.1)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_worker(
        args.queue,
        device=args.device,
        burst=args.burst,
        name=args.name,
        max_jobs=args.max_jobs,
        home=args.home,
        skip_umap=True if args.skip_umap_warmup else None,
        log_level=args.log_level,
    )


if __name__ == "__main__":
    sys.exit(main())
