"""Queue benchmark: job pickup and first-step latency of a warm worker, epoch-end-to-reader latency,
and the cost of event publishing on step time.

    python -m benchmarks.bench_queue [--runs 5] [--repeats 8] [--skip-umap-warmup] [--record | --json PATH]

Starts a private redis-server (the embedded one) and one real worker (`python -m gapviz.queue.worker`,
full warm-up), submits tiny-test runs one after another and follows each run's stream from this
process:
- submit -> running: the worker has the job (RQ pickup);
- submit -> first step: includes building the model, the data and the epoch-0 evaluation (target <= 2 s,
  checked on the slowest run);
- epoch end -> reader: the time from the sink receiving an EpochRecord (event ``ts``) to a
  blocked XREAD in this process returning it (target <= 200 ms, checked on the slowest epoch).
Then, in this process, the publishing overhead: time spent inside EventPublisher.on_step/on_epoch
as a share of training time (target <= 2 %, median of the repeats), and the median step time of the
same run with and without the publisher (interleaved repeats; noisy on a shared machine).

``--record`` writes benchmarks/results/queue.json (docs/benchmarks.md's source), ``--json PATH`` the same
file elsewhere.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import report

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
WARMUP_PARTS = {
    "torch_open_clip_s": "import torch and open_clip, first matmul",
    "gapviz_s": "import gapviz's training code",
    "umap_s": "compile UMAP's numba code (numba's disk cache)",
    "total_s": "warm-up in all",
}


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def start_worker(tmp: Path, env: dict[str, str], conn: Any) -> tuple[subprocess.Popen, Any, float]:
    """A real worker process, its log file and the seconds from its start to its registration in RQ."""
    from rq import Worker

    log = open(tmp / "worker.log", "wb")  # noqa: SIM115 - closed by the caller
    started = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "gapviz.queue.worker"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    while Worker.count(connection=conn) < 1:
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited: {(tmp / 'worker.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return worker, log, time.perf_counter() - started


def follow_run(conn: Any, store: Any, cfg: Any, times: dict[str, list[float]]) -> None:
    """Submit one run, follow its stream to the end and append its latencies (seconds) to ``times``."""
    from gapviz.queue import client as queue
    from gapviz.queue import events

    t0 = time.time()
    sub = queue.submit(conn, store, cfg)
    last, seen_step, done = "0-0", False, False
    while not done:
        got, last = events.read_events(conn, sub.run_id, last, block_ms=5000)
        now = time.time()
        for event in got:
            if event.state == "running":
                times["pickup"].append(now - t0)
            elif event.kind == "step" and not seen_step:
                seen_step = True
                times["first_step"].append(now - t0)
            elif event.kind == "epoch":
                times["epoch_lag"].append(now - event.ts)
                if event.epoch == 0:
                    times["epoch0"].append(now - t0)
            elif event.state in ("finished", "failed", "cancelled"):
                if event.state != "finished":
                    raise RuntimeError(f"run {sub.run_id} {event.state}: {store.status(sub.run_id).error}")
                times["total"].append(now - t0)
                done = True


def warmup_parts(log_text: str) -> dict[str, float]:
    """The worker's own warm-up timings, from its "warm-up done in … (torch_open_clip_s=…, …)" log line."""
    line = next((line for line in log_text.splitlines() if "warm-up done" in line), "")
    return {key: float(value) for key, value in re.findall(r"(\w+_s)=([\d.]+)", line)}


def queue_latency(runs: int, skip_umap: bool) -> dict[str, Any]:
    """Worker start-up and the latencies (seconds) of ``runs`` tiny-test runs submitted one after another."""
    import redis

    from gapviz.config import preset
    from gapviz.queue.redis_server import RedisServer
    from gapviz.runs.store import RunStore

    tmp = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    home = tmp / "home"
    server = RedisServer(tmp / "redis")
    server.start()
    env = dict(os.environ, GAPVIZ_HOME=str(home), REDIS_URL=server.url, PYTHONPATH=str(REPO))
    env["GAPVIZ_SKIP_UMAP_WARMUP"] = "1" if skip_umap else "0"
    conn = redis.Redis.from_url(server.url)
    worker, log = None, None
    try:
        worker, log, ready = start_worker(tmp, env, conn)
        time.sleep(1.0)  # idle in BLMOVE, as a warm worker waits
        times: dict[str, list[float]] = {k: [] for k in ("pickup", "first_step", "epoch0", "epoch_lag", "total")}
        cfg, store = preset("tiny-test"), RunStore(home)
        for _ in range(runs):
            follow_run(conn, store, cfg, times)
        return {"worker_ready_s": ready, "warmup": warmup_parts((tmp / "worker.log").read_text()), **times}
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
            log.close()
        server.stop()


class TimedSink:
    """Measures the time the training thread spends inside the wrapped sink."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.spent, self.step_times, self.train_s = inner, 0.0, [], 0.0

    def on_step(self, progress: Any) -> None:
        self.step_times.append(progress.steps_per_epoch and (1.0 / max(progress.samples_per_s, 1e-9)))
        t = time.perf_counter()
        if self.inner is not None:
            self.inner.on_step(progress)
        self.spent += time.perf_counter() - t

    def on_epoch(self, record: Any) -> None:
        self.train_s += float(record.metrics.get("train_time_s") or 0.0)  # the epoch's steps, on_step included
        t = time.perf_counter()
        if self.inner is not None:
            self.inner.on_epoch(record)
        self.spent += time.perf_counter() - t


def timed_run(store: Any, cfg: Any, conn: Any, with_publisher: bool) -> dict[str, float]:
    """One training run in this process: its median step (seconds) and, with the publisher, the publisher's shares."""
    from gapviz.queue import events
    from gapviz.training.runner import execute_run

    run_id = store.create(cfg)
    publisher = events.EventPublisher(conn, run_id) if with_publisher else None
    sink = TimedSink(publisher)
    cpu_started = time.process_time()
    execute_run(store, run_id, sink)
    cpu = time.process_time() - cpu_started
    out = {
        "step_s": statistics.median(t * cfg.train.batch_size for t in sink.step_times),
        "steps": len(sink.step_times),
    }
    if publisher is not None:
        publisher.flush()
        sender = publisher._thread
        sender_cpu = time.clock_gettime(time.pthread_getcpuclockid(sender.ident)) if sender else 0.0
        publisher.close()
        out["share"] = sink.spent / sink.train_s  # of training time, as the target says; not of the whole run
        out["cpu_share"] = (sink.spent + sender_cpu) / cpu
    return out


def publish_overhead(repeats: int) -> dict[str, Any]:
    """Interleaved runs with and without the EventPublisher (ABBA against drift); per-run results by variant."""
    import redis

    from gapviz.config import preset
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
    per_run: dict[str, list[dict[str, float]]] = {"none": [], "publisher": []}
    with RedisServer(tmp / "redis") as server:
        conn = redis.Redis.from_url(server.url)
        execute_run(store, store.create(cfg), None)  # warm caches (data, model code paths)
        for repeat in range(repeats):
            for variant in ("none", "publisher") if repeat % 2 == 0 else ("publisher", "none"):
                per_run[variant].append(timed_run(store, cfg, conn, variant == "publisher"))
    return per_run


def measures_and_tables(queue: dict[str, Any], publishing: dict[str, Any]) -> tuple[list, list]:
    """The results file's headline numbers (with the targets) and its tables."""
    step = {v: [r["step_s"] * 1000 for r in runs] for v, runs in publishing.items()}
    without, with_pub = statistics.median(step["none"]), statistics.median(step["publisher"])
    shares = [100 * r["share"] for r in publishing["publisher"]]
    cpu_shares = [100 * r["cpu_share"] for r in publishing["publisher"]]
    measures = [
        report.measure("worker_ready_s", "worker start → ready (full warm-up)", queue["worker_ready_s"], "s", digits=1),
        report.measure(
            "pickup_median_ms",
            "submit → job picked up, median",
            1000 * statistics.median(queue["pickup"]),
            "ms",
            digits=1,
        ),
        report.measure(
            "first_step_max_s",
            "submit → first training step, slowest run",
            max(queue["first_step"]),
            "s",
            ("<=", 2.0),
            2,
        ),
        report.measure(
            "epoch_to_reader_max_ms",
            "epoch end → reader (blocked XREAD returns), slowest epoch",
            1000 * max(queue["epoch_lag"]),
            "ms",
            ("<=", 200.0),
            1,
        ),
        report.measure(
            "publisher_share_pct",
            "time in the event publisher, share of training (median of repeats)",
            statistics.median(shares),
            "%",
            ("<=", 2.0),
            2,
        ),
        report.measure(
            "publishing_cpu_pct",
            "publishing CPU (incl. sender thread), share of the run's CPU",
            statistics.median(cpu_shares),
            "%",
            digits=2,
        ),
        report.measure(
            "step_time_change_pct",
            "median step time with the publisher against without",
            100 * (with_pub - without) / without,
            "%",
            digits=1,
        ),
        *paired_step_measures(step),
    ]
    tables = [latency_table(queue), warmup_table(queue), step_table(step, publishing)]
    return measures, tables


def paired_step_measures(step: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Step time with the publisher minus without, repeat by repeat (the two runs of a repeat are adjacent):
    the mean change with its 95% t-interval, as a share of the mean step without, and the sign-flip p."""
    from gapviz.reproduce.stats import paired_comparison

    paired = paired_comparison(step["publisher"], step["none"])
    base = statistics.mean(step["none"])
    d = paired.difference
    return [
        report.measure(
            "paired_change_pct",
            "step time, paired change with the publisher (mean)",
            100 * d.mean / base,
            "%",
            digits=1,
        ),
        report.measure("paired_change_lo_pct", "its 95% interval, low end", 100 * d.lo / base, "%", digits=1),
        report.measure("paired_change_hi_pct", "its 95% interval, high end", 100 * d.hi / base, "%", digits=1),
        report.measure("paired_change_p", "sign-flip p-value of the paired change", paired.p_value, digits=3),
        report.measure("paired_repeats", "paired repeats", d.n, digits=0),
    ]


def latency_table(queue: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for key, what in (
        ("pickup", "submit → job picked up (running)"),
        ("first_step", "submit → first training step"),
        ("epoch0", "submit → epoch 0 evaluated"),
        ("epoch_lag", "epoch end → reader (every epoch of every run)"),
        ("total", "submit → run finished"),
    ):
        ms = [1000 * v for v in queue[key]]
        rows.append([what, len(ms), ms[0], statistics.median(ms), pct(ms, 0.9), max(ms)])
    columns = ["from → to", "n", "first (ms)", "median (ms)", "p90 (ms)", "max (ms)"]
    return report.table("latency", columns, rows, [None, 0, 1, 1, 1, 1])


def warmup_table(queue: dict[str, Any]) -> dict[str, Any]:
    rows = [[WARMUP_PARTS.get(key, key), value] for key, value in queue["warmup"].items()]
    rows.append(["worker start → ready (process start, warm-up, RQ registration)", queue["worker_ready_s"]])
    return report.table("warmup", ["part", "seconds"], rows, [None, 2])


def step_table(step: dict[str, list[float]], publishing: dict[str, Any]) -> dict[str, Any]:
    rows = [
        [label, len(step[v]), publishing[v][0]["steps"], statistics.median(step[v]), min(step[v]), max(step[v])]
        for v, label in (("none", "without publisher"), ("publisher", "with EventPublisher"))
    ]
    columns = ["run", "runs", "steps per run", "median step (ms)", "fastest run (ms)", "slowest run (ms)"]
    return report.table("step_time", columns, rows, [None, 0, 0, 2, 2, 2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="tiny-test runs submitted one after another")
    parser.add_argument("--repeats", type=int, default=8, help="interleaved repeats for the overhead comparison")
    parser.add_argument("--skip-umap-warmup", action="store_true")
    report.add_output_arguments(parser)
    args = parser.parse_args(argv)
    session = report.Session("queue", argv)
    queue = queue_latency(args.runs, args.skip_umap_warmup)
    publishing = publish_overhead(args.repeats)
    measures, tables = measures_and_tables(queue, publishing)
    report.show(measures, tables)
    session.save(measures, tables, report.output_path("queue", args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
