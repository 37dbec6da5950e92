"""Reproduce a paper experiment: run (or queue) its planned runs, then write its report.

``reproduce(name, scale, home)`` resolves the experiment's plan against the RunStore, trains every
run that is not finished yet in this process (``execute_run``, one progress line per epoch), and
writes ``report.md``, ``results.json`` and the charts (PNG and SVG) to
``$GAPVIZ_HOME/reports/<name>/`` (``reports/<name>-paper/`` at paper scale).

Runs are found again, not re-trained: a planned run is matched to a run of the experiment's
group (``reproduce-<name>-<scale>``) with the same plan key and the same settings, or to a run
another reproduction made with exactly the same settings that has not failed (the pretraining run
several experiments share). So a reproduction interrupted with Ctrl-C continues where it stopped,
and running it again only rewrites the report. ``fresh=True`` starts a new group instead.

With ``queue=True`` the runs go to the RQ workers (``gapviz.queue.client``) instead; a fine-tune is
queued only once the run it starts from has finished. Run the same command again (or pass
``wait=True``) to queue what has become ready and, once every run has finished, write the report;
``report_only=True`` writes the report from finished runs without training anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gapviz.config import RunConfig
from gapviz.errors import GapvizError
from gapviz.fsio import atomic_write_bytes, atomic_write_json, json_clean
from gapviz.queue import DEFAULT_QUEUE
from gapviz.reproduce import experiments
from gapviz.reproduce.experiments.base import (
    Analysis,
    Experiment,
    ExperimentError,
    PlannedRun,
    RunResults,
    check_scale,
    check_unique_keys,
    seed_count,
)
from gapviz.reproduce.report import render_markdown, write_docs_page
from gapviz.reproduce.verdicts import Verdict, count_verdicts
from gapviz.runs.records import EpochRecord, RunState, StepProgress
from gapviz.runs.store import RunStore
from gapviz.science import catalog

REPORTS_FOLDER = "reports"
GROUP_PREFIX = "reproduce"
REPRODUCE_TAG = "reproduce"
POLL_INTERVAL_S = 10.0
"""How often ``wait=True`` looks at the queued runs."""
CHART_SCALE = 2.0

Log = Callable[[str], None]


def group_name(name: str, scale: str) -> str:
    """The sweep group of an experiment's runs, as the Compare page lists it."""
    return f"{GROUP_PREFIX}-{name}-{scale}"


def report_dir(home: Path, name: str, scale: str) -> Path:
    return Path(home) / REPORTS_FOLDER / (name if scale == "small" else f"{name}-{scale}")


# ---- matching a plan to stored runs ------------------------------------------------------------


def comparable(cfg: RunConfig | Mapping[str, Any]) -> dict[str, Any]:
    """Settings that decide a run's result: everything but its name and device."""
    data = dict(cfg.to_dict() if isinstance(cfg, RunConfig) else cfg)
    data.pop("name", None)
    data.pop("device", None)
    return data


@dataclass
class _StoredRun:
    run_id: str
    meta: dict[str, Any]
    settings: dict[str, Any]
    state: str


def _reproduce_runs(store: RunStore) -> list[_StoredRun]:
    """Every run an earlier reproduction created (oldest first)."""
    found = []
    for run_id in reversed(store.run_ids()):
        try:
            meta = store.meta(run_id)
            if REPRODUCE_TAG not in meta.get("tags", ()):
                continue
            settings = comparable(store.config(run_id))
            found.append(_StoredRun(run_id, meta, settings, store.status(run_id).state.value))
        except (OSError, ValueError, GapvizError):
            continue
    return found


def resolve_runs(
    store: RunStore,
    name: str,
    scale: str,
    plan: Sequence[PlannedRun],
    group: str,
    *,
    create: bool = True,
    share: bool = True,
) -> dict[str, str]:
    """Map each planned key to a run id: a matching run of ``group``, else (``share``) a run with the
    same settings from any reproduction (finished preferred; failed ones are not shared), else
    (``create``) a new run in ``group``."""
    stored = _reproduce_runs(store)
    run_ids: dict[str, str] = {}
    for planned in check_unique_keys(plan):
        cfg = planned.cfg
        if planned.init_from:
            parent = run_ids[planned.init_from]
            cfg = cfg.with_overrides({"model.init_run": parent, "model.init_epoch": store.config(parent).train.epochs})
        cfg = cfg.check()
        settings = comparable(cfg)
        mine = [
            run
            for run in stored
            if run.meta.get("group") == group
            and run.meta.get("reproduce", {}).get("key") == planned.key
            and run.settings == settings
        ]
        shared = [run for run in stored if share and run.settings == settings and run.state not in RunState.RESUMABLE]
        # Prefer a finished run; a queued or running one (another reproduction's) is waited for, not duplicated.
        match = next(iter(sorted(mine or shared, key=lambda run: run.state != RunState.FINISHED.value)), None)
        if match is not None:
            run_ids[planned.key] = match.run_id
            continue
        if not create:
            raise ExperimentError(
                f"{name}: no run for {planned.key!r} yet; run `gapviz reproduce {name} --scale {scale}` first"
            )
        run_id = store.create(cfg, group=group, tags=(REPRODUCE_TAG, name, scale))
        meta = {"experiment": name, "scale": scale, "key": planned.key}
        store.update_meta(run_id, reproduce=meta)
        stored.append(
            _StoredRun(
                run_id, {"group": group, "tags": [REPRODUCE_TAG], "reproduce": meta}, settings, RunState.CREATED.value
            )
        )
        run_ids[planned.key] = run_id
    return run_ids


# ---- running -----------------------------------------------------------------------------------


class ProgressLine:
    """A training sink that logs one line per evaluated epoch."""

    def __init__(self, log: Log, prefix: str, epochs: int):
        self.log, self.prefix, self.epochs = log, prefix, epochs
        self.started = time.perf_counter()

    def on_step(self, progress: StepProgress) -> None:
        pass

    def on_epoch(self, record: EpochRecord) -> None:
        m = record.metrics
        self.log(
            f"{self.prefix} epoch {record.epoch}/{self.epochs}  gap {m['gap_distance']:.3f}  tau {m['tau']:.4f}  "
            f"R@1 {m['i2t_r1']:.3f}/{m['t2i_r1']:.3f}  ({time.perf_counter() - self.started:.0f} s)"
        )


def run_locally(
    store: RunStore,
    plan: Sequence[PlannedRun],
    run_ids: Mapping[str, str],
    *,
    log: Log = print,
    device: str | None = None,
) -> None:
    """Train every planned run that has not finished, in plan order (fine-tunes after their parents)."""
    from gapviz.training.runner import execute_run

    total = len(plan)
    for index, planned in enumerate(plan, start=1):
        run_id = run_ids[planned.key]
        prefix = f"[{index}/{total}] {planned.key}"
        state = store.status(run_id).state  # a run whose process here was killed reads as abandoned: resumed
        if state == RunState.FINISHED:
            log(f"{prefix}: finished earlier (run {run_id})")
            continue
        if state in RunState.ACTIVE:
            raise ExperimentError(
                f"run {run_id} ({planned.key}) is {state.value} (on the queue or in another process); wait for it "
                "(add --queue --wait) or cancel it with `gapviz cancel`"
            )
        resume = state in RunState.RESUMABLE and store.resume_checkpoint(run_id) is not None
        cfg = store.config(run_id)
        verb = "resuming" if resume else ("training" if cfg.train.epochs else "evaluating")
        log(f"{prefix}: {verb} run {run_id}")
        final = execute_run(store, run_id, ProgressLine(log, prefix, cfg.train.epochs), resume=resume, device=device)
        if final != RunState.FINISHED:
            raise ExperimentError(f"run {run_id} ({planned.key}) ended {final.value}")


@dataclass
class QueueProgress:
    """Where a queued plan stands."""

    finished: list[str] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return not (self.active or self.submitted or self.blocked or self.failed)


def queue_ready(
    store: RunStore, conn: Any, plan: Sequence[PlannedRun], run_ids: Mapping[str, str], *, queue_name: str | None = None
) -> QueueProgress:
    """Queue every planned run that can start (created, parent finished); report the others."""
    from gapviz.queue import client as queue

    progress = QueueProgress()
    states = {key: store.status(run_id).state for key, run_id in run_ids.items()}
    for planned in plan:
        key, run_id, state = planned.key, run_ids[planned.key], states[planned.key]
        if state == RunState.FINISHED:
            progress.finished.append(key)
        elif state in RunState.ACTIVE:
            progress.active.append(key)
        elif state in RunState.RESUMABLE:
            progress.failed[key] = store.status(run_id).error or state.value
        elif planned.init_from and states[planned.init_from] != RunState.FINISHED:
            progress.blocked.append(key)
        else:
            queue.enqueue_run(conn, store, run_id, queue_name=queue_name or DEFAULT_QUEUE)
            states[key] = RunState.QUEUED
            progress.submitted.append(key)
    return progress


# ---- reports -----------------------------------------------------------------------------------


@dataclass
class Report:
    """A written report: where it is, its results (results.json) and its Markdown."""

    name: str
    scale: str
    folder: Path
    results: dict[str, Any]
    markdown: str = ""
    table: pd.DataFrame | None = None
    chart_files: tuple[str, ...] = ()

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.results["verdict"])


def run_seconds(store: RunStore, run_ids: Mapping[str, str]) -> float:
    """Training time of the runs (started to finished, as their status records it), each run once."""
    total = 0.0
    for run_id in set(run_ids.values()):
        status = store.status(run_id)
        if status.started_at and status.finished_at:
            total += float(status.finished_at) - float(status.started_at)
    return total


MEASUREMENT_KEYS = tuple(
    name for key in catalog.in_view("report") for name in (key, key + catalog.CI_SUFFIX) if name in catalog.ALL_KEYS
)
"""A run's last-epoch values that reports keep: the catalog's "report" metrics with their intervals."""


def final_measurements(store: RunStore, run_ids: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Each run's last epoch: the gap with its interval, debiased gap, null floor, R@1 and the collapse flags."""
    out = {}
    for key, run_id in run_ids.items():
        rows = store.metrics(run_id)
        if rows:
            out[key] = {k: rows[-1][k] for k in MEASUREMENT_KEYS if k in rows[-1]}
    return out


def _write_charts(charts: Mapping[str, Any], folder: Path, chart_formats: Sequence[str]) -> list[str]:
    from gapviz.charts import chart_png, chart_svg

    files = []
    for stem, chart in charts.items():
        if "png" in chart_formats:
            atomic_write_bytes(folder / f"{stem}.png", chart_png(chart, scale=CHART_SCALE))
            files.append(f"{stem}.png")
        if "svg" in chart_formats:
            atomic_write_bytes(folder / f"{stem}.svg", chart_svg(chart).encode())
    return files


def results_dict(
    module: Experiment, analysis: Analysis, scale: str, seeds: int, run_ids: Mapping[str, str], group: str
) -> dict[str, Any]:
    """results.json of a report: texts, claims with verdicts, the measured numbers and the runs."""
    return {
        "experiment": module.NAME,
        "title": module.TITLE,
        "scale": scale,
        "claim": module.CLAIM,
        "paper": module.PAPER,
        "note": module.NOTE if scale != "paper" else "",
        "seeds": seeds,
        "rule": analysis.rule,
        "verdict": analysis.verdict.value,
        "verdict_counts": count_verdicts(analysis.claims),
        "claims": [c.to_json() for c in analysis.claims],
        "power": analysis.power,
        "summary": analysis.summary,
        "differences": list(analysis.differences),
        "measured": analysis.measured,
        "runs": dict(run_ids),
        "group": group,
    }


def write_report(
    store: RunStore,
    module: Experiment,
    scale: str,
    plan: Sequence[PlannedRun],
    run_ids: Mapping[str, str],
    folder: Path,
    *,
    group: str = "",
    seeds: int = 1,
    chart_formats: Sequence[str] = ("png", "svg"),
) -> Report:
    """Analyse the finished runs and write report.md, results.json and the charts to ``folder``."""
    states = {key: store.status(run_id).state for key, run_id in run_ids.items()}
    unfinished = [f"{key} ({state.value})" for key, state in states.items() if state != RunState.FINISHED]
    if unfinished:
        raise ExperimentError(f"{module.NAME}: runs not finished yet: {', '.join(unfinished)}")
    started = time.perf_counter()
    analysis = module.analyze(RunResults(store, plan, run_ids, seeds), scale)  # type: ignore[arg-type]
    table = module.table(analysis)
    folder.mkdir(parents=True, exist_ok=True)
    chart_files = _write_charts(module.charts(analysis), folder, chart_formats)
    results = results_dict(module, analysis, scale, seeds, run_ids, group)
    results["measurements"] = final_measurements(store, run_ids)
    results["train_seconds"] = round(run_seconds(store, run_ids), 1)
    results["analysis_seconds"] = round(time.perf_counter() - started, 1)
    results["generated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results = json_clean(results)
    atomic_write_json(folder / "results.json", results)
    markdown = render_markdown(results, table, chart_files)
    atomic_write_bytes(folder / "report.md", markdown.encode())
    return Report(module.NAME, scale, folder, results, markdown, table, tuple(chart_files))


def write_docs(reports: Sequence[Report], docs_file: Path) -> Path:
    """docs/experiments.md from written reports (``gapviz reproduce all --report-only``)."""
    sections = [
        (
            r.results,
            r.folder,
            render_markdown(r.results, r.table if r.table is not None else pd.DataFrame(), r.chart_files, level=2),
        )
        for r in reports
    ]
    return write_docs_page(sections, docs_file)


# ---- the whole thing ----------------------------------------------------------------------------


def plan_for(
    name: str, scale: str, overrides: Mapping[str, Any] | None = None, seeds: int | None = None
) -> list[PlannedRun]:
    """The experiment's planned runs at ``scale`` with the user's base-setting overrides."""
    module = experiments.get(name)
    return check_unique_keys(module.plan(check_scale(scale), dict(overrides or {}), seed_count(scale, seeds)))  # type: ignore[arg-type]


def reproduce(
    name: str,
    scale: str = "small",
    home: str | Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    queue: bool = False,
    wait: bool = False,
    report_only: bool = False,
    fresh: bool = False,
    device: str | None = None,
    queue_name: str | None = None,
    out: str | Path | None = None,
    seeds: int | None = None,
    log: Log = print,
    poll_interval_s: float = POLL_INTERVAL_S,
) -> Report | QueueProgress:
    """Run (or queue) experiment ``name`` and write its report; returns the Report, or the
    QueueProgress when queued runs are still to finish."""
    module = experiments.get(name)
    check_scale(scale)
    store = RunStore(home)
    seeds = seed_count(scale, seeds)
    plan = plan_for(name, scale, overrides, seeds)
    group = group_name(name, scale) + (f"-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}" if fresh else "")
    run_ids = resolve_runs(store, name, scale, plan, group, create=not report_only, share=not fresh)
    folder = Path(out) if out else report_dir(store.home, name, scale)
    if report_only or not plan:
        return write_report(store, module, scale, plan, run_ids, folder, group=group, seeds=seeds)
    if not queue:
        run_locally(store, plan, run_ids, log=log, device=device)
        return write_report(store, module, scale, plan, run_ids, folder, group=group, seeds=seeds)
    report = lambda: write_report(store, module, scale, plan, run_ids, folder, group=group, seeds=seeds)  # noqa: E731
    return _reproduce_queued(
        store,
        name,
        scale,
        plan,
        run_ids,
        group,
        report,
        wait=wait,
        queue_name=queue_name,
        log=log,
        poll_interval_s=poll_interval_s,
    )


def _reproduce_queued(
    store: RunStore,
    name: str,
    scale: str,
    plan: Sequence[PlannedRun],
    run_ids: Mapping[str, str],
    group: str,
    report: Callable[[], Report],
    *,
    wait: bool,
    queue_name: str | None,
    log: Log,
    poll_interval_s: float,
) -> Report | QueueProgress:
    """Queue what is ready, again every ``poll_interval_s`` with ``wait``; the report once every run finished."""
    from gapviz.queue import client as rq_queue

    try:
        conn = rq_queue.connect(store.home)
    except rq_queue.QueueUnavailable as error:
        raise ExperimentError(f"{error} (or run without --queue to train here)") from None
    while True:
        try:
            progress = queue_ready(store, conn, plan, run_ids, queue_name=queue_name)
        except (rq_queue.QueueUnavailable, rq_queue.QueueError) as error:
            raise ExperimentError(str(error)) from None
        if progress.failed:
            failed = "; ".join(f"{k} (run {run_ids[k]}): {why}" for k, why in progress.failed.items())
            raise ExperimentError(
                f"{name}: runs did not finish: {failed}; `gapviz resume RUN_ID` them, then run this command again"
            )
        if progress.done:
            return report()
        if progress.submitted or not wait:
            log(
                f"{name}: {len(progress.finished)} finished, "
                f"{len(progress.active) + len(progress.submitted)} queued or running "
                f"({len(progress.submitted)} just queued), {len(progress.blocked)} waiting for the run they start from"
                + ("" if wait else f"; group {group}")
            )
        if not wait:
            log(
                f"run `gapviz reproduce {name} --scale {scale} --queue` again to queue the rest and write the report, "
                "or add --wait"
            )
            return progress
        time.sleep(poll_interval_s)
