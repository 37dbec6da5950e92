"""RunConfig as form fields: one widget spec per setting, grouped, with help from the field docs.

Pure (no Streamlit): the Launch page turns each FieldSpec into a widget and collects the values
back into a RunConfig. Specs come from RunConfig's dataclasses and type hints, so a field added
to gapviz.config shows up in the form without touching the app.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import math
import typing
from dataclasses import dataclass
from typing import Any, Literal, Mapping, get_args, get_origin

from gapviz import config as config_module
from gapviz.config import RunConfig
from gapviz.setting_catalog import HELP, LABELS, MODEL_SOURCE, sweep_choices

MODEL_SOURCES: dict[str, str] = {
    "tiny": "gapviz-tiny, random init",
    "open_clip": "open_clip architecture (+ pretrained tag)",
    "checkpoint": "local checkpoint file",
    "run": "a saved gapviz run (fine-tune)",
}
EXPERIMENT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Model", (MODEL_SOURCE, "model.name", "model.pretrained", "model.init_run", "model.init_epoch")),
    ("Data", ("data.source", "data.path", "data.eval_shards", "data.train_size", "data.eval_size", "data.mismatch")),
    (
        "Temperature",
        (
            "temperature.mode",
            "temperature.tau",
            "temperature.tau_end",
            "temperature.schedule",
            "temperature.k",
            "temperature.lr_scale",
            "temperature.max_logit_scale",
        ),
    ),
    ("Modality swap", ("swap.mode", "swap.fraction", "swap.renormalize")),
)
"""The top of the form: what a modality-gap study varies (run name, epochs and seeds sit above it)."""
COLLAPSED: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Training",
        (
            "train.batch_size",
            "train.lr",
            "train.weight_decay",
            "train.warmup_steps",
            "train.grad_accum",
            "train.precision",
            "train.max_steps_per_epoch",
            "train.keep_epoch_checkpoints",
            "train.compile",
        ),
    ),
    ("Evaluation", ("eval.projections", "eval.umap_neighbors", "eval.batch_size", "eval.linear_probe")),
    (
        "Advanced",
        (
            "device",
            "data.seed",
            "data.image_size",
            "data.split",
            "data.image_root",
            "data.skip_broken",
            "data.csv_image_key",
            "data.csv_caption_key",
            "data.csv_separator",
            "data.shuffle_buffer",
            "data.stream_checkpoint_steps",
            "model.procrustes_init",
        ),
    ),
)
"""Collapsed sections below the experiment; a RunConfig field in neither list lands in Advanced."""
TOP_FIELDS = ("name", "train.epochs")
"""Shown first, next to tags and seeds (``seed`` itself is set by the seeds field)."""
SENTINELS: dict[str, tuple[int, str, int]] = {
    "model.init_epoch": (-1, "latest", 0),
    "data.image_size": (0, "auto", 224),
    "data.train_size": (0, "all", 8192),
    "train.max_steps_per_epoch": (0, "all", 100),
    "train.keep_epoch_checkpoints": (-1, "all", 3),
}
"""(special number, its word, the number offered when the word is switched off): a switch shows the word,
the number field appears only without it."""
PRESET_GROUPS = {
    "demo": "Demo (built-in data, tiny model)",
    "tiny-test": "Tiny test (seconds on a CPU)",
    "liang-finetune": "Liang et al.: fine-tune CLIP at fixed τ (temperature sweep)",
}
LEARNED_TAU = ("learnable", "slow_learnable", "scaled_exp", "softplus")
_APPLIES: dict[str, Any] = {
    "model.name": lambda c: c[MODEL_SOURCE] != "tiny",
    "model.pretrained": lambda c: c[MODEL_SOURCE] in ("open_clip", "checkpoint"),
    "model.init_run": lambda c: c[MODEL_SOURCE] == "run",
    "model.init_epoch": lambda c: c[MODEL_SOURCE] == "run",
    "data.path": lambda c: c["data.source"] != "synthetic",
    "data.image_root": lambda c: c["data.source"] in ("coco", "csv"),
    "data.eval_shards": lambda c: c["data.source"] == "webdataset",
    "data.shuffle_buffer": lambda c: c["data.source"] == "webdataset",
    "data.stream_checkpoint_steps": lambda c: c["data.source"] == "webdataset",
    "data.skip_broken": lambda c: c["data.source"] != "synthetic",
    "data.split": lambda c: c["data.source"] == "coco",
    "data.csv_image_key": lambda c: c["data.source"] == "csv",
    "data.csv_caption_key": lambda c: c["data.source"] == "csv",
    "data.csv_separator": lambda c: c["data.source"] == "csv",
    "temperature.tau_end": lambda c: c["temperature.mode"] == "scheduled",
    "temperature.schedule": lambda c: c["temperature.mode"] == "scheduled",
    "temperature.k": lambda c: c["temperature.mode"] == "scaled_exp",
    "temperature.lr_scale": lambda c: c["temperature.mode"] == "slow_learnable",
    "temperature.max_logit_scale": lambda c: c["temperature.mode"] in LEARNED_TAU,
    "swap.fraction": lambda c: c["swap.mode"] != "none",
    "swap.renormalize": lambda c: c["swap.mode"] != "none",
    "eval.umap_neighbors": lambda c: "umap" in c["eval.projections"],
}


def applies(path: str, chosen: Mapping[str, Any]) -> bool:
    """Whether a setting is used given the modes chosen so far (``chosen`` maps paths to values)."""
    rule = _APPLIES.get(path)
    return rule is None or bool(rule(chosen))


def applies_in_sweep(path: str, chosen: Mapping[str, Any], swept: list[str]) -> bool:
    """Whether a setting is used now, or could be by some value of a swept choice (swap.mode swept: its fraction)."""
    if applies(path, chosen):
        return True
    options = [(s, o) for s in swept if s in chosen for o in spec_for(s).options]
    return any(applies(path, {**chosen, s: option}) for s, option in options)


def sentinel_allowed(path: str, chosen: Mapping[str, Any]) -> bool:
    """Whether a setting's sentinel word is valid here (all training pairs only for real data)."""
    return path in SENTINELS and not (path == "data.train_size" and chosen.get("data.source") == "synthetic")


def model_source(cfg: RunConfig) -> str:
    """Which of MODEL_SOURCES a config's model settings describe."""
    if cfg.model.init_run:
        return "run"
    if cfg.model.pretrained:
        return "checkpoint" if _looks_like_file(cfg.model.pretrained) else "open_clip"
    return "open_clip" if cfg.model.name != config_module.TINY_MODEL else "tiny"


def _looks_like_file(text: str) -> bool:
    return "/" in text or "\\" in text or text.endswith((".pt", ".pth", ".bin", ".safetensors", ".ckpt"))


def apply_model_source(values: dict[str, Any], source: str) -> dict[str, Any]:
    """The model fields that a model source implies (the tiny model; no pretrained tag when fine-tuning)."""
    out = dict(values)
    if source == "tiny":
        out.update({"model.name": config_module.TINY_MODEL, "model.pretrained": "", "model.init_run": ""})
    elif source in ("open_clip", "checkpoint"):
        out["model.init_run"] = ""
    elif source == "run":
        out["model.pretrained"] = ""
    return out


def collapsed_sections() -> list[tuple[str, tuple[str, ...]]]:
    """The collapsed sections, with any RunConfig field that no section lists added to Advanced."""
    listed = {p for _, paths in (*EXPERIMENT, *COLLAPSED) for p in paths} | set(TOP_FIELDS) | {"seed"}
    rest = tuple(p for p in all_paths() if p not in listed)
    return [(title, paths + rest if title == "Advanced" else paths) for title, paths in COLLAPSED]


def finetune_config(cfg: RunConfig, run_id: str, name: str) -> RunConfig:
    """A saved run's config set to start from that run's latest checkpoint (Fine-tune from this run)."""
    model = dataclasses.replace(cfg.model, init_run=run_id, init_epoch=-1, pretrained="")
    return cfg.replace(model=model, name=f"{name} fine-tune".strip())


@dataclass(frozen=True)
class FieldSpec:
    """One form field: its dotted path, widget kind, choices, label and help text."""

    path: str
    kind: str  # "choice", "multi", "bool", "int", "float", "text"
    options: tuple[str, ...] = ()
    help: str = ""
    label: str = ""


@functools.cache
def field_docs() -> dict[str, str]:
    """``"data.mismatch" -> "Fraction of training pairs ..."`` from the attribute docstrings in gapviz.config."""
    tree = ast.parse(inspect.getsource(config_module))
    section_of = {
        f.type if isinstance(f.type, str) else f.type.__name__: f.name
        for f in dataclasses.fields(RunConfig)
        if dataclasses.is_dataclass(_hint(RunConfig, f.name))
    }
    docs: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        prefix = "" if node.name == "RunConfig" else section_of.get(node.name)
        if prefix is None:
            continue
        for current, following in zip(node.body, node.body[1:], strict=False):
            if not (isinstance(current, ast.AnnAssign) and isinstance(current.target, ast.Name)):
                continue
            text = (
                following.value.value
                if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                else None
            )
            if isinstance(text, str):
                path = f"{prefix}.{current.target.id}" if prefix else current.target.id
                docs[path] = " ".join(text.split())
    return docs


def _hint(cls: Any, name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def spec_for(path: str) -> FieldSpec:
    """The widget spec of one dotted setting (or of the form-only model source)."""
    label = LABELS.get(path, path.split(".")[-1].replace("_", " "))
    help_text = HELP.get(path) or field_docs().get(path, "")
    if path == MODEL_SOURCE:
        return FieldSpec(path, "choice", tuple(MODEL_SOURCES), help_text, label)
    cls: Any = RunConfig
    parts = path.split(".")
    for part in parts[:-1]:
        cls = _hint(cls, part)
    hint = _hint(cls, parts[-1])
    origin = get_origin(hint)
    if origin is Literal:
        return FieldSpec(path, "choice", tuple(get_args(hint)), help_text, label)
    if origin is tuple:
        item = get_args(hint)[0]
        options = tuple(get_args(item)) if get_origin(item) is Literal else ()
        return FieldSpec(path, "multi", options, help_text, label)
    kind = {bool: "bool", int: "int", float: "float"}.get(hint, "text")
    return FieldSpec(path, kind, (), help_text, label)


def all_paths() -> list[str]:
    """Every dotted setting of RunConfig, in declaration order."""
    paths: list[str] = []
    for f in dataclasses.fields(RunConfig):
        hint = _hint(RunConfig, f.name)
        if dataclasses.is_dataclass(hint):
            paths.extend(f"{f.name}.{sub.name}" for sub in dataclasses.fields(hint))
        else:
            paths.append(f.name)
    return paths


def value_at(cfg: RunConfig, path: str) -> Any:
    """A setting's value; the form-only model source is derived from the model settings."""
    return model_source(cfg) if path == MODEL_SOURCE else config_module.value_at(cfg, path)


def float_step(value: float) -> float:
    """A spin-button step of the size of ``value`` (1e-3 steps by 1e-4, 0.07 by 0.01)."""
    if not value or not math.isfinite(value):
        return 0.01
    return 10.0 ** (math.floor(math.log10(abs(value))) - (1 if abs(value) < 1 else 0))


def build_config(values: dict[str, Any]) -> RunConfig:
    """A RunConfig from ``{"train.epochs": 3, ...}`` (every path given); raises ConfigError on bad types."""
    tree: dict[str, Any] = {}
    for path, value in values.items():
        if path == MODEL_SOURCE:
            continue
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = list(value) if isinstance(value, tuple) else value
    return RunConfig.from_dict(tree)


def preset_label(name: str) -> str:
    """A preset's name with where it comes from."""
    if name in PRESET_GROUPS:
        return f"{name} — {PRESET_GROUPS[name]}"
    if name.startswith("yaras-"):
        return f"{name} — Yaras et al. ({name.removeprefix('yaras-').replace('-', ' ')})"
    return name


# ---- sweeps ------------------------------------------------------------------------------
MAX_RUNS = 48
"""A sweep queues at most this many runs unless the user confirms the larger number."""
NUMBER_SWEEPS = ("list", "log-spaced", "evenly spaced")


def sweepable_paths() -> list[str]:
    """Settings it makes sense to sweep, in the catalog's group order: numbers, choices, switches and text
    (not lists; seeds have their own field)."""
    fields = set(all_paths()) - {"name", "seed"}
    return [p for p in sweep_choices() if p in fields and spec_for(p).kind != "multi"]


def tidy(value: float) -> float:
    """``value`` without binary-float noise (0.7000000000000001 -> 0.7): 12 significant digits at most."""
    return float(f"{value:.12g}")


PAPER_SWAP_FRACTION: dict[str, float] = {
    mode: float(config_module.PRESETS[f"yaras-{mode}-swap"]["swap.fraction"]) for mode in ("hard", "soft")
}
"""The swap fraction Yaras et al. found best per swap mode (their presets): hard 1e-3, soft 5e-2."""


def swap_fraction_default(mode: str, fraction: float) -> float:
    """The fraction a swap field starts at: the one given, or the paper's for the mode when it is 0
    (soft's when no swap is chosen but the mode is swept)."""
    return fraction if fraction > 0 else PAPER_SWAP_FRACTION.get(mode, PAPER_SWAP_FRACTION["soft"])


def sweep_modes(kind: str) -> tuple[str, ...]:
    """How a setting's values can be given: numbers as a list or a range, choices and switches by picking."""
    if kind == "float":
        return NUMBER_SWEEPS
    if kind == "int":
        return ("list", "evenly spaced")
    return ("pick",) if kind in ("choice", "bool") else ("list",)


def parse_values(text: str, kind: str) -> list[Any]:
    """``"0.01, 0.03 0.1"`` as numbers of ``kind`` (or text); ValueError names the item it cannot read."""
    items = (
        [item for item in text.replace(",", " ").split() if item]
        if kind != "text"
        else [item.strip() for item in text.split(",") if item.strip()]
    )
    if kind not in ("int", "float"):
        return items
    values: list[Any] = []
    for item in items:
        try:
            values.append(int(item) if kind == "int" else float(item))
        except ValueError:
            raise ValueError(f"cannot read {item!r} as {'a whole number' if kind == 'int' else 'a number'}") from None
    return values


def spaced_values(start: float, stop: float, count: int, *, log: bool, kind: str = "float") -> list[Any]:
    """``count`` values from start to stop (both included), log-spaced or evenly; ValueError when impossible."""
    if count < 1:
        raise ValueError("give at least one value")
    if log and (start <= 0 or stop <= 0):
        raise ValueError("a log-spaced range needs start and stop > 0")
    if count == 1:
        points = [float(start)]
    elif log:
        ratio = math.log(stop / start) / (count - 1)
        points = [start * math.exp(ratio * i) for i in range(count)]
    else:
        points = [start + (stop - start) * i / (count - 1) for i in range(count)]
    if kind == "int":
        return list(dict.fromkeys(int(round(v)) for v in points))
    return list(dict.fromkeys(float(f"{v:.4g}") for v in points))


def run_count(axes: Mapping[str, list[Any]], seeds: int) -> int:
    """Runs a grid queues: the product of every setting's number of values, times the seeds."""
    return math.prod(len(values) for values in axes.values()) * max(1, seeds)


def swept_paths(axes: Mapping[str, list[Any]], seeds: Any) -> list[str]:
    """The settings that tell a form's runs apart: the swept ones, then the seed when several are given."""
    return [*axes, *(["seed"] if isinstance(seeds, list) and len(seeds) > 1 else [])]


def group_for(typed: str, name: str, base_name: str, runs: int) -> str | None:
    """The group the runs are queued in: the one typed; else for several runs the run name the user typed
    (not the preset's), or None for a new ``sweep-<id>``; a single run untyped is in no group ("")."""
    if typed.strip():
        return typed.strip()
    if runs < 2:
        return ""
    return name.strip() if name.strip() and name.strip() != base_name else None
