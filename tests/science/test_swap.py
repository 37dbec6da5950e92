import pytest
import torch
import torch.nn.functional as F

from gapviz.config import SwapConfig
from gapviz.science.swap import swap_modalities


def features(n=256, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g), dim=-1), F.normalize(torch.randn(n, d, generator=g), dim=-1)


def test_none_and_zero_fraction_are_identity():
    x, y = features()
    for cfg in (SwapConfig(), SwapConfig(mode="hard", fraction=0.0)):
        a, b = swap_modalities(x, y, cfg)
        assert torch.equal(a, x) and torch.equal(b, y)


def test_hard_swap_exchanges_about_half_the_coordinates_of_chosen_pairs():
    x, y = features(n=2000)
    a, b = swap_modalities(
        x, y, SwapConfig(mode="hard", fraction=0.25, renormalize=False), torch.Generator().manual_seed(1)
    )
    changed_rows = (a != x).any(dim=1)
    assert 0.2 < changed_rows.float().mean() < 0.3
    swapped = a != x
    assert torch.equal(a[swapped], y[swapped]) and torch.equal(b[swapped], x[swapped])
    assert 0.4 < swapped[changed_rows].float().mean() < 0.6
    assert torch.equal(a + b, x + y)


def test_soft_swap_mixes_with_per_coordinate_lambda():
    x, y = features(n=2000)
    a, b = swap_modalities(
        x, y, SwapConfig(mode="soft", fraction=1.0, renormalize=False), torch.Generator().manual_seed(2)
    )
    assert torch.allclose(a + b, x + y, atol=1e-6)
    lam = (a - y) / (x - y)
    assert lam.min() >= -1e-4 and lam.max() <= 1 + 1e-4
    assert 0.45 < lam.mean() < 0.55


def test_renormalize_gives_unit_rows_and_is_deterministic():
    x, y = features()
    cfg = SwapConfig(mode="soft", fraction=0.5, renormalize=True)
    a1, b1 = swap_modalities(x, y, cfg, torch.Generator().manual_seed(3))
    a2, b2 = swap_modalities(x, y, cfg, torch.Generator().manual_seed(3))
    assert torch.equal(a1, a2) and torch.equal(b1, b2)
    assert torch.allclose(a1.norm(dim=1), torch.ones(len(a1)), atol=1e-5)
    assert torch.allclose(b1.norm(dim=1), torch.ones(len(b1)), atol=1e-5)


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_swap_reduces_the_gap_between_batches(mode):
    x, y = features()
    x, y = F.normalize(x + 2, dim=-1), F.normalize(y - 2, dim=-1)
    gap = (x.mean(0) - y.mean(0)).norm()
    a, b = swap_modalities(x, y, SwapConfig(mode=mode, fraction=0.5), torch.Generator().manual_seed(0))
    assert (a.mean(0) - b.mean(0)).norm() < gap
