"""Queue benchmark: job pickup and first-step latency of a warm worker, epoch-end-to-reader latency,
and the cost of event publishing on step time.

    HF_HUB_OFFLINE=1 python benchmarks/bench_queue.py [--runs 5] [--json out.json]

Starts a private redis-server (the embedded one) and one real worker (`python -m gapviz.queue.worker`,
full warm-up), submits tiny-test runs one after another and follows each run's stream from this
process:
- submit -> running: the worker has the job (RQ pickup);
- submit -> first step: includes building the model, the data and the epoch-0 evaluation;
- epoch end -> reader: the time from the sink receiving an EpochRecord (event ``ts``) to a
  blocked XREAD in this process returning it (target <= 200 ms).
Then, in this process, the publishing overhead: time spent inside EventPublisher.on_step/on_epoch
as a share of training time, and the median step time of the same run with and without the
publisher (interleaved repeats; noisy on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p90": pct(values, 0.9),
        "max": max(values),
        "min": min(values),
    }


def queue_latency(runs: int, skip_umap: bool) -> dict[str, Any]:
    import redis

    from gapviz.config import preset
    from gapviz.queue import client as queue
    from gapviz.queue import events
    from gapviz.queue.redis_server import RedisServer
    from gapviz.runs.store import RunStore

    tmp = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    home = tmp / "home"
    server = RedisServer(tmp / "redis")
    server.start()
    env = dict(os.environ, GAPVIZ_HOME=str(home), REDIS_URL=server.url, PYTHONPATH=str(REPO))
    env["GAPVIZ_SKIP_UMAP_WARMUP"] = "1" if skip_umap else "0"
    log = open(tmp / "worker.log", "wb")  # noqa: SIM115
    started = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "gapviz.queue.worker"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    conn = redis.Redis.from_url(server.url)
    store = RunStore(home)
    try:
        from rq import Worker

        while Worker.count(connection=conn) < 1:
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited: {(tmp / 'worker.log').read_text()[-2000:]}")
            time.sleep(0.1)
        worker_start = time.perf_counter() - started
        time.sleep(1.0)  # idle in BLMOVE, as a warm worker waits
        pickup, first_step, first_epoch, epoch_lag, total = [], [], [], [], []
        cfg = preset("tiny-test")
        for _ in range(runs):
            t0 = time.time()
            sub = queue.submit(conn, store, cfg)
            last, seen_step, done = "0-0", False, False
            while not done:
                got, last = events.read_events(conn, sub.run_id, last, block_ms=5000)
                now = time.time()
                for event in got:
                    if event.state == "running":
                        pickup.append(now - t0)
                    elif event.kind == "step" and not seen_step:
                        seen_step = True
                        first_step.append(now - t0)
                    elif event.kind == "epoch":
                        epoch_lag.append(now - event.ts)
                        if event.epoch == 0:
                            first_epoch.append(now - t0)
                    elif event.state in ("finished", "failed", "cancelled"):
                        if event.state != "finished":
                            raise RuntimeError(f"run {sub.run_id} {event.state}: {store.status(sub.run_id).error}")
                        total.append(now - t0)
                        done = True
        warmup_line = next(
            (line for line in (tmp / "worker.log").read_text().splitlines() if "warm-up done" in line), ""
        )
        return {
            "worker_start_to_ready_s": worker_start,
            "worker_warmup": warmup_line.split("INFO ", 1)[-1],
            "first_job": {
                "pickup_s": pickup[0],
                "first_step_s": first_step[0],
                "epoch0_s": first_epoch[0],
                "run_s": total[0],
            },
            "submit_to_running_s": summary(pickup),
            "submit_to_epoch0_s": summary(first_epoch),
            "submit_to_first_step_s": summary(first_step),
            "epoch_end_to_reader_ms": {k: (v * 1000 if k != "n" else v) for k, v in summary(epoch_lag).items()},
            "run_total_s": summary(total),
        }
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
        server.stop()


class TimedSink:
    """Measures the time the training thread spends inside the wrapped sink."""

    def __init__(self, inner: Any):
        self.inner, self.spent, self.step_times = inner, 0.0, []

    def on_step(self, progress: Any) -> None:
        self.step_times.append(progress.steps_per_epoch and (1.0 / max(progress.samples_per_s, 1e-9)))
        t = time.perf_counter()
        if self.inner is not None:
            self.inner.on_step(progress)
        self.spent += time.perf_counter() - t

    def on_epoch(self, record: Any) -> None:
        t = time.perf_counter()
        if self.inner is not None:
            self.inner.on_epoch(record)
        self.spent += time.perf_counter() - t


def publish_overhead(repeats: int) -> dict[str, Any]:
    import redis

    from gapviz.config import preset
    from gapviz.queue import events
    from gapviz.queue.redis_server import RedisServer
    from gapviz.runs.store import RunStore
    from gapviz.training.runner import execute_run

    tmp = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    store = RunStore(tmp / "home")
    cfg = preset("tiny-test").with_overrides(
        {
            "data.train_size": 2048,
            "train.batch_size": 64,
            "train.epochs": 2,
            "data.eval_size": 64,
            "eval.linear_probe": False,
        }
    )
    per_run: dict[str, list[float]] = {"none": [], "publisher": []}
    shares, cpu_shares = [], []
    with RedisServer(tmp / "redis") as server:
        conn = redis.Redis.from_url(server.url)
        execute_run(store, store.create(cfg), None)  # warm caches (data, model code paths)
        for repeat in range(repeats):
            order = ("none", "publisher") if repeat % 2 == 0 else ("publisher", "none")  # ABBA against drift
            for variant in order:
                run_id = store.create(cfg)
                publisher = events.EventPublisher(conn, run_id) if variant == "publisher" else None
                sink = TimedSink(publisher)
                started, cpu_started = time.perf_counter(), time.process_time()
                execute_run(store, run_id, sink)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
                if publisher is not None:
                    publisher.flush()
                    sender = publisher._thread
                    sender_cpu = time.clock_gettime(time.pthread_getcpuclockid(sender.ident)) if sender else 0.0
                    publisher.close()
                    shares.append(sink.spent / elapsed)
                    cpu_shares.append((sink.spent + sender_cpu) / cpu)
                batch = cfg.train.batch_size
                per_run[variant].append(statistics.median(t * batch for t in sink.step_times))  # s per step
    none, pub = statistics.median(per_run["none"]), statistics.median(per_run["publisher"])
    return {
        "runs_per_variant": repeats,
        "steps_per_run": len(sink.step_times),
        "median_step_ms_per_run_without": [round(v * 1000, 2) for v in per_run["none"]],
        "median_step_ms_per_run_with_publisher": [round(v * 1000, 2) for v in per_run["publisher"]],
        "step_time_change_pct": 100.0 * (pub - none) / none,
        "time_in_publisher_pct_of_run": 100.0 * statistics.median(shares),
        "publishing_cpu_pct_of_run_cpu": 100.0 * statistics.median(cpu_shares),
        "note": (
            "time_in_publisher: wall time the training thread spends in on_step/on_epoch; publishing_cpu: that "
            "plus the sender thread's CPU, over the process CPU of the run. step_time_change compares medians "
            "of interleaved runs with and without the publisher and includes machine noise."
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="tiny-test runs submitted one after another")
    parser.add_argument("--repeats", type=int, default=4, help="interleaved repeats for the overhead comparison")
    parser.add_argument("--skip-umap-warmup", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    report = {
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in load]},
        "queue": queue_latency(args.runs, args.skip_umap_warmup),
        "publishing": publish_overhead(args.repeats),
    }
    text = json.dumps(report, indent=2, default=lambda v: round(v, 4) if isinstance(v, float) else str(v))
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
