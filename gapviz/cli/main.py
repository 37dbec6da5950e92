"""The `gapviz` command: train, runs, analyze, plus the queue commands (up, worker, submit, ...)."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from gapviz.cli import queue as queue_commands
from gapviz.cli import reproduce as reproduce_commands
from gapviz.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_config_arguments,
    config_from_args,
    run_command,
    term_safe,
)
from gapviz.errors import GapvizError
from gapviz.queue import DEFAULT_APP_PORT
from gapviz.runs.records import EpochRecord, RunState, StepProgress
from gapviz.runs.store import RunStore
from gapviz.science import catalog


class ProgressBarSink:
    """Terminal progress: a tqdm bar over all steps and one line per epoch."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar: Any = None

    def on_step(self, progress: StepProgress) -> None:
        if self.bar is None:
            self.bar = self._tqdm(
                total=progress.total_steps, unit="step", dynamic_ncols=True, initial=progress.global_step - 1
            )
        self.bar.set_description(f"epoch {progress.epoch}")
        sps = f"{progress.samples_per_s:.0f}"
        self.bar.set_postfix(loss=f"{progress.loss:.3f}", tau=f"{progress.tau:.4f}", sps=sps)
        self.bar.update(1)

    def on_epoch(self, record: EpochRecord) -> None:
        m = record.metrics
        line = (
            f"epoch {record.epoch}: gap {m['gap_distance']:.3f}  rel.gap {m['relative_gap']:.3f}  "
            f"tau {m['tau']:.4f}  loss {m['loss']:.3f}  R@1 i2t {m['i2t_r1']:.3f} t2i {m['t2i_r1']:.3f}"
        )
        if "zero_shot" in m:
            line += f"  zero-shot {m['zero_shot']:.3f}"
        (self.bar.write if self.bar else print)(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_train(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    from gapviz.training.runner import execute_run  # torch loads only for a valid config

    store = RunStore(args.home)
    store.check_references(cfg)
    run_id = store.create(cfg)
    print(f"run {run_id} ({store.run_dir(run_id)})", flush=True)
    stop_requested = {"flag": False}

    def request_stop(signum, frame):
        if stop_requested["flag"]:
            raise KeyboardInterrupt
        stop_requested["flag"] = True
        print("\nstopping after this step (press Ctrl-C again to abort now)...", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, request_stop)
    sink = ProgressBarSink()
    try:
        state = execute_run(
            store,
            run_id,
            sink,
            lambda: stop_requested["flag"],
            stopped_state=RunState.INTERRUPTED,
            on_prepare=lambda stage, done, total: None,
        )
    except KeyboardInterrupt:
        print(f"run {run_id} interrupted; finished epochs are saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, previous)
        sink.close()
    print(f"run {run_id} {state.value}")
    return EXIT_OK if state == RunState.FINISHED else EXIT_INTERRUPTED


def cmd_runs_list(args: argparse.Namespace) -> int:
    store = RunStore(args.home)
    summaries = _listed(store, args)
    if args.json:
        print(json.dumps([_summary_dict(s) for s in summaries], indent=2))
        return EXIT_OK
    if not summaries:
        print(f"no runs in {term_safe(store.runs_dir)}" + (" match" if _filtered(args) else ""))
        return EXIT_OK
    gap_name = catalog.label(catalog.DEFAULT_GAP_KEY)
    print(f"{'run id':<24} {'state':<11} {'epochs':>7}  {'gap':>6} {'R@1 i2t':>8}  name  (gap: {gap_name})")
    for s in summaries:
        epochs = f"{max(s.epochs_done, 0):>3}/{s.epochs_total:<3}"
        gap, r1 = _cell(s.last_metrics, catalog.DEFAULT_GAP_KEY, 6), _cell(s.last_metrics, "i2t_r1", 8)
        print(
            f"{term_safe(s.run_id):<24} {term_safe(s.state):<11} {epochs}  {gap} {r1}  "
            + (term_safe(f"cannot be read: {s.problem}", limit=400) if s.problem else term_safe(s.name))
        )
    return EXIT_OK


def _listed(store: RunStore, args: argparse.Namespace) -> list[Any]:
    """The runs `runs list` shows: filtered by state, group and tag, newest first, at most ``--limit``."""
    kept = [
        s
        for s in store.summaries()
        if (not args.state or s.state.value in args.state)
        and (args.group is None or s.group == args.group)
        and (not args.tag or set(args.tag) <= set(s.tags))
    ]
    kept.sort(key=lambda s: (s.created_at, s.run_id), reverse=True)
    return kept[: args.limit] if args.limit else kept


def _filtered(args: argparse.Namespace) -> bool:
    return bool(args.state or args.group is not None or args.tag)


def _cell(metrics: dict[str, float], key: str, width: int) -> str:
    """A metric to 3 decimals, or "—" when the run has none yet (a queued run), never "nan"."""
    value = metrics.get(key)
    if value is None or not math.isfinite(value):
        return f"{'—':>{width}}"
    return f"{value:>{width}.3f}"


def _positive_int(text: str) -> int:
    """A count for --limit: a whole number from 1 to 1,000,000."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r}") from None
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 1000000 (got {value})")
    return value


def cmd_runs_reindex(args: argparse.Namespace) -> int:
    store = RunStore(args.home)
    count = store.reindex()
    print(f"summary index rebuilt from {count} run folder{'s' if count != 1 else ''} in {term_safe(store.runs_dir)}")
    return EXIT_OK


def _summary_dict(summary) -> dict[str, Any]:
    return {**summary.__dict__, "tags": list(summary.tags)}


def cmd_runs_show(args: argparse.Namespace) -> int:
    store = RunStore(args.home)
    info = store.describe(args.run_id)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return EXIT_OK
    print(f"run {term_safe(args.run_id)}  state {term_safe(info['state'])}  name {term_safe(info['meta'].get('name'))}")
    if info["status"].get("error"):
        print(f"error: {term_safe(info['status']['error'], 1000)}")
    for row in info["epochs"]:
        print(
            f"  epoch {row['epoch']:>3}: gap {row['gap_distance']:.3f}  tau {row['tau']:.4f}  "
            f"loss {row['loss']:.3f}  R@1 {row['i2t_r1']:.3f}/{row['t2i_r1']:.3f}"
        )
    return EXIT_OK


def cmd_runs_export(args: argparse.Namespace) -> int:
    store = RunStore(args.home)
    store.existing_run_dir(args.run_id)
    dest = Path(args.dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise GapvizError(f"--dest {dest} is a file; give a folder to write the run's files into")
    for path in store.export(args.run_id, dest):
        print(path)
    return EXIT_OK


def cmd_runs_delete(args: argparse.Namespace) -> int:
    store = RunStore(args.home)
    store.existing_run_dir(args.run_id)
    if not args.yes and sys.stdin.isatty():
        if input(f"delete run {args.run_id}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("kept")
            return EXIT_OK
    store.delete(args.run_id)
    print(f"deleted {args.run_id}")
    return EXIT_OK


def _analysis_table(before: dict[str, Any], after: dict[str, Any] | None, fix_label: str) -> list[str]:
    """Rows 'metric  value [lo, hi] (n = …)' (and the fixed value beside it) for every metric of compute_all."""
    from gapviz.format import metric_text

    width = max(len(k) for k in catalog.METRIC_NAMES)
    head = f"  {'metric':<{width}}  {'value [95% interval]':<32}"
    lines = [head + (f"  after --fix {fix_label}" if after is not None else "")]
    for key in (*catalog.METRIC_NAMES, *(["zero_shot"] if "zero_shot" in before else []), *catalog.FLAG_NAMES):
        cell = str(before[key]) if key in catalog.FLAG_NAMES else metric_text(before, key)
        row = f"  {key:<{width}}  {cell:<32}"
        if after is not None:
            row += "  " + (str(after[key]) if key in catalog.FLAG_NAMES else metric_text(after, key))
        lines.append(row.rstrip())
    return lines


def _sizes_line(sizes: dict[str, float], pairs: int) -> str:
    """'subsample sizes (seeded by --seed): retrieval_n 10,000 of 1,000,000 images, ...' from Analysis.sizes."""
    shown = [f"{key} {int(value):,}" for key, value in sizes.items() if value == value]
    return f"subsample sizes (seeded by --seed) of {pairs:,} images: " + ", ".join(shown)


def cmd_analyze(args: argparse.Namespace) -> int:
    """Every metric of an embeddings file with its interval (gapviz.api.analyze); with --fix, before and after a
    training-free fix fitted on a seeded half of the images and measured, both times, on the other half."""
    from gapviz.api import Analysis, analyze
    from gapviz.data.embedding_files import open_embedding_file
    from gapviz.data.embeddings_io import EmbeddingsError, parse_size
    from gapviz.format import warnings
    from gapviz.science.checks import DegenerateEmbeddingsError

    emb = open_embedding_file(
        args.file,
        max_bytes=parse_size(args.max_bytes) if args.max_bytes else None,
        image_column=args.image_column,
        text_column=args.text_column,
        extras=False,
        check=False,
    )
    try:  # compute_all checks every row as it measures: one pass over a mapped file, not two
        result = analyze(
            emb.image,
            emb.text,
            text_image_index=emb.text_image_index,
            resamples=args.resamples,
            seed=args.seed,
            fix=args.fix,
            labels=emb.labels,
            class_text=emb.class_text,
        )
    except DegenerateEmbeddingsError as err:
        raise EmbeddingsError(f"{args.file}: {err}") from None
    if args.json:
        print(json.dumps(result.to_dict()))
        return EXIT_OK
    shape = f"{emb.image.shape[0]} images, {emb.text.shape[0]} texts, dimension {emb.image.shape[1]}"
    print(f"{term_safe(args.file)}: {shape}")
    before, after = (result, None) if isinstance(result, Analysis) else (result.before, result.after)
    fix_label = "" if isinstance(result, Analysis) else result.fix
    print(_sizes_line(before.sizes, len(emb.image)))
    if fix_label and not isinstance(result, Analysis):
        print(f"--fix {fix_label} {result.split['text']}; before and after are both measured on that held-out part")
    after_label = f"after --fix {fix_label}: " if fix_label else ""
    for label, values in (("", before.raw), (after_label, after.raw if after else None)):
        for warning in warnings(values or {}):
            print(f"  warning: {label}{warning}")
    print("\n".join(_analysis_table(before.raw, after.raw if after else None, fix_label)))
    return EXIT_OK


def cmd_explore(args: argparse.Namespace) -> int:
    """Open Explore (the app's first page) on an embeddings file: in the app `gapviz up` already runs on this home,
    else start one here (in the foreground, as `gapviz up`). The URL names the file by path; a file outside the
    allowed folders is registered first (a link in $GAPVIZ_HOME/embeddings, gapviz.data.embedding_access), so the
    app opens nothing else."""
    import threading
    import time

    from gapviz.data.embedding_access import register
    from gapviz.queue import supervisor as up

    home = up.gapviz_home(args.home)
    params = {"source": "file", "path": str(register(args.file, home))}
    found = up.running_app(home)
    if found is not None:
        _show_url(up.app_url(*found, params=params), args.no_browser, "in the app already running")
        return EXIT_OK
    server = up.Supervisor(home, workers=args.workers, port=args.port, skip_umap_warmup=True)

    def announce() -> None:
        while not server.app_ready():
            if server.stopping:
                return
            time.sleep(0.5)
        _show_url(up.app_url(server.host, server.port, server.token, params=params), args.no_browser, "")

    threading.Thread(target=announce, daemon=True).start()
    return server.run()


def _show_url(url: str, no_browser: bool, where: str) -> None:
    """Print the URL that opens Explore on the file (and open it in a browser unless told not to)."""
    print(f"gapviz explore: {url}" + (f" ({where})" if where else ""), flush=True)
    if not no_browser:
        import webbrowser

        webbrowser.open(url)


def cmd_models(args: argparse.Namespace) -> int:
    import open_clip

    from gapviz.training.model import available_models

    for name in available_models():
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(name))
        print(f"{name}{'  [' + tags + ']' if tags else ''}")
    return EXIT_OK


def _add_explore(sub: Any) -> None:
    explore = sub.add_parser(
        "explore", help="open Explore on an embeddings file (starts the app, or uses the one running on this home)"
    )
    explore.add_argument("file", help=".npy (2, N, D), .npz, .parquet or .arrow embeddings file")
    explore.add_argument("--no-browser", action="store_true", help="only print the URL")
    explore.add_argument("--port", type=int, default=DEFAULT_APP_PORT, help="port of the app if one is started")
    explore.add_argument("--workers", type=int, default=0, help="workers to start with the app (default 0)")
    explore.set_defaults(func=cmd_explore)


def _add_analyze_parser(sub: Any) -> None:
    """`gapviz analyze FILE` and its options."""
    analyze = sub.add_parser(
        "analyze",
        help="gap metrics of your own embeddings: .npy (2,N,D), .npz image, text[, text_image_index]"
        "[, labels, class_text], or Parquet/Arrow/Feather with image and text vector columns (memory-mapped)",
    )
    analyze.add_argument("file")
    analyze.add_argument("--image-column", help="Parquet/Arrow column of the image vectors (default: image_embedding…)")
    analyze.add_argument("--text-column", help="Parquet/Arrow column of the text vectors (default: text_embedding, …)")
    analyze.add_argument("--json", action="store_true", help="one JSON object (with --fix: fix, split, before, after)")
    analyze.add_argument(
        "--fix",
        help="also measure after a training-free fix: centre, standardise or ablate:K, fitted on a seeded half "
        "of the images; before and after are measured on the other half",
    )
    analyze.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples for the intervals (0: none)")
    analyze.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the subsamples")
    analyze.add_argument(
        "--max-bytes",
        help="refuse files whose arrays would take more (default: half of free memory, for arrays "
        "that are decoded or decompressed; memory-mapped .npy and .npz are bounded by the file)",
    )
    analyze.set_defaults(func=cmd_analyze)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gapviz", description="Study the modality gap of CLIP-style models.")
    parser.add_argument("--home", help="data folder (default: $GAPVIZ_HOME or ~/.gapviz)")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a run in the foreground (default preset: demo)")
    add_config_arguments(train)
    train.set_defaults(func=cmd_train)

    runs = sub.add_parser("runs", help="list, show, export or delete saved runs")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    listing = runs_sub.add_parser("list", help="saved runs, newest first")
    listing.add_argument("--json", action="store_true")
    listing.add_argument(
        "--state", action="append", choices=[s.value for s in RunState], help="only this state (repeatable)"
    )
    listing.add_argument("--group", help="only runs of this group")
    listing.add_argument("--tag", action="append", help="only runs with this tag (repeatable: all of them)")
    listing.add_argument("--limit", type=_positive_int, default=0, help="at most this many runs (default: all)")
    listing.set_defaults(func=cmd_runs_list)
    reindex = runs_sub.add_parser("reindex", help="rebuild the run-summary index from the run folders")
    reindex.set_defaults(func=cmd_runs_reindex)
    show = runs_sub.add_parser("show", help="state, config and per-epoch metrics of a run")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_runs_show)
    export = runs_sub.add_parser("export", help="write metrics CSV, embeddings NPZ and config")
    export.add_argument("run_id")
    export.add_argument("--dest", default=".", help="output folder (default: current folder)")
    export.set_defaults(func=cmd_runs_export)
    delete = runs_sub.add_parser("delete", help="delete a run and its files")
    delete.add_argument("run_id")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=cmd_runs_delete)

    _add_analyze_parser(sub)

    _add_explore(sub)
    models = sub.add_parser("models", help="open_clip architectures and their pretrained tags")
    models.set_defaults(func=cmd_models)

    queue_commands.add_queue_commands(sub)
    reproduce_commands.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
