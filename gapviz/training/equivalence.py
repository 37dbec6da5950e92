"""Whether N ranks × batch b equal one process with batch N·b: the loss and every gradient of one step, on ranks
and alone (tests/training/test_distributed.py checks it on CPU, benchmarks/gpu_check.sh on two GPUs)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gapviz.config import RunConfig
from gapviz.science.temperature import Temperature
from gapviz.training import distributed
from gapviz.training.loop import full_batch_backward, make_optimizer, prepare
from gapviz.training.setup import TrainingSetup

StepResult = tuple[float, dict[str, np.ndarray]]
"""One step's loss and every gradient (model and temperature), by parameter name."""
CASES: dict[str, dict[str, Any]] = {
    "hard swap, learnable τ": {"swap.mode": "hard", "swap.fraction": 0.5},
    "soft swap, softplus, accum 2": {
        "swap.mode": "soft",
        "swap.fraction": 0.3,
        "temperature.mode": "softplus",
        "train.grad_accum": 2,
    },
}
"""The settings the rank check covers; the accumulated case checks that exact accumulation composes with ranks."""


def case_configs(base: RunConfig, ranks: int, pairs: int) -> dict[str, RunConfig]:
    """Each of CASES on ``base`` in fp32, one step of ``pairs`` pairs (the whole training set) split over
    ``ranks`` ranks and the case's accumulation."""
    configs = {}
    for case, extra in CASES.items():
        micro_batch = pairs // (extra.get("train.grad_accum", 1) * ranks)
        overrides = {**extra, "data.train_size": pairs, "train.devices": ranks, "train.batch_size": micro_batch}
        configs[case] = base.with_overrides({**overrides, "train.precision": "fp32"}).check()
    return configs


def step_gradients(setup: TrainingSetup, forward: Any, seed: int = 7) -> StepResult:
    """The loss and every gradient of one step over the whole training set, rows in a seeded order."""
    make_optimizer(setup)
    setup.model.train()
    setup.model.zero_grad(set_to_none=True)
    setup.temperature.zero_grad(set_to_none=True)
    chosen = torch.randperm(len(setup.train_data), generator=torch.Generator().manual_seed(seed)).numpy()
    loss = full_batch_backward(setup, forward, chosen, torch.Generator().manual_seed(seed + 4), progress=0.3)
    grads = {name: p.grad.cpu().numpy().copy() for name, p in setup.model.named_parameters() if p.grad is not None}
    grads.update({f"temperature.{n}": p.grad.cpu().numpy().copy() for n, p in setup.temperature.named_parameters()})
    return loss, grads


def each_config(setup: TrainingSetup, configs: dict[str, RunConfig], forward: Any) -> dict[str, StepResult]:
    """``step_gradients`` under each config (same model and data; its own temperature, swap and accumulation)."""
    results = {}
    for case, cfg in configs.items():
        temperature = Temperature(cfg.temperature).to(setup.device)
        results[case] = step_gradients(replace(setup, cfg=cfg, temperature=temperature), forward)
    return results


def rank_step(rank: int, job: tuple[Path, str, list[str], dict[str, RunConfig]], sink: Any, should_stop: Any) -> Any:
    """A rank's loss and gradients under each config, after DDP's average (every rank holds the same)."""
    home, address, devices, configs = job
    with distributed.process_group(rank, devices, address):
        setup = prepare(next(iter(configs.values())), home)
        make_optimizer(setup)  # it freezes what is not trained, which DDP must know before it wraps the model
        return each_config(setup, configs, distributed.wrap(setup.model, setup.device))


def largest_gaps(ranked: dict[str, StepResult], alone: dict[str, StepResult]) -> tuple[float, float]:
    """The largest loss difference and the largest gradient difference over every config and parameter."""
    loss_gap = max(abs(ranked[case][0] - alone[case][0]) for case in alone)
    grad_gap = max(
        float(np.max(np.abs(ranked[case][1][name] - grad))) for case in alone for name, grad in alone[case][1].items()
    )
    return loss_gap, grad_gap
