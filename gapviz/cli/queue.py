"""Queue commands of the `gapviz` CLI: up, worker, submit, status, cancel, resume.

Registered on the main parser by :func:`add_queue_commands`; each command is ``func(args) -> int``
and reports errors as one line on stderr with a non-zero exit code. `python -m gapviz.cli.queue`
runs them on their own (tests use it).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

from gapviz.cli.common import EXIT_ERROR, EXIT_OK, add_config_arguments, run_command, term_safe
from gapviz.config import ConfigError, Problem, parse_assignment, resolve_config, sweep
from gapviz.queue import APP_HOST, DEFAULT_APP_PORT, DEFAULT_QUEUE
from gapviz.queue.supervisor import TOKEN_ENV
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore


def add_queue_commands(subparsers: Any) -> None:
    """Register up, worker, submit, status, cancel and resume on an argparse subparsers object."""
    from gapviz.queue.worker import add_worker_arguments

    _add_up(subparsers)
    worker = subparsers.add_parser("worker", help="take runs from a queue and train them (one at a time)")
    add_worker_arguments(worker)
    worker.set_defaults(func=cmd_worker)
    _add_submit(subparsers)
    _add_run_commands(subparsers)


def _add_up(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help="start Redis (if needed), workers and the app; Ctrl-C stops all")
    up.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    up.add_argument("--port", type=int, default=DEFAULT_APP_PORT, help=f"port of the app (default {DEFAULT_APP_PORT})")
    up.add_argument(
        "--host",
        default=APP_HOST,
        help=f"address the app listens on (default {APP_HOST}; any other needs the access token)",
    )
    up.add_argument(
        "--no-token",
        action="store_true",
        help=f"open the app without its access token (${TOKEN_ENV}, else generated); loopback only",
    )
    up.add_argument("--no-app", action="store_true", help="do not start the Streamlit app")
    up.add_argument("--queue", action="append", default=None, metavar="NAME", help="queue the workers take runs from")
    up.add_argument(
        "--device", default="", help="device(s) for the workers, comma-separated, assigned in turn (e.g. cuda:0,cuda:1)"
    )
    up.add_argument(
        "--grace", type=float, default=30.0, help="seconds workers get to stop their run at a step (default 30)"
    )
    up.add_argument("--skip-umap-warmup", action="store_true", help="workers do not compile UMAP at start")
    up.set_defaults(func=cmd_up)


def _add_submit(subparsers: Any) -> None:
    submit = subparsers.add_parser("submit", help="queue runs for the workers")
    add_config_arguments(submit)
    submit.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="queue one run per value, grouped (repeatable: every combination)",
    )
    submit.add_argument("--queue", default=None, metavar="NAME", help=f"queue name (default: {DEFAULT_QUEUE})")
    submit.add_argument("--tag", dest="tags", action="append", default=[], help="tag the runs (repeatable)")
    submit.add_argument("--json", action="store_true", help="print the queued runs as JSON")
    submit.set_defaults(func=cmd_submit)


def _add_run_commands(subparsers: Any) -> None:
    status = subparsers.add_parser("status", help="queues, workers and runs with their state")
    status.add_argument("--json", action="store_true")
    status.add_argument("--limit", type=int, default=20, help="finished runs to list besides the active ones")
    status.set_defaults(func=cmd_status)

    cancel = subparsers.add_parser("cancel", help="cancel a queued run, or stop a running one at its next step")
    cancel.add_argument("run_id")
    cancel.set_defaults(func=cmd_cancel)

    resume = subparsers.add_parser(
        "resume", help="queue a failed, cancelled or interrupted run to continue from its last checkpoint"
    )
    resume.add_argument("run_id")
    resume.add_argument("--queue", default=None, metavar="NAME", help="queue (default: the run's own)")
    resume.set_defaults(func=cmd_resume)


def _home(args: argparse.Namespace) -> str | None:
    return getattr(args, "home", None)


# ---- commands ----------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    from gapviz.queue.supervisor import Supervisor

    devices = [d.strip() for d in (args.device or "").split(",") if d.strip()]
    supervisor = Supervisor(
        _home(args),
        workers=args.workers,
        queues=args.queue,
        devices=devices,
        port=args.port,
        app=not args.no_app,
        grace_s=args.grace,
        skip_umap_warmup=args.skip_umap_warmup,
        host=args.host,
        token=not args.no_token,
    )
    return supervisor.run()


def cmd_worker(args: argparse.Namespace) -> int:
    from gapviz.queue.worker import run_worker

    return run_worker(
        args.queue,
        device=args.device,
        burst=args.burst,
        name=args.name,
        max_jobs=args.max_jobs,
        home=_home(args),
        skip_umap=True if args.skip_umap_warmup else None,
        log_level=args.log_level,
    )


def cmd_submit(args: argparse.Namespace) -> int:
    from gapviz.queue import client as queue

    cfg = resolve_config(args.config, args.preset, args.overrides)
    store = RunStore(_home(args))
    axes = parse_sweeps(args.sweep)
    configs = sweep(cfg, axes) if axes else [cfg]  # every run is checked before Redis is touched
    conn = queue.connect(_home(args))
    group, submissions = queue.submit_many(
        conn, store, configs, queue_name=args.queue or DEFAULT_QUEUE, group=None if axes else "", tags=tuple(args.tags)
    )
    if args.json:
        print(json.dumps({"group": group, "runs": [s.to_dict() for s in submissions]}, indent=2))
        return EXIT_OK
    for sub in submissions:
        where = f"position {sub.position + 1}" if sub.position is not None else "queued"
        name = term_safe(store.meta(sub.run_id).get("name", ""))
        print(f"{sub.run_id}  queued on {term_safe(sub.queue)} ({where})  {name}")
    if group:
        print(f"group {group}: {len(submissions)} runs")
    return EXIT_OK


def parse_sweeps(items: list[str]) -> dict[str, list[str]]:
    """``["temperature.tau=0.01,0.07", "seed=0,1"]`` -> ``{"temperature.tau": ["0.01", "0.07"], "seed": ["0", "1"]}``.

    Values stay text here; ``config.sweep`` parses them by each field's type.
    """
    axes: dict[str, list[str]] = {}
    for item in items:
        path, raw = parse_assignment(item)
        values = [v.strip() for v in raw.split(",") if v.strip()]
        if not values:
            example = "e.g. --sweep temperature.tau=0.01,0.07"
            raise ConfigError([Problem(path or item, f"--sweep {item!r}: give values, {example}")])
        if path in axes:
            raise ConfigError([Problem(path, "swept twice; give all its values in one --sweep")])
        axes[path] = values
    return axes


def cmd_status(args: argparse.Namespace) -> int:
    from gapviz.queue import client as queue

    store = RunStore(_home(args))
    report = queue.status(store, limit=args.limit)  # connects itself; reports "queue unavailable"
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(format_status(report))
    if not report["available"]:
        print(f"gapviz: {term_safe(report['error'], 1000)}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    from gapviz.queue import client as queue

    store = RunStore(_home(args))
    store.existing_run_dir(args.run_id)
    outcome = queue.cancel(queue.connect(_home(args)), store, args.run_id)
    if outcome == queue.CancelOutcome.CANCELLED:
        print(f"{args.run_id} cancelled")
    else:
        print(f"{args.run_id} stops at its next step (finished epochs are kept)")
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    from gapviz.queue import client as queue

    store = RunStore(_home(args))
    store.existing_run_dir(args.run_id)
    sub = queue.resume(queue.connect(_home(args)), store, args.run_id, queue_name=args.queue)
    where = f"position {sub.position + 1}" if sub.position is not None else "queued"
    print(f"{sub.run_id} queued on {term_safe(sub.queue)} to resume from its last checkpoint ({where})")
    return EXIT_OK


# ---- formatting --------------------------------------------------------------------------------


def format_status(report: dict[str, Any]) -> str:
    lines = []
    if report["available"]:
        lines.append(f"redis {report['redis']}")
        for q in report["queues"]:
            lines.append(
                f"queue {term_safe(q['name'])}: {q['queued']} waiting, {q['running']} running, {q['failed']} failed, "
                f"{q['finished']} finished, {q['cancelled']} cancelled"
            )
        lines.append(f"workers: {len(report['workers'])}")
        for w in report["workers"]:
            job = f" run {w['run_id']}" if w.get("run_id") else ""
            where = f"{w['hostname']} pid {w['pid']}  device {w['device'] or 'auto'}"
            lines.append(term_safe(f"  {w['name']}  {w['state']}  {where}  queues {','.join(w['queues'])}{job}", 1000))
    else:
        lines.append(term_safe(report["error"], 1000))
    lines.append(f"runs ({len(report['runs'])}):")
    for run in report["runs"]:
        extra = ""
        if run["state"] == RunState.QUEUED and run["position"] is not None:
            extra = f"  position {run['position'] + 1}"
        elif run["state"] == RunState.RUNNING and run.get("progress"):
            p = run["progress"]
            extra = f"  epoch {p.get('epoch')}/{run['epochs_total']} step {p.get('step')}/{p.get('steps_per_epoch')}"
            if run.get("cancel_requested"):
                extra += "  (cancelling)"
        elif run["state"] == RunState.FAILED and run.get("error"):
            extra = f"  {term_safe(str(run['error']).splitlines()[0], 100)}"
        done = max(run["epochs_done"], 0)
        name, state = term_safe(run["name"]), term_safe(run["state"])
        lines.append(f"  {term_safe(run['run_id'])}  {state:<11} {done}/{run['epochs_total']} epochs  {name}{extra}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gapviz", description="gapviz queue commands")
    parser.add_argument("--home", help="data folder (default: $GAPVIZ_HOME or ~/.gapviz)")
    sub = parser.add_subparsers(dest="command", required=True)
    add_queue_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
