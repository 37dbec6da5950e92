"""The CUDA paths of training (skipped without CUDA; benchmarks/gpu_check.sh runs them on the first GPU lent)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from train_fixtures import tiny_config

from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore
from gapviz.training.loop import encode, prepare
from gapviz.training.runner import execute_run

pytestmark = pytest.mark.gpu


def test_a_tiny_run_trains_on_cuda_in_bf16_to_finite_metrics(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create(tiny_config(device="cuda", train__precision="bf16", train__grad_accum=2))
    assert execute_run(store, run_id) == RunState.FINISHED, store.status(run_id).error
    last = store.metrics(run_id)[-1]
    assert math.isfinite(last["train_loss"]) and math.isfinite(last["gap_distance"])


def test_cuda_embeddings_equal_the_cpu_ones_in_fp32(tmp_path):
    """Same seed, same weights: the encoder's fp32 features on CUDA match the CPU's (TF32 off)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    features = []
    for device in ("cpu", "cuda"):
        setup = prepare(tiny_config(device=device, train__precision="fp32"), tmp_path / device)
        features.append(encode(setup, setup.eval_data, setup.eval_tokens))
    for on_cpu, on_cuda in zip(features[0], features[1], strict=True):
        np.testing.assert_allclose(on_cuda, on_cpu, atol=1e-4)
