"""`gapviz reproduce NAME`: run a paper experiment and write its report (see gapviz.reproduce.runner).

    gapviz reproduce --list
    gapviz reproduce cone                      # small scale: built-in data, 2 CPU cores, minutes
    gapviz reproduce all                       # every experiment, with the time each took
    gapviz reproduce mitigations --queue       # queue the runs for the workers (sweep group)
    gapviz reproduce mitigations --queue       # again: queue what is ready; report once all finished
    gapviz reproduce mitigations --queue --wait
    gapviz reproduce temperature-sweep --report-only
    gapviz reproduce mitigations --seeds 5       # seeds per compared condition (default 3)
    gapviz reproduce all --report-only         # rebuild every report and docs/experiments.md
    gapviz reproduce temperature-sweep --scale paper --data-path coco/dataset_coco.json \\
        --image-root coco/images --queue       # the papers' settings: COCO, open_clip models, a GPU
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from gapviz.cli.common import EXIT_OK, run_command
from gapviz.config import ConfigError, parse_assignment
from gapviz.reproduce import experiments
from gapviz.reproduce.experiments.base import USER_SCALES, ExperimentError

ALL = "all"


def add_commands(subparsers: Any) -> None:
    """Register the ``reproduce`` subcommand."""
    parser = subparsers.add_parser(
        "reproduce",
        help="run a paper experiment and write its report (tables, charts, results.json)",
        description=(
            "Run (or queue) the runs of a paper experiment, then write report.md, results.json and charts to "
            "$GAPVIZ_HOME/reports/NAME/. Finished runs are reused: run the command again to continue an "
            "interrupted reproduction or to rebuild its report."
        ),
    )
    parser.add_argument(
        "name", nargs="?", metavar="NAME", help=f"experiment: {', '.join(experiments.names())}, or {ALL}"
    )
    parser.add_argument("--list", action="store_true", help="list the experiments and their claims")
    parser.add_argument(
        "--scale",
        choices=USER_SCALES,
        default="small",
        help="small: built-in data on CPU in minutes (default); paper: the papers' settings (COCO, GPU)",
    )
    parser.add_argument(
        "--queue",
        action="store_true",
        help="queue the runs for `gapviz worker`s as a sweep group instead of training here; "
        "run the command again to queue runs that became ready and write the report",
    )
    parser.add_argument("--wait", action="store_true", help="with --queue: wait for the runs, then write the report")
    parser.add_argument(
        "--queue-name", default=None, metavar="NAME", help="with --queue: the RQ queue (default: gapviz)"
    )
    parser.add_argument("--report-only", action="store_true", help="write the report from finished runs; train nothing")
    parser.add_argument(
        "--fresh", action="store_true", help="train every run again in a new group instead of reusing finished runs"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a base setting of every run, e.g. --set train.epochs=3 (the experiment's own "
        "variable, such as tau in the temperature sweep, keeps its planned values)",
    )
    parser.add_argument("--data-path", default=None, help="paper scale: the COCO captions or Karpathy JSON (data.path)")
    parser.add_argument("--image-root", default=None, help="paper scale: the folder the image paths are relative to")
    parser.add_argument(
        "--device", default=None, help="train on this device (cpu, cuda, cuda:1, ...) instead of the config's"
    )
    parser.add_argument("--out", default=None, help="report folder (default: $GAPVIZ_HOME/reports/NAME)")
    _add_report_options(parser)
    parser.set_defaults(func=cmd_reproduce)


def _add_report_options(parser: argparse.ArgumentParser) -> None:
    """--seeds and --docs."""
    parser.add_argument(
        "--seeds", type=int, default=None, metavar="N", help="seeds per compared condition (default: 3)"
    )
    parser.add_argument(
        "--docs",
        default=None,
        metavar="FILE",
        help="with all: write this docs page from the reports (default: the checkout's docs/experiments.md "
        "at small scale with --report-only)",
    )


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    overrides = dict(parse_assignment(item) for item in args.overrides)
    if args.data_path or args.image_root:
        if args.scale != "paper":
            raise ExperimentError("--data-path and --image-root are for --scale paper (small uses the built-in data)")
        if args.data_path:
            overrides["data.path"] = args.data_path
        if args.image_root:
            overrides["data.image_root"] = args.image_root
    return overrides


def cmd_list() -> int:
    for name in experiments.names():
        module = experiments.get(name)
        print(f"{name:<18} {module.TITLE}")
        print(f"{'':<18} {module.CLAIM}")
    return EXIT_OK


def cmd_reproduce(args: argparse.Namespace) -> int:
    from gapviz.runs.store import gapviz_home

    if args.list:
        return cmd_list()
    if not args.name:
        raise ExperimentError(f"name an experiment ({', '.join(experiments.names())}, or {ALL}), or pass --list")
    if args.wait and not args.queue:
        raise ExperimentError("--wait goes with --queue")
    if args.device and args.queue:
        raise ExperimentError(
            "--device picks the device for training here; with --queue the workers choose (or pass --set device=cuda)"
        )
    names = experiments.names() if args.name == ALL else [args.name]
    for name in names:
        experiments.get(name)
    if args.out and len(names) > 1:
        raise ExperimentError("--out needs a single experiment")
    if args.seeds is not None and args.seeds < 1:
        raise ExperimentError(f"--seeds must be at least 1, got {args.seeds}")
    timings, reports = _run_all(args, names, gapviz_home(args.home))
    if len(names) > 1:
        print("\ntime per experiment:")
        for name, elapsed, verdict in timings:
            print(f"  {name:<18} {elapsed:7.1f} s  {verdict}")
        print(f"  {'total':<18} {sum(t for _, t, _ in timings):7.1f} s")
    docs = _docs_file(args, names)
    if docs is not None and len(reports) == len(names):
        from gapviz.reproduce.runner import write_docs

        print(f"docs page {write_docs(reports, docs)}")
    return EXIT_OK


def _run_all(args: argparse.Namespace, names: list[str], home: Any) -> tuple[list[tuple[str, float, str]], list[Any]]:
    """Reproduce each experiment in turn: (name, seconds, verdict) each, and the written reports."""
    from gapviz.reproduce.runner import QueueProgress, reproduce

    overrides = _overrides(args)
    timings: list[tuple[str, float, str]] = []
    reports = []
    for name in names:
        started = time.perf_counter()
        try:
            outcome = reproduce(
                name,
                args.scale,
                home,
                overrides=overrides,
                queue=args.queue,
                wait=args.wait,
                report_only=args.report_only,
                fresh=args.fresh,
                device=args.device,
                queue_name=args.queue_name,
                out=args.out,
                seeds=args.seeds,
                log=lambda line: print(line, flush=True),
            )
        except ConfigError as error:
            hint = " (paper scale needs COCO: pass --data-path)" if args.scale == "paper" and not args.data_path else ""
            raise ExperimentError(f"{name}: {error}{hint}") from None
        elapsed = time.perf_counter() - started
        if isinstance(outcome, QueueProgress):
            timings.append((name, elapsed, "queued"))
            continue
        verdict = (
            f"{outcome.verdict.value} ({', '.join(f'{n} {v}' for v, n in outcome.results['verdict_counts'].items())})"
        )
        print(f"{name}: {verdict}; report {outcome.folder / 'report.md'} ({elapsed:.0f} s)", flush=True)
        timings.append((name, elapsed, verdict))
        reports.append(outcome)
    return timings, reports


def _docs_file(args: argparse.Namespace, names: list[str]) -> Path | None:
    """Where to write the docs page: --docs, or the checkout's docs/experiments.md (`all --report-only`, small)."""
    if args.docs:
        return Path(args.docs)
    checkout_docs = Path(__file__).resolve().parents[2] / "docs"
    if (
        args.name == ALL
        and args.report_only
        and args.scale == "small"
        and not args.overrides
        and checkout_docs.is_dir()
    ):
        return checkout_docs / "experiments.md"
    return None


def main(argv: list[str] | None = None) -> int:
    """`python -m gapviz.cli.reproduce NAME ...` (the same as `gapviz reproduce`)."""
    parser = argparse.ArgumentParser(prog="gapviz")
    parser.add_argument("--home", help="data folder (default: $GAPVIZ_HOME or ~/.gapviz)")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["reproduce", *(argv if argv is not None else sys.argv[1:])])
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
