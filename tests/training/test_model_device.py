"""Device checks of gapviz.training.model: an unavailable device is named, with the ones that are."""

from __future__ import annotations

import pytest
import torch

from gapviz.config import ModelConfig
from gapviz.training.model import ModelError, available_devices, build_model, device_problem


def test_available_devices_lists_cpu_and_each_cuda_device():
    devices = available_devices()
    assert devices[0] == "cpu"
    assert [d for d in devices if d.startswith("cuda")] == [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def test_a_missing_cuda_device_says_which_devices_there_are():
    """issue 10.12: cuda:7 without a GPU said "cannot load weights '' into gapviz-tiny: Found no NVIDIA driver"."""
    with pytest.raises(ModelError) as caught:
        build_model(ModelConfig(), "cuda:99")
    message = str(caught.value)
    assert message == f"device cuda:99 is not available on this machine; available: {', '.join(available_devices())}"


def test_device_names_that_torch_cannot_parse_are_refused():
    assert "not a device name" in device_problem("cuda:-1")
    assert device_problem("cpu") is None
    assert build_model(ModelConfig(), "cpu").image_size > 0
