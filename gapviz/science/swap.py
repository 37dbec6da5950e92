"""Modality swapping (Yaras et al. 2024): mix a fraction of pairs across modalities before the loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gapviz.config import SwapConfig


@dataclass(frozen=True)
class SwapDraw:
    """The random draws of one swap over a batch: which pairs are swapped, and a uniform per coordinate."""

    chosen: torch.Tensor
    noise: torch.Tensor


def draw_swap(features: torch.Tensor, cfg: SwapConfig, generator: torch.Generator | None = None) -> SwapDraw | None:
    """The draws for a batch shaped like ``features`` (None when nothing is swapped); drawn once per batch
    so that gradient accumulation can apply the same swap to every recomputation of the full batch."""
    if cfg.mode == "none" or cfg.fraction <= 0.0:
        return None
    device = features.device
    chosen = torch.rand(features.shape[0], 1, generator=generator).to(device) < cfg.fraction
    noise = torch.rand(features.shape, generator=generator).to(device=device, dtype=features.dtype)
    return SwapDraw(chosen, noise)


def apply_swap(
    image: torch.Tensor, text: torch.Tensor, draw: SwapDraw | None, cfg: SwapConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Swap the features of the pairs ``draw`` chose (see swap_modalities); rows are treated independently."""
    if draw is None:
        return image, text
    chosen, noise = draw.chosen, draw.noise
    if cfg.mode == "hard":
        keep = ~(chosen & (noise < 0.5))
        new_image = torch.where(keep, image, text)
        new_text = torch.where(keep, text, image)
    else:
        lam = torch.where(chosen, noise, torch.ones_like(noise))
        new_image = lam * image + (1.0 - lam) * text
        new_text = lam * text + (1.0 - lam) * image
    if cfg.renormalize:
        new_image, new_text = F.normalize(new_image, dim=-1), F.normalize(new_text, dim=-1)
    return new_image, new_text


def swap_modalities(
    image: torch.Tensor, text: torch.Tensor, cfg: SwapConfig, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Swap features of a random fraction of pairs (each pair chosen with probability cfg.fraction).

    hard: each coordinate of a chosen pair is exchanged between x_i and y_i with probability 1/2.
    soft: x_i <- lam*x_i + (1-lam)*y_i and y_i <- lam*y_i + (1-lam)*x_i with lam ~ U[0, 1] per
    coordinate. Rows are re-normalised afterwards when cfg.renormalize is set.
    """
    return apply_swap(image, text, draw_swap(image, cfg, generator), cfg)
