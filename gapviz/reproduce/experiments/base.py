"""What every reproducible experiment shares: scales, planned runs, and read access to their results.

An experiment module (``gapviz/reproduce/experiments/<name>.py``) follows the ``Experiment``
protocol below: its texts, ``plan(scale, overrides, seeds)``, ``analyze(results, scale) ->
Analysis`` (typed: judged claims, a summary, JSON-able numbers and the differences from the
paper), ``table(analysis)`` and ``charts(analysis)``.

``gapviz.reproduce.runner`` runs (or queues) a plan, then hands the finished runs to ``analyze``.
Scales: ``small`` (2 CPU cores, built-in data, minutes), ``paper`` (the papers' settings: COCO,
open_clip architectures, a GPU) and ``tiny`` (seconds; used by the tests only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from gapviz.config import RunConfig, preset
from gapviz.errors import GapvizError
from gapviz.fsio import json_clean
from gapviz.reproduce.stats import SeedStats, proportion_stats, seed_stats, seed_stats_from_json
from gapviz.reproduce.verdicts import RULE, Claim, Verdict, combined_verdict, judge_family, power_line

Scale = Literal["tiny", "small", "paper"]
SCALES: tuple[str, ...] = ("tiny", "small", "paper")
USER_SCALES: tuple[str, ...] = ("small", "paper")
"""Scales offered on the command line; ``tiny`` exists for the tests."""

COCO_EVAL_PAIRS = 5000
"""Images of the usual COCO 5k evaluation split (paper scale)."""

SMALL_TRAIN: dict[str, Any] = {
    "data.train_size": 4096,
    "data.eval_size": 512,
    "train.epochs": 6,
    "train.batch_size": 128,
    "train.lr": 1e-3,
    "eval.projections": ["pca"],
}
"""From-scratch training at small scale: the demo preset without UMAP (≈30 s on 2 cores). The tiny
model sits at chance for ~100 steps, then learns: R@1 ≈ 0.04-0.08 on 512 eval pairs, gap ≈ 0.3.
It is also the pretraining run the fine-tuning experiments (temperature sweep, shift, Procrustes)
start from, at the tiny scale too: a model trained less than this is not at a loss minimum of
its own gap (the shift experiment needs one), and nothing cheaper gets past the plateau."""

TINY_TRAIN: dict[str, Any] = {
    "data.train_size": 512,
    "data.eval_size": 128,
    "train.epochs": 12,
    "train.batch_size": 32,
    "train.lr": 1e-3,
    "train.warmup_steps": 10,
    "eval.projections": ["pca"],
    "eval.linear_probe": False,
}
"""From-scratch training for the tests (mismatch, mitigations): seconds, past the initial plateau
(batch 32 gets there in fewer samples than batch 128)."""


DEFAULT_SEEDS: dict[str, int] = {"tiny": 3, "small": 3, "paper": 3}
"""Seeds per compared condition unless ``--seeds`` says otherwise (issue 12: at least 3)."""
GAP_UNBIASED = "gap_distance_unbiased"
GAP_PLUGIN = "gap_distance"


class ExperimentError(GapvizError):
    """An unknown experiment or scale, or runs that cannot be analysed (missing, unfinished)."""


@dataclass
class Analysis:
    """What ``analyze`` found: judged claims, a one-line summary, the numbers behind the table and
    charts (JSON-able), and every difference from the paper, stated plainly."""

    claims: list[Claim]
    summary: str
    measured: dict[str, Any]
    differences: list[str] = field(default_factory=list)
    rule: str = RULE

    def __post_init__(self) -> None:
        """Every tested part of the experiment is one Holm family: the verdicts are re-judged over all of them."""
        self.claims = judge_family(self.claims)

    @property
    def power(self) -> str:
        """The power line: how small an effect each tested part could miss."""
        return power_line(self.claims)

    @property
    def verdict(self) -> Verdict:
        return combined_verdict(c.verdict for c in self.claims)


class Experiment(Protocol):
    """The contract of an experiment module (a module satisfies it structurally)."""

    NAME: str
    TITLE: str
    CLAIM: str
    PAPER: str
    NOTE: str

    def plan(
        self, scale: Scale, overrides: Mapping[str, Any] | None = None, seeds: int | None = None
    ) -> list[PlannedRun]: ...

    def analyze(self, results: RunResults, scale: Scale) -> Analysis: ...

    def table(self, analysis: Analysis) -> pd.DataFrame: ...

    def charts(self, analysis: Analysis) -> dict[str, Any]: ...


def seed_count(scale: str, seeds: int | None) -> int:
    """The seeds to run: ``seeds`` when given (>= 1), else the scale's default."""
    if seeds is None:
        return DEFAULT_SEEDS[scale]
    if seeds < 1:
        raise ExperimentError(f"--seeds must be at least 1, got {seeds}")
    return int(seeds)


def gap_of(row: Mapping[str, Any]) -> float:
    """The gap of an epoch record: the debiased gap √max(0, U) when the record has one, else the plug-in."""
    value = row.get(GAP_UNBIASED)
    return float(value if value is not None else row[GAP_PLUGIN])


def gap_estimator(rows: Sequence[Mapping[str, Any]]) -> str:
    """Which gap ``gap_of`` read from these records (for the report)."""
    return GAP_UNBIASED if rows and all(r.get(GAP_UNBIASED) is not None for r in rows) else GAP_PLUGIN


def interval_text(stats: SeedStats | Mapping[str, Any] | None, digits: int = 3) -> str:
    """ "mean [lo, hi]" (one seed: the value alone) for a table cell."""
    if stats is None:
        return "–"
    if isinstance(stats, Mapping):  # from results.json, where NaN was written as None
        stats = seed_stats_from_json(stats)
    if not math.isfinite(stats.mean):
        return "–"
    if not math.isfinite(stats.lo):
        return f"{stats.mean:.{digits}f}"
    return f"{stats.mean:.{digits}f} [{stats.lo:.{digits}f}, {stats.hi:.{digits}f}]"


def error_bar(stats: Mapping[str, Any]) -> tuple[float, float]:
    """(lo, hi) of a ``stats_json`` dict for a chart; the mean twice when there is no interval."""
    lo, hi = stats.get("lo"), stats.get("hi")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return stats["mean"], stats["mean"]
    return lo, hi


def stats_json(values: Sequence[Any]) -> dict[str, Any]:
    """``seed_stats`` as a JSON-able dict."""
    return seed_stats(values).to_json()


PROPORTIONS = frozenset({"i2t_r1", "t2i_r1", "zero_shot", "linear_probe"})
"""Metrics that are fractions in [0, 1]: their interval over seeds is taken on the logit scale."""


def proportion_json(values: Sequence[Any]) -> dict[str, Any]:
    """``proportion_stats`` (mean with a logit-scale interval inside [0, 1]) as a JSON-able dict."""
    return proportion_stats(values).to_json()


def metric_json(metric: str, values: Sequence[Any]) -> dict[str, Any]:
    """Stats over seeds of ``metric``: a proportion's interval for recall and accuracy, Student's t otherwise."""
    return proportion_json(values) if metric in PROPORTIONS else stats_json(values)


def gap_label(measured: Mapping[str, Any]) -> str:
    """The gap column's heading, naming the estimator (debiased or plug-in)."""
    estimator = measured.get("gap_estimator", GAP_PLUGIN)
    return {GAP_UNBIASED: "gap (debiased)", GAP_PLUGIN: "gap (plug-in)"}.get(estimator, f"gap ({estimator})")


@dataclass(frozen=True)
class PlannedRun:
    """One run an experiment needs.

    ``key`` names it within the plan (e.g. ``finetune tau=0.01``); ``init_from`` is the key of an
    earlier planned run whose final checkpoint this run starts from (a fine-tune); ``params``
    holds the values the analysis groups by (τ, seed, variant...).
    """

    key: str
    cfg: RunConfig
    init_from: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ExperimentError(f"unknown scale {scale!r}; choose one of {', '.join(USER_SCALES)}")
    return scale


def base_config(
    changes: Mapping[str, Any], overrides: Mapping[str, Any] | Sequence[str] | None = None, preset_name: str = "demo"
) -> RunConfig:
    """A preset with an experiment's base ``changes``, then the user's ``overrides`` on top."""
    cfg = preset(preset_name).with_overrides(dict(changes))
    if overrides:
        cfg = cfg.with_overrides(list(overrides) if not isinstance(overrides, Mapping) else dict(overrides))
    return cfg


def variant(cfg: RunConfig, name: str, changes: Mapping[str, Any]) -> RunConfig:
    """``cfg`` with an experiment variable set, named ``name``."""
    return cfg.with_overrides(dict(changes)).replace(name=name)


def check_unique_keys(runs: Sequence[PlannedRun]) -> list[PlannedRun]:
    """Validate a plan's shape: unique keys, and every ``init_from`` naming an earlier run."""
    seen: set[str] = set()
    for run in runs:
        if run.key in seen:
            raise ValueError(f"duplicate planned run key {run.key!r}")
        if run.init_from and run.init_from not in seen:
            raise ValueError(f"planned run {run.key!r} starts from {run.init_from!r}, which is not planned before it")
        seen.add(run.key)
    return list(runs)


class RunResults:
    """Read access to a plan's finished runs, by planned key."""

    def __init__(self, store: Any, plan: Sequence[PlannedRun], run_ids: Mapping[str, str], seeds: int | None = None):
        self.store = store
        self.seeds = seeds
        """Seeds per condition the reproduction asked for (None: the scale's default)."""
        self.plan = {run.key: run for run in plan}
        self.run_ids = dict(run_ids)
        missing = [key for key in self.plan if key not in self.run_ids]
        if missing:
            raise ExperimentError(f"no run for {', '.join(missing)}")
        self._rows: dict[str, list[dict[str, Any]]] = {}

    def keys(self) -> list[str]:
        return list(self.plan)

    def params(self, key: str) -> Mapping[str, Any]:
        return self.plan[key].params

    def config(self, key: str) -> RunConfig:
        return self.store.config(self.run_ids[key])

    def rows(self, key: str) -> list[dict[str, Any]]:
        """Per-epoch metric rows (epoch 0 = before training)."""
        if key not in self._rows:
            self._rows[key] = self.store.metrics(self.run_ids[key])
            if not self._rows[key]:
                raise ExperimentError(f"run {self.run_ids[key]} ({key}) has no evaluated epoch yet")
        return self._rows[key]

    def first(self, key: str) -> dict[str, Any]:
        return self.rows(key)[0]

    def final(self, key: str) -> dict[str, Any]:
        return self.rows(key)[-1]

    def arrays(self, key: str, epoch: int = -1) -> dict[str, np.ndarray]:
        """Saved eval embeddings (image, text, text_image_index, labels, proj_*) of an epoch (-1: last)."""
        if epoch < 0:
            epoch = int(self.final(key)["epoch"])
        return self.store.epoch_arrays(self.run_ids[key], epoch)


def finite(value: Any) -> float | None:
    """A float for JSON, None for NaN/inf/missing."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return json_clean(number)


def mean_std(values: Sequence[float | None]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value), ignoring NaN."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def strictly_increasing(values: Sequence[float]) -> bool:
    return all(b > a for a, b in zip(values, values[1:], strict=False))
