"""Exact gradient accumulation: batch 64 x accumulation 4 is one batch of 256, in loss and in every gradient."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from train_fixtures import tiny_config

from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore
from gapviz.science.temperature import Temperature
from gapviz.training.loop import CLIP_LOSS, full_batch_backward, images_to_tensor, prepare
from gapviz.training.runner import execute_run

FULL_BATCH = 256
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The tiny model and FULL_BATCH training pairs, built once: each case swaps in its config and temperature."""
    return prepare(full_batch_config(FULL_BATCH), tmp_path_factory.mktemp("home"))


def full_batch_config(micro_batch, **overrides):
    return tiny_config(
        data__train_size=FULL_BATCH,
        train__batch_size=micro_batch,
        train__grad_accum=FULL_BATCH // micro_batch,
        train__precision="fp32",
        **overrides,
    )


def accumulated(prepared, micro_batch, **overrides):
    """The full-batch loss and every gradient (model and temperature) of one step over FULL_BATCH pairs."""
    cfg = full_batch_config(micro_batch, **overrides)
    setup = replace(prepared, cfg=cfg, temperature=Temperature(cfg.temperature))
    setup.model.train()
    setup.model.zero_grad(set_to_none=True)
    chosen = torch.randperm(FULL_BATCH, generator=torch.Generator().manual_seed(7)).numpy()
    loss = full_batch_backward(setup, setup.model, chosen, torch.Generator().manual_seed(11), progress=0.3)
    grads = {name: p.grad.clone() for name, p in setup.model.named_parameters() if p.grad is not None}
    if setup.temperature.trainable:
        grads["temperature.nu"] = setup.temperature.nu.grad
    return loss, grads, setup


@pytest.mark.parametrize(
    "overrides",
    [
        {"swap__mode": "hard", "swap__fraction": 0.5},
        {"swap__mode": "soft", "swap__fraction": 0.3, "temperature__mode": "softplus"},
        {"temperature__mode": "scheduled"},
    ],
    ids=["hard-swap-learnable", "soft-swap-softplus", "scheduled"],
)
def test_accumulation_equals_the_full_batch_in_loss_and_every_gradient(prepared, overrides):
    full_loss, full_grads, setup = accumulated(prepared, FULL_BATCH, **overrides)
    loss, grads, _ = accumulated(prepared, FULL_BATCH // 4, **overrides)
    trained = {name for name, p in setup.model.named_parameters() if p.requires_grad} - {"logit_scale"}
    assert trained <= set(full_grads) and set(grads) == set(full_grads)
    assert ("temperature.nu" in grads) == setup.temperature.trainable
    assert loss == pytest.approx(full_loss, abs=TOLERANCE)
    for name, grad in full_grads.items():
        torch.testing.assert_close(grads[name], grad, atol=TOLERANCE, rtol=0, msg=lambda m, n=name: f"{n}: {m}")


def test_the_reported_loss_is_the_full_batch_loss_not_the_micro_batches(prepared):
    """The loss accumulation reports is the CLIP loss of all 256 pairs encoded at once (issue 23: it was 4.553,
    the mean over micro-batches of 64, for a full-batch loss of 5.947)."""
    loss, _, setup = accumulated(prepared, FULL_BATCH // 4)
    data = setup.train_data
    with torch.no_grad():
        rows = np.arange(FULL_BATCH)
        images = images_to_tensor(data.images[data.caption_image[rows]], setup.bundle, setup.device)
        image, text, _ = setup.model(images, setup.train_tokens[rows])
        full = float(CLIP_LOSS(image, text, setup.temperature(0.3)))
        micro = np.mean([float(CLIP_LOSS(image[i::4], text[i::4], setup.temperature(0.3))) for i in range(4)])
    assert loss == pytest.approx(full, abs=TOLERANCE)
    assert abs(loss - micro) > 0.1


@pytest.mark.slow
def test_a_run_reports_the_same_training_loss_accumulated_or_not(tmp_path):
    losses = []
    for micro_batch in (FULL_BATCH, FULL_BATCH // 4):
        store = RunStore(tmp_path / str(micro_batch))
        run_id = store.create(full_batch_config(micro_batch, train__epochs=1))
        assert execute_run(store, run_id) == RunState.FINISHED
        losses.append(store.metrics(run_id)[-1]["train_loss"])
    assert losses[1] == pytest.approx(losses[0], abs=TOLERANCE)
