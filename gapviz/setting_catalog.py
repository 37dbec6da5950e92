"""The one owner of how a run setting is named for people: its label in words, the symbol and unit an axis
title uses, its help text, the group a sweep picker files it under, and whether its axis is logarithmic.

The Launch form, the sweep picker, Compare's axes, Live's picker and the reports read names from here, so a
setting is renamed in one place. Paths are RunConfig's dotted paths (``temperature.tau``); the form-only
``model.source`` choice is here too.
"""

from __future__ import annotations

MODEL_SOURCE = "model.source"
"""A form-only choice (not a RunConfig field): where the model's weights come from."""
LABELS = {
    MODEL_SOURCE: "model source",
    "model.name": "architecture",
    "model.pretrained": "pretrained tag",
    "model.init_run": "start from run",
    "model.init_epoch": "from epoch",
    "data.source": "data source",
    "data.train_size": "training pairs",
    "data.eval_size": "evaluation pairs",
    "data.mismatch": "mismatched fraction",
    "temperature.mode": "temperature mode",
    "temperature.tau": "τ",
    "temperature.tau_end": "τ at the end",
    "temperature.max_logit_scale": "max logit scale",
    "swap.mode": "swap mode",
    "swap.fraction": "swap fraction",
    "train.batch_size": "batch size",
    "train.lr": "learning rate",
    "eval.batch_size": "eval batch size",
    "data.seed": "data seed",
    "train.epochs": "epochs",
}
HELP: dict[str, str] = {
    "name": "A name for the run (text); a sweep adds each run's setting values to it.",
    "seed": "Seed of model init, batch order and swaps (integer).",
    "device": "Where the run trains: auto, cpu, cuda, cuda:N or mps; a worker started with --device uses its own.",
    MODEL_SOURCE: "Where the weights come from: random init, an open_clip pretrained tag, a checkpoint file, "
    "or a saved run's checkpoint.",
    "model.name": "open_clip architecture name (e.g. ViT-B-32, RN50); for a saved run, that run's architecture.",
    "model.pretrained": "open_clip pretrained tag (e.g. openai; weights must be in the local cache) "
    "or the path of a checkpoint file.",
    "model.init_run": "Run id whose checkpoint the weights start from.",
    "model.init_epoch": "Epoch of that run's checkpoint (number); latest: its newest kept checkpoint.",
    "model.procrustes_init": "Rotate the text projection onto the image side at init (Liang et al. §4.4).",
    "data.source": "synthetic: built-in shapes and captions; coco: COCO captions; csv: an open_clip-style CSV; "
    "webdataset: img2dataset tar shards, streamed.",
    "data.path": "COCO captions / Karpathy JSON file, the CSV file, or the training shards (webdataset: "
    "shards/{00000..00099}.tar, a folder of .tar files or one .tar); a path on the worker's machine.",
    "data.image_root": "Folder the image paths are relative to (default: the data file's folder).",
    "data.split": "Karpathy split used for training (evaluation uses val).",
    "data.train_size": "Training pairs (count); synthetic data generates this many, real data is capped at it "
    "(all: no cap).",
    "data.eval_size": "Pairs in the fixed evaluation subset (count), measured after every epoch.",
    "data.mismatch": "Fraction (0–1) of training pairs whose caption belongs to another image.",
    "data.image_size": "Image side in pixels; auto: the model's own input size.",
    "data.seed": "Seed of the data set itself (integer), apart from the run seed, so seeds share data.",
    "data.skip_broken": "Skip (and count) unreadable images instead of failing.",
    "data.csv_image_key": "CSV column with the image paths.",
    "data.csv_caption_key": "CSV column with the captions.",
    "data.csv_separator": "CSV field separator (one character).",
    "data.eval_shards": "The evaluation split's shards (webdataset; same forms as the data path); its first "
    "evaluation pairs are the fixed eval set.",
    "data.shuffle_buffer": "Samples held in the stream's shuffle buffer (count; seeded by the data seed and epoch); "
    "0: shard order only.",
    "data.stream_checkpoint_steps": "A mid-epoch checkpoint every this many steps (webdataset; 0: only when the run "
    "stops), so a stopped run resumes where its stream got to.",
    "temperature.mode": "How τ = 1/s behaves (s: the logit scale; ν: a trained parameter).\n\n"
    "- fixed: $\\tau$ constant, not trained\n"
    "- learnable (CLIP): $s = e^{\\nu}$, ν trained from τ\n"
    "- scheduled (Yaras et al. TS): $\\tau(t) = \\tau_0 + (\\tau_{end} - \\tau_0)\\,t/T$, not trained "
    "(cosine: $t/T$ eased by $(1 - \\cos \\pi t/T)/2$)\n"
    "- softplus (Yaras et al. TR): $s = \\log(1 + e^{\\nu})$\n"
    "- scaled exponential (Yaras et al. TR): $s = e^{\\nu / k}$, $k > 1$\n"
    "- slow learnable (Yaras et al. SLRT): $s = e^{\\nu}$ with ν's learning rate × lr scale\n\n"
    "Every trained s is clamped to at most the max logit scale.",
    "temperature.tau": "Softmax temperature τ = 1/logit scale (unitless, CLIP starts at 0.07): the fixed value, "
    "or where the other modes start.",
    "temperature.tau_end": "τ at the last step of the schedule (unitless).",
    "temperature.schedule": "Shape of the schedule from τ to τ end: linear or cosine in training progress.",
    "temperature.k": "Divisor k of ν in s = exp(ν / k) (unitless, > 1): larger k slows τ's learning.",
    "temperature.lr_scale": "Learning-rate factor of ν (0–1) relative to the model's learning rate.",
    "temperature.max_logit_scale": "Ceiling of the learned logit scale 1/τ (unitless; CLIP uses 100).",
    "swap.mode": "Modality swapping (Yaras et al.), in training only, for a fraction p of pairs $(x_i, y_i)$:\n\n"
    "- no swap\n"
    "- hard swap: each coordinate $j$ exchanged between $x_i$ and $y_i$ with probability 1/2 (their p = 0.001)\n"
    "- soft swap: $x_i \\leftarrow \\lambda x_i + (1 - \\lambda) y_i$, "
    "$y_i \\leftarrow \\lambda y_i + (1 - \\lambda) x_i$, $\\lambda \\sim U[0, 1]$ per coordinate "
    "(their p = 0.05)",
    "swap.fraction": "Probability p (0–1) that a training pair is swapped in a batch; picking hard or soft swap "
    "fills in the fraction Yaras et al. found best (hard 0.001, soft 0.05).",
    "swap.renormalize": "Re-normalise swapped features to unit length.",
    "train.epochs": "Passes over the training set (count); 0 only evaluates the initial model.",
    "train.batch_size": "Pairs per micro-batch (count); an optimiser step sees batch size × grad accum pairs, every "
    "other pair of that full batch a negative.",
    "train.lr": "Peak learning rate of AdamW (per step), after warmup, then cosine decay.",
    "train.weight_decay": "AdamW weight decay (unitless; gains, biases and τ are not decayed).",
    "train.warmup_steps": "Optimiser steps of linear learning-rate warmup (count).",
    "train.grad_accum": "Micro-batches of batch-size pairs per optimiser step (count): the loss and gradients are "
    "exactly those of one batch of batch size × grad_accum pairs, at the cost of a second forward pass of each.",
    "train.devices": "Devices (count) that train the run together, one process each (DDP; gloo on the CPU, nccl "
    "on CUDA): each takes batch-size pairs, so a step sees batch size × grad accum × devices pairs, every other "
    "pair of them a negative.",
    "train.precision": "Number format: auto (bf16 autocast on CUDA, fp32 on CPU), fp32, bf16 or fp16.",
    "train.compile": "torch.compile the model (slower start, faster steps on a GPU).",
    "train.keep_epoch_checkpoints": "Model-weight checkpoints kept (count, newest first); all: keep every epoch's.",
    "train.max_steps_per_epoch": "Cap on optimiser steps per epoch (count); all: the whole training set.",
    "eval.projections": "2-D projections saved per epoch: pca (milliseconds), umap (seconds).",
    "eval.umap_neighbors": "UMAP neighbourhood size (count of points, 2–200).",
    "eval.batch_size": "Pairs encoded at once during evaluation (count).",
    "eval.linear_probe": "Measure linear separability of the two modalities each epoch (a logistic probe).",
}
"""Help for every field: what it does and its unit (a test checks every RunConfig field has one)."""
LOG_DEFAULT_PATHS = ("temperature.tau", "temperature.tau_end", "train.lr", "train.weight_decay")
"""Settings that span orders of magnitude: their sweeps and plots default to a log scale (as the papers plot τ)."""
SYMBOLS: dict[str, str] = {
    "temperature.tau": "τ",
    "temperature.tau_end": "τ_end",
    "temperature.k": "k",
    "temperature.max_logit_scale": "max 1/τ",
    "swap.fraction": "swap fraction",
    "data.mismatch": "mismatched fraction",
    "train.lr": "learning rate",
    "train.batch_size": "batch size",
}
"""Short names for axis titles where a symbol is what the papers print."""
UNITS: dict[str, str] = {
    "data.train_size": "pairs",
    "data.eval_size": "pairs",
    "train.batch_size": "pairs",
    "train.epochs": "epochs",
    "train.warmup_steps": "steps",
    "data.image_size": "px",
}
"""Units of the settings that have one (τ, fractions and rates are unitless)."""
SWEEP_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "temperature",
        (
            "temperature.tau",
            "temperature.mode",
            "temperature.tau_end",
            "temperature.schedule",
            "temperature.k",
            "temperature.lr_scale",
            "temperature.max_logit_scale",
        ),
    ),
    ("swap", ("swap.mode", "swap.fraction", "swap.renormalize")),
    ("data", ("data.mismatch", "data.train_size", "data.eval_size", "data.seed", "data.source")),
    ("model", (MODEL_SOURCE, "model.name", "model.pretrained", "model.procrustes_init")),
    (
        "optimisation",
        (
            "train.epochs",
            "train.batch_size",
            "train.lr",
            "train.weight_decay",
            "train.warmup_steps",
            "train.grad_accum",
            "train.precision",
        ),
    ),
)
"""The settings it makes sense to sweep, grouped as a study thinks of them, most swept first."""


def label(path: str) -> str:
    """The setting in words ("τ", "swap fraction"); an unlisted path falls back to its last part."""
    return LABELS.get(path, path.split(".")[-1].replace("_", " "))


def axis_title(path: str) -> str:
    """An axis title: symbol and unit ("τ", "training pairs (pairs)"), never a dotted path."""
    name = SYMBOLS.get(path, label(path))
    unit = UNITS.get(path)
    return f"{name} ({unit})" if unit and unit not in name else name


def sweep_group(path: str) -> str | None:
    """The picker group a sweepable setting belongs to, or None when it is not offered for sweeps."""
    return next((group for group, paths in SWEEP_GROUPS if path in paths), None)


def sweep_choices() -> list[str]:
    """Every sweepable setting, group by group, in the order a study reaches for them."""
    return [path for _, paths in SWEEP_GROUPS for path in paths]


def is_log(path: str) -> bool:
    """Whether the setting spans orders of magnitude (a log axis and log-spaced sweeps by default)."""
    return path in LOG_DEFAULT_PATHS


WORDS: dict[str, str] = {
    "temperature.tau": "softmax temperature",
    "temperature.tau_end": "temperature at the end of the schedule",
    "temperature.k": "divisor of ν in the scaled exponential",
    "temperature.lr_scale": "learning-rate factor of ν",
    "temperature.max_logit_scale": "ceiling of 1/τ",
    "temperature.schedule": "shape of the τ schedule",
    "swap.renormalize": "re-normalise after a swap",
    "data.mismatch": "pairs with another image's caption",
    "data.seed": "seed of the data set",
    "model.procrustes_init": "rotate text onto image at init",
    "train.grad_accum": "batches per optimiser step",
    "train.precision": "number format",
    "train.warmup_steps": "steps of learning-rate warmup",
}
"""A few words for settings whose label is a symbol or terse, shown in the sweep picker so typing finds them."""
CHOICE_WORDS: dict[str, dict[str, str]] = {
    "temperature.mode": {
        "fixed": "fixed",
        "learnable": "learnable (CLIP)",
        "scheduled": "scheduled (Yaras TS)",
        "softplus": "softplus (Yaras TR)",
        "scaled_exp": "scaled exponential (Yaras TR)",
        "slow_learnable": "slow learnable (Yaras SLRT)",
    },
    "swap.mode": {"none": "no swap", "hard": "hard swap", "soft": "soft swap"},
    "temperature.schedule": {"linear": "linear in t/T", "cosine": "cosine in t/T"},
}
"""Choices in words; the config keeps the code identifiers (``scaled_exp``), people read these."""


def choice_label(path: str, value: object) -> str:
    """A setting's value in words ("scaled exponential (Yaras TR)"); other values as they are."""
    return CHOICE_WORDS.get(path, {}).get(str(value), str(value))


def sweep_option(path: str) -> str:
    """A sweep picker entry with its group and words ("temperature · τ (softmax temperature)"), found by typing."""
    words = WORDS.get(path)
    return f"{sweep_group(path) or 'other'} · {label(path)}" + (f" ({words})" if words else "")


def value_text(path: str, value: object) -> str:
    """A setting's value as a label shows it: numbers compact (0.1, 1e-05), choices in words."""
    if isinstance(value, float):
        return f"{value:g}"
    return choice_label(path, value)


def swept_label(flat_config: dict[str, object], swept_paths: list[str] | tuple[str, ...]) -> str:
    """What sets one run of a sweep apart ("τ = 0.1 · seed 1"), from its flat config and the swept paths."""
    parts = []
    for path in swept_paths:
        if path not in flat_config:
            continue
        text = value_text(path, flat_config[path])
        if path == "seed":
            text = f"seed {text}"
        elif path not in CHOICE_WORDS:
            text = f"{SYMBOLS.get(path, label(path))} = {text}"
        parts.append(text)
    return " · ".join(parts)


def varying_paths(flat_configs: list[dict[str, object]], ignore: tuple[str, ...] = ("name",)) -> list[str]:
    """The settings whose values differ between runs (a group's swept settings), seed last."""
    if len(flat_configs) < 2:
        return []
    keys = [k for k in flat_configs[0] if k not in ignore]
    varying = [k for k in keys if len({repr(c.get(k)) for c in flat_configs}) > 1]
    return [k for k in varying if k != "seed"] + [k for k in varying if k == "seed"]
