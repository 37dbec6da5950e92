import math

import pytest
import torch

from gapviz.config import RunConfig, TemperatureConfig
from gapviz.science.temperature import Temperature, inverse_softplus, scheduled_tau


@pytest.mark.parametrize("mode", ["fixed", "learnable", "slow_learnable", "softplus", "scaled_exp", "scheduled"])
def test_every_mode_starts_at_tau(mode):
    temperature = Temperature(TemperatureConfig(mode=mode, tau=0.05, tau_end=0.5))
    assert float(temperature(0.0).detach()) == pytest.approx(20.0, rel=1e-5)


def test_trained_modes_have_a_parameter_and_fixed_ones_do_not():
    assert Temperature(TemperatureConfig(mode="fixed")).trainable is False
    assert Temperature(TemperatureConfig(mode="scheduled")).trainable is False
    for mode in ("learnable", "slow_learnable", "softplus", "scaled_exp"):
        assert Temperature(TemperatureConfig(mode=mode)).trainable
    assert Temperature(TemperatureConfig(mode="slow_learnable", lr_scale=0.1)).lr_scale == 0.1
    assert Temperature(TemperatureConfig(mode="learnable")).lr_scale == 1.0


def test_nu_lr_scale_multiplies_every_trained_mode():
    assert Temperature(TemperatureConfig(mode="learnable", nu_lr_scale=30.0)).lr_scale == 30.0
    assert Temperature(TemperatureConfig(mode="softplus", nu_lr_scale=30.0)).lr_scale == 30.0
    slow = Temperature(TemperatureConfig(mode="slow_learnable", lr_scale=0.1, nu_lr_scale=30.0))
    assert slow.lr_scale == pytest.approx(3.0)
    for bad in (0.0, 2000.0):
        problems = RunConfig().with_overrides({"temperature.nu_lr_scale": bad}).validate()
        assert [p.path for p in problems] == ["temperature.nu_lr_scale"]


def test_parameterisations_match_their_formulas():
    softplus = Temperature(TemperatureConfig(mode="softplus", tau=0.1))
    with torch.no_grad():
        softplus.nu.fill_(2.0)
    assert float(softplus().detach()) == pytest.approx(math.log1p(math.exp(2.0)))
    scaled = Temperature(TemperatureConfig(mode="scaled_exp", k=4.0))
    with torch.no_grad():
        scaled.nu.fill_(8.0)
    assert float(scaled().detach()) == pytest.approx(math.exp(2.0))
    assert math.log1p(math.exp(inverse_softplus(30.0))) == pytest.approx(30.0)


def test_schedule_linear_and_cosine_end_points():
    linear = TemperatureConfig(mode="scheduled", tau=0.01, tau_end=0.05, schedule="linear")
    cosine = TemperatureConfig(mode="scheduled", tau=0.01, tau_end=0.05, schedule="cosine")
    assert scheduled_tau(linear, 0.5) == pytest.approx(0.03)
    assert scheduled_tau(cosine, 0.5) == pytest.approx(0.03)
    assert scheduled_tau(cosine, 0.25) < scheduled_tau(linear, 0.25)
    assert scheduled_tau(linear, 1.0) == pytest.approx(0.05)
    assert float(Temperature(linear)(1.0)) == pytest.approx(20.0)


@pytest.mark.parametrize("mode", ["learnable", "softplus", "scaled_exp"])
def test_clamp_keeps_scale_under_the_maximum(mode):
    temperature = Temperature(TemperatureConfig(mode=mode, max_logit_scale=100.0))
    with torch.no_grad():
        temperature.nu.fill_(1000.0)
    temperature.clamp_()
    assert float(temperature().detach()) == pytest.approx(100.0, rel=1e-4)


def test_learnable_gradient_flows_to_nu():
    temperature = Temperature(TemperatureConfig(mode="learnable"))
    (temperature() * 2).backward()
    assert temperature.nu.grad is not None and float(temperature.nu.grad) != 0.0
