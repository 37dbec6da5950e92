"""RunConfig: the one description of a run, shared by the form, the CLI, files and job payloads.

Frozen dataclasses in six sections (model, data, temperature, swap, train, eval) plus a few
top-level fields. ``validate()`` returns every problem with its field path; JSON and TOML
round-trip; ``--set section.key=value`` overrides are parsed by each field's type.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from gapviz.errors import GapvizError

TemperatureMode = Literal["fixed", "learnable", "scheduled", "softplus", "scaled_exp", "slow_learnable"]
SwapMode = Literal["none", "hard", "soft"]
DataSource = Literal["synthetic", "coco", "csv"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
ProjectionMethod = Literal["pca", "umap"]

TEMPERATURE_MODES: tuple[str, ...] = get_args(TemperatureMode)
SWAP_MODES: tuple[str, ...] = get_args(SwapMode)
DATA_SOURCES: tuple[str, ...] = get_args(DataSource)
PROJECTION_METHODS: tuple[str, ...] = get_args(ProjectionMethod)
TINY_MODEL = "gapviz-tiny"


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
    """COCO captions / Karpathy JSON, or the CSV file."""
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
    precision: Precision = "auto"
    """auto: bf16 autocast on CUDA, fp32 on CPU."""
    compile: bool = False
    keep_epoch_checkpoints: int = 3
    """Model-weight checkpoints kept per epoch (newest first); -1 keeps all."""
    max_steps_per_epoch: int = 0
    """Cap on optimiser steps per epoch (0 = the whole training set)."""


@dataclass(frozen=True)
class EvalConfig:
    """Per-epoch evaluation and projection."""

    projections: tuple[ProjectionMethod, ...] = ("pca", "umap")
    umap_neighbors: int = 15
    batch_size: int = 256
    linear_probe: bool = True
    trace_every_steps: int = 20
    """Record beta = 1/tau and the gap on a fixed 64-pair eval subset every this many steps (0: never);
    about 1% of training time at batch 32, less at larger batches (docs/benchmarks.md)."""


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
    """Split ``section.key=value`` into its path and raw value."""
    if "=" not in text:
        raise ConfigError([Problem(text, "expected section.key=value, e.g. train.epochs=3")])
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


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
        raise ConfigError([Problem(prefix or "config", "expected a table/object of settings")])
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
    if hint in (int, float, str, bool) and not (isinstance(value, hint) and not (hint is int and isinstance(value, bool))):
        raise ConfigError([Problem(path, f"expected {hint.__name__}, got {value!r}")])
    return value


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    return value


def _validate(cfg: RunConfig) -> list[Problem]:
    problems: list[Problem] = []

    def need(ok: bool, path: str, message: str) -> None:
        if not ok:
            problems.append(Problem(path, message))

    need(cfg.seed >= 0, "seed", "must be a non-negative integer")
    need(
        cfg.device == "auto" or cfg.device in ("cpu", "mps") or cfg.device.startswith("cuda"),
        "device",
        "must be auto, cpu, cuda, cuda:N or mps",
    )
    m, d, t, s, tr, ev = cfg.model, cfg.data, cfg.temperature, cfg.swap, cfg.train, cfg.eval
    need(bool(m.name.strip()), "model.name", "must name an open_clip architecture, e.g. gapviz-tiny or ViT-B-32")
    need(not (m.pretrained and m.init_run), "model.init_run", "give either model.pretrained or model.init_run, not both")
    need(m.init_epoch >= -1, "model.init_epoch", "must be -1 (last epoch) or an epoch number >= 0")
    need(d.source in DATA_SOURCES, "data.source", f"must be one of {', '.join(DATA_SOURCES)}")
    need(d.source == "synthetic" or bool(d.path), "data.path", f"is required for data.source={d.source}")
    need(d.train_size >= 0, "data.train_size", "must be >= 0 (0 = all, for real data)")
    need(d.source != "synthetic" or d.train_size >= 2, "data.train_size", "must be at least 2 for synthetic data")
    need(d.eval_size >= 2, "data.eval_size", "must be at least 2 pairs")
    need(0.0 <= d.mismatch < 1.0, "data.mismatch", "must be a fraction in [0, 1)")
    need(d.image_size == 0 or 8 <= d.image_size <= 1024, "data.image_size", "must be 0 (model's size) or 8..1024")
    need(len(d.csv_separator) == 1, "data.csv_separator", "must be a single character")
    need(t.mode in TEMPERATURE_MODES, "temperature.mode", f"must be one of {', '.join(TEMPERATURE_MODES)}")
    need(0.0 < t.tau <= 10.0, "temperature.tau", "must be in (0, 10]; CLIP starts at 0.07")
    need(0.0 < t.tau_end <= 10.0, "temperature.tau_end", "must be in (0, 10]")
    need(t.k > 1.0, "temperature.k", "must be > 1 (s = exp(nu / k))")
    need(0.0 < t.lr_scale <= 1.0, "temperature.lr_scale", "must be in (0, 1]")
    need(t.max_logit_scale >= 1.0, "temperature.max_logit_scale", "must be >= 1")
    need(
        t.mode not in ("learnable", "slow_learnable", "scaled_exp", "softplus") or t.tau <= 0 or 1.0 / t.tau <= t.max_logit_scale,
        "temperature.tau",
        f"1/tau must not exceed temperature.max_logit_scale ({t.max_logit_scale})",
    )
    need(s.mode in SWAP_MODES, "swap.mode", f"must be one of {', '.join(SWAP_MODES)}")
    need(0.0 <= s.fraction <= 1.0, "swap.fraction", "must be a fraction in [0, 1]")
    need(s.mode == "none" or s.fraction > 0.0, "swap.fraction", "must be > 0 when swap.mode is hard or soft")
    need(tr.epochs >= 0, "train.epochs", "must be >= 0 (0 only evaluates the initial model)")
    need(tr.batch_size >= 2, "train.batch_size", "must be at least 2 (contrastive loss needs negatives)")
    need(d.source != "synthetic" or tr.batch_size <= d.train_size, "train.batch_size", "must not exceed data.train_size")
    need(tr.lr > 0.0, "train.lr", "must be > 0")
    need(tr.weight_decay >= 0.0, "train.weight_decay", "must be >= 0")
    need(tr.warmup_steps >= 0, "train.warmup_steps", "must be >= 0")
    need(tr.grad_accum >= 1, "train.grad_accum", "must be >= 1")
    need(tr.keep_epoch_checkpoints >= -1, "train.keep_epoch_checkpoints", "must be -1 (all), 0 or more")
    need(tr.max_steps_per_epoch >= 0, "train.max_steps_per_epoch", "must be >= 0 (0 = no cap)")
    need(
        all(p in PROJECTION_METHODS for p in ev.projections),
        "eval.projections",
        f"each must be one of {', '.join(PROJECTION_METHODS)}",
    )
    need(2 <= ev.umap_neighbors <= 200, "eval.umap_neighbors", "must be in 2..200")
    need(ev.batch_size >= 1, "eval.batch_size", "must be >= 1")
    need(ev.trace_every_steps >= 0, "eval.trace_every_steps", "must be >= 0 (0: no gap trace)")
    return problems


def load_config_file(path: str | Path) -> RunConfig:
    """Read a RunConfig from a .toml or .json file; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([Problem(str(path), "config file not found")])
    try:
        text = path.read_text()
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(str(path), f"cannot parse: {error}")]) from None
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
