"""Temperature modes (SCIENCE.md): how the logit scale s = 1/tau is parameterised and trained."""

from __future__ import annotations

import math

import torch
from torch import nn

from gapviz.config import TemperatureConfig
from gapviz.science.scales import inverse_softplus

__all__ = ["Temperature", "inverse_softplus", "scheduled_tau"]


def scheduled_tau(cfg: TemperatureConfig, progress: float) -> float:
    """tau(t) of the scheduled mode (Yaras "TS"): tau0 -> tau_end, linear or cosine in t/T."""
    progress = min(max(progress, 0.0), 1.0)
    if cfg.schedule == "cosine":
        progress = (1.0 - math.cos(math.pi * progress)) / 2.0
    return cfg.tau + (cfg.tau_end - cfg.tau) * progress


class Temperature(nn.Module):
    """The logit scale of a run; ``nu`` is trained in the learnable and reparameterised modes.

    fixed: s = 1/tau. scheduled: s = 1/tau(t). learnable and slow_learnable: s = exp(nu) (CLIP).
    softplus: s = softplus(nu). scaled_exp: s = exp(nu / k). Every trained s is clamped to
    max_logit_scale after each optimiser step, as CLIP does.
    """

    def __init__(self, cfg: TemperatureConfig):
        super().__init__()
        self.cfg = cfg
        initial_scale = 1.0 / cfg.tau
        if cfg.mode in ("learnable", "slow_learnable"):
            nu = math.log(initial_scale)
        elif cfg.mode == "softplus":
            nu = inverse_softplus(initial_scale)
        elif cfg.mode == "scaled_exp":
            nu = cfg.k * math.log(initial_scale)
        else:
            nu = None
        self.nu = nn.Parameter(torch.tensor(nu)) if nu is not None else None

    @property
    def trainable(self) -> bool:
        return self.nu is not None

    @property
    def lr_scale(self) -> float:
        """Factor on the optimiser's lr for nu: nu_lr_scale, times lr_scale in the slow_learnable mode."""
        slow = self.cfg.lr_scale if self.cfg.mode == "slow_learnable" else 1.0
        return self.cfg.nu_lr_scale * slow

    def _nu(self) -> torch.Tensor:
        """The learned parameter (the trained modes have one)."""
        if self.nu is None:
            raise ValueError(f"temperature mode {self.cfg.mode!r} has no learned parameter")
        return self.nu

    def forward(self, progress: float = 0.0) -> torch.Tensor:
        """The logit scale s at training progress t/T in [0, 1]."""
        mode = self.cfg.mode
        if mode == "fixed":
            return torch.tensor(1.0 / self.cfg.tau)
        if mode == "scheduled":
            return torch.tensor(1.0 / scheduled_tau(self.cfg, progress))
        if mode == "softplus":
            return nn.functional.softplus(self._nu())
        if mode == "scaled_exp":
            return torch.exp(self._nu() / self.cfg.k)
        return torch.exp(self._nu())

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep a trained s within (0, max_logit_scale]."""
        if self.nu is None:
            return
        ceiling = self.cfg.max_logit_scale
        mode = self.cfg.mode
        if mode == "softplus":
            self.nu.clamp_(max=inverse_softplus(ceiling))
        elif mode == "scaled_exp":
            self.nu.clamp_(max=self.cfg.k * math.log(ceiling))
        else:
            self.nu.clamp_(0.0, math.log(ceiling))
