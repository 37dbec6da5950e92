"""The experiments `gapviz reproduce` runs: one module each, registered here by name.

Each module follows the ``Experiment`` protocol of :mod:`gapviz.reproduce.experiments.base` (plan,
analyze, table, charts). Modules are imported when first asked for, so listing them stays cheap.
"""

from __future__ import annotations

import importlib
from typing import cast

from gapviz.reproduce.experiments.base import Experiment, ExperimentError

EXPERIMENTS: dict[str, str] = {
    "cone": "gapviz.reproduce.experiments.cone",
    "temperature-sweep": "gapviz.reproduce.experiments.temperature_sweep",
    "shift": "gapviz.reproduce.experiments.shift",
    "mismatch": "gapviz.reproduce.experiments.mismatch",
    "mitigations": "gapviz.reproduce.experiments.mitigations",
    "procrustes": "gapviz.reproduce.experiments.procrustes",
    "theory": "gapviz.reproduce.experiments.theory",
}
"""Experiment name -> module, in the order `gapviz reproduce all` runs them."""


def names() -> list[str]:
    return list(EXPERIMENTS)


def get(name: str) -> Experiment:
    """The module of experiment ``name`` (an ``Experiment``); ExperimentError lists the known ones."""
    if name not in EXPERIMENTS:
        raise ExperimentError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return cast(Experiment, importlib.import_module(EXPERIMENTS[name]))
