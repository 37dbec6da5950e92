"""Tiny runs shared by the training, CLI and runner tests (seconds each on 2 CPU cores)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def tiny_config(base: Mapping[str, Any] = TINY_OVERRIDES, checked: bool = True, **overrides: Any) -> RunConfig:
    """The tiny-test preset made smaller still (``base``: the training tests' sizes; the queue tests pass theirs);
    ``overrides`` use dotted keys with __ for dots. The one tiny config of the test suite."""
    extra = {key.replace("__", "."): value for key, value in overrides.items()}
    cfg = preset("tiny-test").with_overrides({**base, **extra})
    return cfg.check() if checked else cfg
