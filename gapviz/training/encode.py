"""Encode an evaluation set with a model, outside any training run: ModelConfig + DataConfig in.

Explore uses it for "this model on this data" (the tiny model at random init, an open_clip
architecture with a pretrained tag, a local checkpoint, a run's kept checkpoint). It builds the
model and loads the evaluation split exactly as a training run does (gapviz.training.model,
gapviz.data.loader), and encodes in fp32 batches; no training config is involved. The
temperature is the model's own logit scale (open_clip's ``logit_scale``), not a run's schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from gapviz.config import DataConfig, ModelConfig
from gapviz.data.loader import load_pairs
from gapviz.training.loop import images_to_tensor
from gapviz.training.model import ModelBundle, build_model
from gapviz.training.setup import resolve_device

Progress = Callable[[str, float], None]
BATCH_SIZE = 256


@dataclass
class EncodedSet:
    """Unit embeddings of an evaluation set and what describes it (captions, classes, images)."""

    image: np.ndarray
    text: np.ndarray
    text_image_index: np.ndarray
    captions: list[str]
    images: np.ndarray
    labels: np.ndarray | None
    class_names: list[str] | None
    class_text: np.ndarray | None
    logit_scale: float | None


@torch.no_grad()
def encode_images(bundle: ModelBundle, device: torch.device, images: np.ndarray) -> np.ndarray:
    """Unit float32 embeddings of uint8 (N, H, W, 3) images, in batches."""
    model = bundle.model.eval()
    parts = [
        F.normalize(model.encode_image(images_to_tensor(images[s : s + BATCH_SIZE], bundle, device)).float(), dim=-1)
        for s in range(0, len(images), BATCH_SIZE)
    ]
    return torch.cat(parts).cpu().numpy()


@torch.no_grad()
def encode_texts(bundle: ModelBundle, device: torch.device, texts: list[str]) -> np.ndarray:
    """Unit float32 embeddings of captions (tokenised by the model's tokenizer), in batches."""
    model, tokens = bundle.model.eval(), bundle.tokenizer(texts)
    parts = [
        F.normalize(model.encode_text(tokens[s : s + BATCH_SIZE].to(device)).float(), dim=-1)
        for s in range(0, len(tokens), BATCH_SIZE)
    ]
    return torch.cat(parts).cpu().numpy()


def _logit_scale(model: Any) -> float | None:
    scale = getattr(model, "logit_scale", None)
    return float(scale.detach().exp()) if isinstance(scale, torch.Tensor) else None


def encode_eval_set(
    model_cfg: ModelConfig,
    data_cfg: DataConfig,
    home: Path,
    *,
    device: str = "auto",
    checkpoint: Path | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> EncodedSet:
    """The evaluation split of ``data_cfg`` encoded by ``model_cfg``'s model (or ``checkpoint``'s weights).

    The configs are taken as checked (the caller's edge validates them); raises ModelError or DataError.
    """
    report = progress or (lambda stage, fraction: None)
    report(f"building {model_cfg.name}" + (f" ({model_cfg.pretrained})" if model_cfg.pretrained else ""), 0.1)
    torch_device = resolve_device(device)
    torch.manual_seed(seed)  # a random-init model is the same one for the same seed, as in a run
    bundle = build_model(model_cfg, torch_device, checkpoint=checkpoint)
    size = data_cfg.image_size or bundle.image_size
    data = load_pairs(
        data_cfg,
        size,
        "eval",
        Path(home),
        progress=lambda done, total: report(f"loading images {done}/{total}", 0.15 + 0.25 * done / max(1, total)),
    )
    report(f"encoding {data.num_images} images and {len(data)} captions", 0.45)
    image, text = encode_images(bundle, torch_device, data.images), encode_texts(bundle, torch_device, data.captions)
    class_text = encode_texts(bundle, torch_device, data.class_prompts) if data.class_prompts else None
    return EncodedSet(
        image=image,
        text=text,
        text_image_index=np.asarray(data.caption_image, dtype=np.int64),
        captions=list(data.captions),
        images=np.asarray(data.images),
        labels=data.labels,
        class_names=data.class_prompts,
        class_text=class_text,
        logit_scale=_logit_scale(bundle.model),
    )
