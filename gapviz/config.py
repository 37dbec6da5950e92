"""RunConfig: the one description of a run, shared by the form, the CLI, files and job payloads.

Frozen dataclasses in six sections (model, data, temperature, swap, train, eval) plus a few
top-level fields. ``validate()`` returns every problem with its field path; JSON and TOML
round-trip; ``--set section.key=value`` overrides are parsed by each field's type.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, get_args, get_origin

import tomllib

from gapviz.errors import GapvizError

TemperatureMode = Literal["fixed", "learnable", "scheduled", "softplus", "scaled_exp", "slow_learnable"]
SwapMode = Literal["none", "hard", "soft"]
DataSource = Literal["synthetic", "coco", "csv", "webdataset"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
ProjectionMethod = Literal["pca", "umap"]

TEMPERATURE_MODES: tuple[str, ...] = get_args(TemperatureMode)
SWAP_MODES: tuple[str, ...] = get_args(SwapMode)
DATA_SOURCES: tuple[str, ...] = get_args(DataSource)
PROJECTION_METHODS: tuple[str, ...] = get_args(ProjectionMethod)
TINY_MODEL = "gapviz-tiny"
SEPARATOR_NAMES = {"\\t": "\t", "tab": "\t", "TAB": "\t"}
"""Spellings of a tab separator that survive shells and forms (``--set data.csv_separator=\\t``)."""
FORBIDDEN_SEPARATORS = ('"', "\n", "\r", "\x00")
MAX_INT = 2**31 - 1
"""Largest integer setting (seeds, sizes, counts): beyond it numpy and torch overflow."""


class ConfigError(GapvizError):
    """A config that cannot be used; ``problems`` lists each one with its field path."""

    def __init__(self, problems: list["Problem"]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


MAX_LABEL = 200
"""Longest run name or tag, in characters."""
MAX_PATH_CHARS = 4096
"""Longest data path or shard pattern, in characters (Linux's PATH_MAX)."""


def label_problem(path: str, text: str) -> Problem | None:
    """Why ``text`` cannot be a run name or tag (over MAX_LABEL characters, or a control character), or None."""
    if len(text) > MAX_LABEL:
        return Problem(path, f"must be at most {MAX_LABEL} characters (got {len(text)})")
    if any(not ch.isprintable() and ch != " " for ch in text):
        return Problem(path, "must not contain control characters (newline, tab, escape, ...)")
    return None


@dataclass(frozen=True)
class ModelConfig:
    """Which open_clip model to train, and what weights it starts from."""

    name: str = TINY_MODEL
    pretrained: str = ""
    """An open_clip pretrained tag (e.g. ``openai``) or a local checkpoint file; empty: random init."""
    init_run: str = ""
    """Start from the checkpoint of an earlier gapviz run (its run id)."""
    init_epoch: int = -1
    """Epoch of ``init_run`` to start from; -1 means its last epoch."""
    procrustes_init: bool = False
    """Rotate the text projection onto the image side at init (Liang et al. §4.4)."""


@dataclass(frozen=True)
class DataConfig:
    """Where image-caption pairs come from and how they are split."""

    source: DataSource = "synthetic"
    path: str = ""
    """COCO captions / Karpathy JSON, the CSV file, or the training shards (webdataset: a brace pattern
    ``shards/{00000..00099}.tar``, a folder of .tar files or one .tar)."""
    image_root: str = ""
    """Folder the image paths are relative to (default: the file's folder)."""
    split: str = "train"
    """Karpathy split used for training (eval uses ``val``); ignored for other sources."""
    train_size: int = 8192
    """Training pairs (synthetic: generated; real: a cap, 0 = all)."""
    eval_size: int = 512
    """Pairs in the fixed evaluation subset."""
    mismatch: float = 0.0
    """Fraction of training pairs whose caption belongs to another image."""
    image_size: int = 0
    """Pixels per side; 0 = the model's own input size."""
    seed: int = 0
    """Seed of the data set itself, separate from the run seed so seeds share data."""
    skip_broken: bool = False
    """Skip (and count) unreadable images instead of failing."""
    csv_image_key: str = "filepath"
    csv_caption_key: str = "caption"
    csv_separator: str = ","
    """One character; a tab (open_clip's default) may be written as the two characters ``\\t`` or as ``tab``."""
    eval_shards: str = ""
    """webdataset: the evaluation split's shards (same forms as ``path``); its first ``eval_size`` pairs."""
    shuffle_buffer: int = 2000
    """webdataset: samples in the shuffle buffer (seeded by data.seed and the epoch); 0 = shard order only."""
    stream_checkpoint_steps: int = 1000
    """webdataset: a mid-epoch checkpoint every this many steps (0: only when the run stops)."""

    def __post_init__(self) -> None:
        if isinstance(self.csv_separator, str):
            object.__setattr__(self, "csv_separator", SEPARATOR_NAMES.get(self.csv_separator, self.csv_separator))


@dataclass(frozen=True)
class TemperatureConfig:
    """How the softmax temperature tau = 1/s behaves (SCIENCE.md)."""

    mode: TemperatureMode = "learnable"
    tau: float = 0.07
    """Fixed tau, or the initial tau of every other mode."""
    tau_end: float = 0.05
    """Final tau of the scheduled mode."""
    schedule: Literal["linear", "cosine"] = "linear"
    k: float = 2.0
    """Divisor of nu in the scaled_exp mode, s = exp(nu / k)."""
    lr_scale: float = 0.1
    """Learning-rate factor of nu in the slow_learnable mode."""
    nu_lr_scale: float = 1.0
    """Learning-rate factor of nu in every trained mode (times lr_scale in slow_learnable): lets nu
    move as far in a few hundred steps as CLIP's does in many thousand."""
    max_logit_scale: float = 100.0


@dataclass(frozen=True)
class SwapConfig:
    """Modality swapping (Yaras et al.), applied to training batches before the loss."""

    mode: SwapMode = "none"
    fraction: float = 0.0
    renormalize: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings."""

    epochs: int = 8
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 20
    grad_accum: int = 1
    devices: int = 1
    """Ranks (processes, one device each) that train the run together with DDP; each takes batch_size pairs
    per micro-batch, so an optimiser step sees batch_size × grad_accum × devices pairs."""
    precision: Precision = "auto"
    """auto: bf16 autocast on CUDA, fp32 on CPU."""
    compile: bool = False
    keep_epoch_checkpoints: int = 3
    """Model-weight checkpoints kept per epoch (newest first); -1 keeps all."""
    max_steps_per_epoch: int = 0
    """Cap on optimiser steps per epoch (0 = the whole training set)."""

    @property
    def pairs_per_step(self) -> int:
        """Pairs one optimiser step sees over every rank: batch size × grad accum × devices."""
        return self.batch_size * self.grad_accum * self.devices


@dataclass(frozen=True)
class EvalConfig:
    """Per-epoch evaluation and projection."""

    projections: tuple[ProjectionMethod, ...] = ("pca", "umap")
    umap_neighbors: int = 15
    batch_size: int = 256
    linear_probe: bool = True
    trace_every_steps: int = 20
    """Record beta = 1/tau and the gap on a fixed 64-pair eval subset every this many steps (0: never);
    its share of training time, largest at small batches, is measured in docs/benchmarks.md (training loop, c)."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run."""

    name: str = ""
    seed: int = 0
    device: str = "auto"
    """auto, cpu, cuda, cuda:N or mps."""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    temperature: TemperatureConfig = field(default_factory=TemperatureConfig)
    swap: SwapConfig = field(default_factory=SwapConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        return _build(cls, data, "")

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def with_overrides(self, overrides: dict[str, Any] | list[str]) -> "RunConfig":
        """Apply ``{"train.epochs": 3}`` or ``["train.epochs=3"]`` overrides; values are parsed by field type."""
        if isinstance(overrides, list):
            overrides = dict(parse_assignment(item) for item in overrides)
        tree = self.to_dict()
        problems = []
        for dotted, value in overrides.items():
            try:
                _assign(tree, dotted, value)
            except ConfigError as error:
                problems.extend(error.problems)
        if problems:
            raise ConfigError(problems)
        return RunConfig.from_dict(tree)

    def validate(self) -> list[Problem]:
        """Every problem with this config, each with its field path and what is allowed."""
        return _validate(self)

    def check(self) -> "RunConfig":
        """Return self, or raise ConfigError listing every problem."""
        problems = self.validate()
        if problems:
            raise ConfigError(problems)
        return self


def parse_assignment(text: str) -> tuple[str, str]:
    """Split ``section.key=value`` into its path and raw value (stripped, unless it is only whitespace,
    such as a tab separator)."""
    if "=" not in text:
        raise ConfigError([Problem(text, "expected section.key=value, e.g. train.epochs=3")])
    key, value = text.split("=", 1)
    return key.strip(), value.strip() or value


def _assign(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node: Any = tree
    hint: Any = RunConfig
    for depth, part in enumerate(parts):
        if not (dataclasses.is_dataclass(hint) and isinstance(node, dict)) or part not in node:
            known = ", ".join(_field_names(hint)) if dataclasses.is_dataclass(hint) else ""
            where = ".".join(parts[:depth]) or "top level"
            raise ConfigError([Problem(dotted, f"unknown setting; {where} has: {known}")])
        hint = typing.get_type_hints(hint)[part]
        if depth < len(parts) - 1:
            node = node[part]
    if isinstance(value, str) and not (isinstance(node[parts[-1]], str) and hint is str):
        value = _parse_value(value, hint, dotted)
    node[parts[-1]] = value


def _field_names(cls: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _parse_value(raw: str, hint: Any, path: str) -> Any:
    """Parse a command-line string into the field's type."""
    origin = get_origin(hint)
    try:
        if hint is bool:
            lowered = raw.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if hint is int:
            return int(raw)
        if hint is float:
            return float(raw)
        if origin is tuple:
            return [item.strip() for item in raw.split(",") if item.strip()]
    except ValueError:
        raise ConfigError([Problem(path, f"cannot read {raw!r} as {getattr(hint, '__name__', hint)}")]) from None
    return raw


def _build(cls: Any, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError([Problem(prefix.rstrip(".") or "config", "expected a table/object of settings")])
    hints = typing.get_type_hints(cls)
    names = set(_field_names(cls))
    problems = [
        Problem(f"{prefix}{key}", f"unknown setting; allowed: {', '.join(sorted(names))}")
        for key in data
        if key not in names
    ]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            continue
        hint = hints[key]
        path = f"{prefix}{key}"
        try:
            if dataclasses.is_dataclass(hint):
                kwargs[key] = _build(hint, value, f"{path}.")
            else:
                kwargs[key] = _coerce(value, hint, path)
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ConfigError(problems)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """Check a JSON/TOML value against a field type (ints are accepted for floats)."""
    origin = get_origin(hint)
    if origin is tuple:
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError([Problem(path, "expected a list")])
        item_hint = get_args(hint)[0]
        return tuple(_coerce(item, item_hint, path) for item in value)
    if origin is Literal:
        if value not in get_args(hint):
            allowed = ", ".join(repr(a) for a in get_args(hint))
            raise ConfigError([Problem(path, f"{value!r} is not one of {allowed}")])
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    is_bool_for_int = hint is int and isinstance(value, bool)
    if hint in (int, float, str, bool) and not (isinstance(value, hint) and not is_bool_for_int):
        raise ConfigError([Problem(path, f"expected {hint.__name__}, got {value!r}")])
    return value


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    return value


class _Checks:
    """Collects the problems of a config: ``need(ok, path, message)`` records one when ``ok`` is false."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def need(self, ok: bool, path: str, message: str) -> None:
        if not ok:
            self.problems.append(Problem(path, message))


def _validate(cfg: RunConfig) -> list[Problem]:
    checks = _Checks()
    bad_numbers = _check_numbers(checks, cfg, "")
    for section in (_check_top, _check_data, _check_temperature, _check_train):
        section(checks, cfg, bad_numbers)
    return checks.problems


def _check_numbers(checks: _Checks, node: Any, prefix: str) -> set[str]:
    """Every float finite, every int within MAX_INT (else numpy/torch fail later); returns the bad paths."""
    bad: set[str] = set()
    for item in dataclasses.fields(node):
        value, path = getattr(node, item.name), f"{prefix}{item.name}"
        if dataclasses.is_dataclass(value):
            bad |= _check_numbers(checks, value, f"{path}.")
        elif isinstance(value, float) and not math.isfinite(value):
            checks.need(False, path, f"must be a finite number, not {value}")
            bad.add(path)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            checks.need(False, path, f"must be at most {MAX_INT} in size")
            bad.add(path)
    return bad


def _check_top(checks: _Checks, cfg: RunConfig, bad: set[str]) -> None:
    need, m, ev = checks.need, cfg.model, cfg.eval
    need(cfg.seed >= 0, "seed", "must be a non-negative integer")
    name_problem = label_problem("name", cfg.name)
    need(name_problem is None, "name", name_problem.message if name_problem else "")
    need(
        cfg.device == "auto" or cfg.device in ("cpu", "mps") or _is_cuda_name(cfg.device),
        "device",
        "must be auto, cpu, cuda, cuda:N or mps",
    )
    need(bool(m.name.strip()), "model.name", "must name an open_clip architecture, e.g. gapviz-tiny or ViT-B-32")
    need(not (m.pretrained and m.init_run), "model.init_run", "give model.pretrained or model.init_run, not both")
    need(m.init_epoch >= -1, "model.init_epoch", "must be -1 (last epoch) or an epoch number >= 0")
    need(
        all(p in PROJECTION_METHODS for p in ev.projections),
        "eval.projections",
        f"each must be one of {', '.join(PROJECTION_METHODS)}",
    )
    need(2 <= ev.umap_neighbors <= 200, "eval.umap_neighbors", "must be in 2..200")
    need(ev.batch_size >= 1, "eval.batch_size", "must be >= 1")
    need(ev.trace_every_steps >= 0, "eval.trace_every_steps", "must be >= 0 (0: no gap trace)")


def _is_cuda_name(device: str) -> bool:
    """``cuda`` or ``cuda:N`` with N a small non-negative integer."""
    if device == "cuda":
        return True
    head, _, index = device.partition(":")
    return head == "cuda" and index.isascii() and index.isdigit() and len(index) <= 3


def _check_data(checks: _Checks, cfg: RunConfig, bad: set[str]) -> None:
    need, d = checks.need, cfg.data
    need(d.source in DATA_SOURCES, "data.source", f"must be one of {', '.join(DATA_SOURCES)}")
    need(d.source == "synthetic" or bool(d.path), "data.path", f"is required for data.source={d.source}")
    need(d.train_size >= 0, "data.train_size", "must be >= 0 (0 = all, for real data)")
    need(d.source != "synthetic" or d.train_size >= 2, "data.train_size", "must be at least 2 for synthetic data")
    need(d.eval_size >= 2, "data.eval_size", "must be at least 2 pairs")
    need("data.mismatch" in bad or 0.0 <= d.mismatch < 1.0, "data.mismatch", "must be a fraction in [0, 1)")
    need(d.image_size == 0 or 8 <= d.image_size <= 1024, "data.image_size", "must be 0 (model's size) or 8..1024")
    need(d.seed >= 0, "data.seed", "must be a non-negative integer")
    need(
        len(d.csv_separator) == 1 and d.csv_separator not in FORBIDDEN_SEPARATORS,
        "data.csv_separator",
        "must be a single character other than a quote or a line break (a tab: \\t)",
    )
    need(bool(d.csv_image_key.strip()), "data.csv_image_key", "must name the CSV column of image paths")
    need(bool(d.csv_caption_key.strip()), "data.csv_caption_key", "must name the CSV column of captions")
    _check_shards(checks, cfg)


def _check_shards(checks: _Checks, cfg: RunConfig) -> None:
    """The webdataset source's own fields, and what a stream cannot do (mismatch and Procrustes need every pair)."""
    need, d = checks.need, cfg.data
    need(len(d.path) <= MAX_PATH_CHARS, "data.path", f"must be at most {MAX_PATH_CHARS} characters")
    need(len(d.eval_shards) <= MAX_PATH_CHARS, "data.eval_shards", f"must be at most {MAX_PATH_CHARS} characters")
    need(0 <= d.shuffle_buffer <= 1_000_000, "data.shuffle_buffer", "must be in 0..1000000 samples")
    need(d.stream_checkpoint_steps >= 0, "data.stream_checkpoint_steps", "must be >= 0 (0: only when a run stops)")
    if d.source != "webdataset":
        return
    need(bool(d.eval_shards.strip()), "data.eval_shards", "is required for data.source=webdataset")
    need(d.mismatch == 0, "data.mismatch", "must be 0 for data.source=webdataset (a stream cannot mismatch pairs)")
    need(not cfg.model.procrustes_init, "model.procrustes_init", "is not available with data.source=webdataset")


def _check_temperature(checks: _Checks, cfg: RunConfig, bad: set[str]) -> None:
    need, t, s = checks.need, cfg.temperature, cfg.swap
    need(t.mode in TEMPERATURE_MODES, "temperature.mode", f"must be one of {', '.join(TEMPERATURE_MODES)}")
    need("temperature.tau" in bad or 0.0 < t.tau <= 10.0, "temperature.tau", "must be in (0, 10]; CLIP starts at 0.07")
    need("temperature.tau_end" in bad or 0.0 < t.tau_end <= 10.0, "temperature.tau_end", "must be in (0, 10]")
    need("temperature.k" in bad or 1.0 < t.k <= 1e6, "temperature.k", "must be in (1, 1e6] (s = exp(nu / k))")
    need("temperature.lr_scale" in bad or 0.0 < t.lr_scale <= 1.0, "temperature.lr_scale", "must be in (0, 1]")
    need(
        "temperature.nu_lr_scale" in bad or 0.0 < t.nu_lr_scale <= 1000.0,
        "temperature.nu_lr_scale",
        "must be in (0, 1000]",
    )
    need(
        "temperature.max_logit_scale" in bad or 1.0 <= t.max_logit_scale <= 1e6,
        "temperature.max_logit_scale",
        "must be in [1, 1e6]",
    )
    need(
        t.mode not in ("learnable", "slow_learnable", "scaled_exp", "softplus")
        or not 0 < t.tau <= 10.0
        or 1.0 / t.tau <= t.max_logit_scale,
        "temperature.tau",
        f"1/tau must not exceed temperature.max_logit_scale ({t.max_logit_scale})",
    )
    need(s.mode in SWAP_MODES, "swap.mode", f"must be one of {', '.join(SWAP_MODES)}")
    need("swap.fraction" in bad or 0.0 <= s.fraction <= 1.0, "swap.fraction", "must be a fraction in [0, 1]")
    need(s.mode == "none" or s.fraction > 0.0, "swap.fraction", "must be > 0 when swap.mode is hard or soft")


def _check_train(checks: _Checks, cfg: RunConfig, bad: set[str]) -> None:
    need, tr, d = checks.need, cfg.train, cfg.data
    need(tr.epochs >= 0, "train.epochs", "must be >= 0 (0 only evaluates the initial model)")
    need(tr.batch_size >= 2, "train.batch_size", "must be at least 2 (contrastive loss needs negatives)")
    need(d.source != "synthetic" or tr.batch_size <= d.train_size, "train.batch_size", "must be <= data.train_size")
    need("train.lr" in bad or tr.lr > 0.0, "train.lr", "must be > 0")
    need("train.weight_decay" in bad or tr.weight_decay >= 0.0, "train.weight_decay", "must be >= 0")
    need(tr.warmup_steps >= 0, "train.warmup_steps", "must be >= 0")
    need(tr.grad_accum >= 1, "train.grad_accum", "must be >= 1")
    need(tr.devices >= 1, "train.devices", "must be >= 1")
    need(
        "train.devices" in bad or d.source != "synthetic" or tr.batch_size * tr.devices <= d.train_size,
        "train.devices",
        "batch size × devices must be <= data.train_size (every rank needs a full micro-batch)",
    )
    need(tr.keep_epoch_checkpoints >= -1, "train.keep_epoch_checkpoints", "must be -1 (all), 0 or more")
    need(tr.max_steps_per_epoch >= 0, "train.max_steps_per_epoch", "must be >= 0 (0 = no cap)")


def sweep(cfg: RunConfig, axes: dict[str, list[Any]]) -> list[RunConfig]:
    """One checked RunConfig per combination of ``{path: [values]}`` (a grid; paths vary in the order given).

    Values may be typed (``0.05``) or text (``"0.05"``, parsed by the field's type, as on a command
    line). Each run is named after its base name and its setting values. Every combination is
    validated here, before anything is queued; a ConfigError lists each problem once, with its path
    (a problem with a swept setting names the value, e.g. "(sweep value -1)").
    """
    problems = [Problem(path, "give at least one value to sweep over") for path, values in axes.items() if not values]
    problems += [p for path in axes if (p := _unknown_setting(path))]
    twice = [path for path, values in axes.items() if len(set(map(repr, values))) < len(values)]
    problems += [Problem(path, "a value is given twice") for path in twice]
    if problems:
        raise ConfigError(problems)
    configs: list[RunConfig] = []
    found: dict[str, Problem] = {}
    for combination in itertools.product(*axes.values()):
        swept, issues = _sweep_point(cfg, dict(zip(axes, combination, strict=True)))
        found.update((str(p), p) for p in issues)
        if swept is not None:
            configs.append(swept)
    if found:
        raise ConfigError(list(found.values()))
    return configs


def _unknown_setting(path: str) -> Problem | None:
    """A problem when ``path`` does not name one setting of RunConfig (a section is not a setting)."""
    hint: Any = RunConfig
    for depth, part in enumerate(path.split(".")):
        if not dataclasses.is_dataclass(hint) or part not in _field_names(hint):
            where = ".".join(path.split(".")[:depth]) or "top level"
            known = ", ".join(_field_names(hint)) if dataclasses.is_dataclass(hint) else "no settings"
            return Problem(path, f"unknown setting; {where} has: {known}")
        hint = typing.get_type_hints(hint)[part]
    return Problem(path, "is a section; sweep one of its settings") if dataclasses.is_dataclass(hint) else None


def _sweep_point(cfg: RunConfig, assignment: dict[str, Any]) -> tuple[RunConfig | None, list[Problem]]:
    """The named config of one sweep combination and its problems (None when it cannot be built)."""

    def tagged(problem: Problem) -> Problem:
        if problem.path not in assignment:
            return problem
        return Problem(problem.path, f"{problem.message} (sweep value {_label(assignment[problem.path])})")

    try:
        swept = cfg.with_overrides(assignment)
    except ConfigError as error:
        return None, [tagged(p) for p in error.problems]
    label = " ".join(f"{path}={_label(value_at(swept, path))}" for path in assignment)
    swept = swept.replace(name=f"{cfg.name} {label}".strip())
    return swept, [tagged(p) for p in swept.validate()]


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A config tree as dotted settings, ``{"train": {"lr": 1e-3}}`` -> ``{"train.lr": 1e-3}``; lists become
    comma-joined text (what the summary index, Compare's filters and swept labels key on)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{path}."))
        elif isinstance(value, (list, tuple)):
            flat[path] = ", ".join(str(v) for v in value)
        else:
            flat[path] = value
    return flat


def value_at(cfg: RunConfig, path: str) -> Any:
    """The value of a dotted setting, e.g. ``value_at(cfg, "temperature.tau")``."""
    node: Any = cfg
    for part in path.split("."):
        node = getattr(node, part)
    return node


def _label(value: Any) -> str:
    """A compact text of a setting value for run names (``0.05``, ``1e-05``, ``soft``)."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_label(v) for v in value)
    return str(value)


def load_config_file(path: str | Path) -> RunConfig:
    """Read a RunConfig from a .toml or .json file; errors name the file."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a config file" if path.is_dir() else "config file not found"
        raise ConfigError([Problem(str(path), problem)])
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ConfigError([Problem(str(path), f"cannot parse: {error}")]) from None
    except UnicodeDecodeError as error:
        raise ConfigError([Problem(str(path), f"not UTF-8 text (byte {error.start})")]) from None
    except RecursionError:
        raise ConfigError([Problem(str(path), "cannot parse: nested too deeply")]) from None
    except OSError as error:
        raise ConfigError([Problem(str(path), f"cannot read ({error.strerror or error})")]) from None
    return RunConfig.from_dict(data)


# Presets: overrides on top of the defaults. Paper settings name their source (SCIENCE.md).
PRESETS: dict[str, dict[str, Any]] = {
    "demo": {},
    "tiny-test": {
        "data.train_size": 256,
        "data.eval_size": 64,
        "train.epochs": 2,
        "train.batch_size": 64,
        "train.warmup_steps": 2,
        "eval.projections": ["pca"],
        "eval.linear_probe": True,
    },
    "liang-finetune": {
        "model.name": "ViT-B-32",
        "model.pretrained": "openai",
        "data.source": "coco",
        "data.train_size": 0,
        "data.eval_size": 5000,
        "temperature.mode": "fixed",
        "temperature.tau": 0.01,
        "train.epochs": 5,
        "train.batch_size": 64,
        "train.lr": 1e-5,
        "train.weight_decay": 0.2,
        "eval.projections": ["pca"],
    },
    "yaras-learnable": {
        "model.name": "RN50",
        "data.source": "coco",
        "data.train_size": 0,
        "data.eval_size": 5000,
        "temperature.mode": "learnable",
        "train.epochs": 100,
        "train.batch_size": 1024,
        "train.lr": 5e-4,
        "train.weight_decay": 0.1,
        "train.warmup_steps": 2000,
        "eval.projections": ["pca"],
    },
}
_YARAS_VARIANTS: dict[str, dict[str, Any]] = {
    "yaras-fixed": {"temperature.mode": "fixed", "temperature.tau": 0.04},
    "yaras-scheduled": {"temperature.mode": "scheduled", "temperature.tau": 0.01, "temperature.tau_end": 0.05},
    "yaras-softplus": {"temperature.mode": "softplus"},
    "yaras-slow": {"temperature.mode": "slow_learnable", "temperature.lr_scale": 0.1},
    "yaras-hard-swap": {"swap.mode": "hard", "swap.fraction": 1e-3},
    "yaras-soft-swap": {"swap.mode": "soft", "swap.fraction": 5e-2},
}
for _name, _changes in _YARAS_VARIANTS.items():
    PRESETS[_name] = {**PRESETS["yaras-learnable"], **_changes}


def preset(name: str) -> RunConfig:
    """The RunConfig of a named preset (``demo`` is the built-in default)."""
    if name not in PRESETS:
        raise ConfigError([Problem("preset", f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")])
    return RunConfig(name=name).with_overrides(PRESETS[name])


def resolve_config(
    config_file: str | Path | None = None, preset_name: str | None = None, overrides: list[str] | None = None
) -> RunConfig:
    """Build a validated RunConfig from a file or preset plus ``key=value`` overrides (CLI, jobs)."""
    if config_file and preset_name:
        raise ConfigError([Problem("config", "give --config or --preset, not both")])
    cfg = load_config_file(config_file) if config_file else preset(preset_name or "demo")
    if overrides:
        cfg = cfg.with_overrides(overrides)
    return cfg.check()
