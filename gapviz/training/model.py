"""Build an open_clip model, its tokenizer and image normalisation from a ModelConfig."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import open_clip
import torch
from torch import nn

from gapviz.config import ModelConfig
from gapviz.errors import GapvizError

MODEL_CONFIG_DIR = Path(__file__).resolve().parents[1] / "model_configs"


class ModelError(GapvizError):
    """A model that cannot be built: unknown name, missing weights, unreadable checkpoint."""


@dataclass
class ModelBundle:
    """A model with what is needed to feed it: tokenizer, input size, normalisation."""

    model: nn.Module
    tokenizer: Callable[..., torch.Tensor]
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


@functools.cache
def register_builtin_models() -> None:
    """Make gapviz's own architectures (gapviz-tiny) known to open_clip."""
    open_clip.add_model_config(MODEL_CONFIG_DIR)


def available_models() -> list[str]:
    register_builtin_models()
    return open_clip.list_models()


def _quiet_open_clip() -> None:
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))


def available_devices() -> list[str]:
    """The devices this machine can train on: cpu, then each CUDA device, then mps."""
    cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    devices = ["cpu"] + [f"cuda:{index}" for index in range(cuda_count)]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def device_problem(device: str | torch.device) -> str | None:
    """Why ``device`` (cpu, cuda, cuda:N, mps) cannot be used here, naming the ones that can; None if it can."""
    try:
        wanted = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        return f"device {str(device)!r} is not a device name; use cpu, cuda, cuda:N or mps"
    name = f"cuda:{wanted.index or 0}" if wanted.type == "cuda" else wanted.type
    available = available_devices()
    if name in available:
        return None
    return f"device {device} is not available on this machine; available: {', '.join(available)}"


def require_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device, or ModelError saying it is not available and which ones are."""
    problem = device_problem(device)
    if problem:
        raise ModelError(problem)
    return torch.device(device)


def build_model(cfg: ModelConfig, device: str | torch.device = "cpu", checkpoint: Path | None = None) -> ModelBundle:
    """Create the model of ``cfg`` on ``device``; ``checkpoint`` (a gapviz run's) overrides cfg.pretrained."""
    device = require_device(device)
    register_builtin_models()
    _quiet_open_clip()
    if cfg.name not in open_clip.list_models():
        raise ModelError(f"unknown model {cfg.name!r}; run `gapviz models` or see open_clip.list_models()")
    source = str(checkpoint) if checkpoint else cfg.pretrained
    if source and not checkpoint:
        source = _resolve_pretrained(cfg.name, cfg.pretrained)
    try:
        model = open_clip.create_model(cfg.name, pretrained=source or None, device=device)
    except RuntimeError as error:
        if "Failed to download" in str(error) or "cannot find the requested files" in str(error):
            raise ModelError(
                f"pretrained weights {cfg.name}/{cfg.pretrained} are not in the local cache and cannot be "
                "downloaded here (offline); fetch them once where there is network (HF cache), or pass a local "
                "checkpoint file as model.pretrained"
            ) from None
        raise ModelError(f"cannot load weights {source!r} into {cfg.name}: {error}") from None
    except (OSError, KeyError, ValueError) as error:
        raise ModelError(f"cannot load weights {source!r} into {cfg.name}: {error}") from None
    preprocess = open_clip.get_model_preprocess_cfg(model)
    size = preprocess["size"]
    image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
    tokenizer = open_clip.get_tokenizer(cfg.name)
    return ModelBundle(model, tokenizer, image_size, tuple(preprocess["mean"]), tuple(preprocess["std"]))


def _resolve_pretrained(name: str, pretrained: str) -> str:
    """A local checkpoint path (checked) or a known open_clip pretrained tag for ``name``."""
    suffixes = (".pt", ".pth", ".bin", ".safetensors")
    looks_like_path = any(sep in pretrained for sep in ("/", "\\")) or pretrained.endswith(suffixes)
    if looks_like_path:
        path = Path(pretrained).expanduser().resolve()
        if not path.is_file():
            raise ModelError(f"checkpoint file not found: {path}")
        return str(path)
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained not in tags:
        known = ", ".join(tags) or "none"
        raise ModelError(
            f"unknown pretrained tag {pretrained!r} for {name}; known tags: {known}, or give a checkpoint file"
        )
    return pretrained


def encoder_parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups as open_clip's trainer makes them: no decay on gains, biases, norms, logit scale."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay_keys = ("bn", "ln", "bias", "logit_scale", "positional_embedding")
        exclude = param.ndim < 2 or any(key in name for key in no_decay_keys)
        (no_decay if exclude else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
