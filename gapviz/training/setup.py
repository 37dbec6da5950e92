"""What a run is built from before step 1: the device, the model, temperature, data and tokens (TrainingSetup).

Its own module so the loop and the checkpoint code both import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from gapviz.config import RunConfig
from gapviz.data import PairData
from gapviz.data.loader import load_pairs
from gapviz.data.shards import ShardStream, open_stream
from gapviz.science.temperature import Temperature
from gapviz.training.model import ModelBundle, build_model


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def rank_info() -> tuple[int, int]:
    """(rank, world size) of this process: torch.distributed's when it is initialised, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


@dataclass
class TrainingSetup:
    """Everything built once per run: model, temperature, data and its tokens."""

    cfg: RunConfig
    device: torch.device
    bundle: ModelBundle
    temperature: Temperature
    train_data: PairData
    eval_data: PairData
    train_tokens: torch.Tensor
    eval_tokens: torch.Tensor
    class_tokens: torch.Tensor | None
    train_stream: ShardStream | None = None
    """webdataset: this rank's training stream (``train_data`` and ``train_tokens`` are then empty)."""

    @property
    def model(self) -> torch.nn.Module:
        return self.bundle.model


def prepare(
    cfg: RunConfig,
    home: Path,
    init_checkpoint: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> TrainingSetup:
    """Build the model, temperature and data of ``cfg`` (the slow part before step 1)."""
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    bundle = build_model(cfg.model, device, checkpoint=init_checkpoint)
    image_size = cfg.data.image_size or bundle.image_size
    report = (lambda stage: lambda done, total: progress(stage, done, total)) if progress else (lambda stage: None)
    stream = open_stream(cfg.data, image_size, home, *rank_info()) if cfg.data.source == "webdataset" else None
    if stream is None:
        train_data = load_pairs(cfg.data, image_size, "train", home, progress=report("train data"))
    else:
        train_data = PairData(np.zeros((0, image_size, image_size, 3), np.uint8), [], np.zeros(0, np.int64))
    eval_data = load_pairs(cfg.data, image_size, "eval", home, progress=report("eval data"))
    temperature = Temperature(cfg.temperature).to(device)
    class_tokens = bundle.tokenizer(eval_data.class_prompts) if eval_data.class_prompts else None
    return TrainingSetup(
        cfg=cfg,
        device=device,
        bundle=bundle,
        temperature=temperature,
        train_data=train_data,
        eval_data=eval_data,
        train_tokens=bundle.tokenizer(train_data.captions),
        eval_tokens=bundle.tokenizer(eval_data.captions),
        class_tokens=class_tokens,
        train_stream=stream,
    )
