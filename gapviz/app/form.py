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
from typing import Any, Literal, get_args, get_origin

from gapviz import config as config_module
from gapviz.config import RunConfig

# (title, section attribute or "" for top-level fields, paths in that group)
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Run", ("name", "seed", "device")),
    ("Model", ("model.name", "model.pretrained", "model.init_run", "model.init_epoch", "model.procrustes_init")),
    ("Data", ("data.source", "data.path", "data.image_root", "data.split", "data.train_size", "data.eval_size", "data.image_size", "data.seed", "data.skip_broken", "data.csv_image_key", "data.csv_caption_key", "data.csv_separator")),
    ("Mismatched pairs", ("data.mismatch",)),
    ("Temperature", ("temperature.mode", "temperature.tau", "temperature.tau_end", "temperature.schedule", "temperature.k", "temperature.lr_scale", "temperature.max_logit_scale")),
    ("Modality swap", ("swap.mode", "swap.fraction", "swap.renormalize")),
    ("Optimisation", ("train.epochs", "train.batch_size", "train.lr", "train.weight_decay", "train.warmup_steps", "train.grad_accum", "train.precision", "train.compile", "train.keep_epoch_checkpoints", "train.max_steps_per_epoch")),
    ("Evaluation", ("eval.projections", "eval.umap_neighbors", "eval.batch_size", "eval.linear_probe")),
)
EXTRA_HELP = {
    "temperature.tau_end": "used by the scheduled mode",
    "temperature.schedule": "used by the scheduled mode",
    "temperature.k": "used by the scaled_exp mode",
    "temperature.lr_scale": "used by the slow_learnable mode",
    "device": "auto, cpu, cuda, cuda:N or mps; the worker's own --device wins when it has one",
}
PRESET_GROUPS = {
    "demo": "Demo (built-in data, tiny model)",
    "tiny-test": "Tiny test (seconds on a CPU)",
    "liang-finetune": "Liang et al.: fine-tune CLIP at fixed τ (temperature sweep)",
}


@dataclass(frozen=True)
class FieldSpec:
    """One form field: its dotted path, widget kind, choices and help text."""

    path: str
    kind: str  # "choice", "multi", "bool", "int", "float", "text"
    options: tuple[str, ...] = ()
    help: str = ""

    @property
    def label(self) -> str:
        return self.path.split(".")[-1].replace("_", " ")


@functools.cache
def field_docs() -> dict[str, str]:
    """``"data.mismatch" -> "Fraction of training pairs ..."`` from the attribute docstrings in gapviz.config."""
    tree = ast.parse(inspect.getsource(config_module))
    section_of = {f.type if isinstance(f.type, str) else f.type.__name__: f.name for f in dataclasses.fields(RunConfig) if dataclasses.is_dataclass(_hint(RunConfig, f.name))}
    docs: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        prefix = "" if node.name == "RunConfig" else section_of.get(node.name)
        if prefix is None:
            continue
        body = node.body
        for current, following in zip(body, body[1:]):
            if isinstance(current, ast.AnnAssign) and isinstance(current.target, ast.Name):
                if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str):
                    path = f"{prefix}.{current.target.id}" if prefix else current.target.id
                    docs[path] = " ".join(following.value.value.split())
    return docs


def _hint(cls: Any, name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def spec_for(path: str) -> FieldSpec:
    """The widget spec of one dotted setting."""
    cls: Any = RunConfig
    parts = path.split(".")
    for part in parts[:-1]:
        cls = _hint(cls, part)
    hint = _hint(cls, parts[-1])
    help_text = " ".join(t for t in (field_docs().get(path, ""), EXTRA_HELP.get(path, "")) if t)
    origin = get_origin(hint)
    if origin is Literal:
        return FieldSpec(path, "choice", tuple(get_args(hint)), help_text)
    if origin is tuple:
        item = get_args(hint)[0]
        return FieldSpec(path, "multi", tuple(get_args(item)) if get_origin(item) is Literal else (), help_text)
    kind = {bool: "bool", int: "int", float: "float"}.get(hint, "text")
    return FieldSpec(path, kind, (), help_text)


def all_paths() -> list[str]:
    """Every dotted setting of RunConfig, in declaration order."""
    paths = []
    for f in dataclasses.fields(RunConfig):
        hint = _hint(RunConfig, f.name)
        if dataclasses.is_dataclass(hint):
            paths.extend(f"{f.name}.{sub.name}" for sub in dataclasses.fields(hint))
        else:
            paths.append(f.name)
    return paths


def grouped_specs() -> list[tuple[str, list[FieldSpec]]]:
    """The form's groups; settings in no group land in a last "Other" group."""
    listed = {p for _, paths in GROUPS for p in paths}
    known = set(all_paths())
    groups = [(title, [spec_for(p) for p in paths if p in known]) for title, paths in GROUPS]
    rest = [spec_for(p) for p in all_paths() if p not in listed]
    if rest:
        groups.append(("Other", rest))
    return groups


def value_at(cfg: RunConfig, path: str) -> Any:
    node: Any = cfg
    for part in path.split("."):
        node = getattr(node, part)
    return node


def float_step(value: float) -> float:
    """A spin-button step of the size of ``value`` (1e-3 steps by 1e-4, 0.07 by 0.01)."""
    if not value or not math.isfinite(value):
        return 0.01
    return 10.0 ** (math.floor(math.log10(abs(value))) - (1 if abs(value) < 1 else 0))


def build_config(values: dict[str, Any]) -> RunConfig:
    """A RunConfig from ``{"train.epochs": 3, ...}`` (every path given); raises ConfigError on bad types."""
    tree: dict[str, Any] = {}
    for path, value in values.items():
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = list(value) if isinstance(value, tuple) else value
    return RunConfig.from_dict(tree)


def sweepable_paths() -> list[str]:
    """Settings a sweep can vary: numbers, choices and text (not lists or switches)."""
    return [p for p in all_paths() if spec_for(p).kind in ("int", "float", "choice", "text") and p not in ("name", "seed")]


def preset_label(name: str) -> str:
    if name in PRESET_GROUPS:
        return f"{name} — {PRESET_GROUPS[name]}"
    if name.startswith("yaras-"):
        return f"{name} — Yaras et al. ({name.removeprefix('yaras-').replace('-', ' ')})"
    return name
