"""Tiny runs shared by the training, CLI and runner tests (seconds each on 2 CPU cores)."""

from __future__ import annotations

from gapviz.config import RunConfig, preset

TINY_OVERRIDES = {
    "data.train_size": 128,
    "data.eval_size": 48,
    "train.batch_size": 32,
    "train.epochs": 2,
    "train.warmup_steps": 1,
    "train.lr": 2e-3,
    "eval.projections": ["pca"],
}


def tiny_config(**overrides) -> RunConfig:
    """The tiny-test preset made smaller still; ``overrides`` use dotted keys with __ for dots."""
    extra = {key.replace("__", "."): value for key, value in overrides.items()}
    return preset("tiny-test").with_overrides({**TINY_OVERRIDES, **extra}).check()
