"""Logit-scale parameterisations s(ν), shared by training (gapviz.science.temperature) and the sandbox.

Pure math on floats: CLIP's s = exp(ν) and Yaras et al.'s reparameterisation s = softplus(ν).
"""

from __future__ import annotations

import math


def softplus(nu: float) -> float:
    """log(1 + e^ν) without overflow."""
    return nu + math.log1p(math.exp(-nu)) if nu > 0 else math.log1p(math.exp(nu))


def inverse_softplus(value: float) -> float:
    """ν with softplus(ν) = value, stable for large values."""
    return value + math.log(-math.expm1(-value))


def softplus_slope(nu: float) -> float:
    """ds/dν of s = softplus(ν): the logistic function, overflow-free."""
    return 0.5 * (1.0 + math.tanh(0.5 * nu))
