"""Training-free fixes against their definitions, and degenerate input named instead of measured."""

import numpy as np
import pytest

from gapviz.errors import GapvizError
from gapviz.science import metrics as M
from gapviz.science.checks import DegenerateEmbeddingsError
from gapviz.science.fixes import Fix, FixError, apply_fix, parse_fix


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _data(seed=0, n=80, d=10):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) + np.r_[2.0, np.zeros(d - 1)]
    y = x + rng.normal(size=(n, d)) - np.r_[0.0, 3.0, np.zeros(d - 2)]
    return x, y


def test_parse_fix():
    assert parse_fix("centre") == Fix("centre") == parse_fix(" Center ")
    assert parse_fix("standardize") == Fix("standardise")
    assert parse_fix("ablate:3") == Fix("ablate", 3) and Fix("ablate", 3).label == "ablate:3"
    for bad in ("ablate", "ablate:0", "ablate:x", "whiten", ""):
        with pytest.raises(FixError, match="--fix must be one of"):
            parse_fix(bad)
    assert issubclass(FixError, GapvizError)


def test_centre_against_definition():
    x, y = _data()
    fx, fy = apply_fix(Fix("centre"), x, y)
    ux, uy = _unit(x), _unit(y)
    np.testing.assert_allclose(fx, _unit(ux - ux.mean(0)))
    np.testing.assert_allclose(fy, _unit(uy - uy.mean(0)))
    before, after = M.compute_all(x, y, n_resamples=0), M.compute_all(fx, fy, n_resamples=0)
    assert after["gap_distance"] < 0.5 * before["gap_distance"]


def test_standardise_against_definition():
    x, y = _data(1)
    fx, fy = apply_fix(Fix("standardise"), x, y)
    ux = _unit(x)
    np.testing.assert_allclose(fx, _unit((ux - ux.mean(0)) / ux.std(0)))
    assert np.allclose(np.linalg.norm(fy, axis=1), 1.0)


def test_ablate_zeroes_the_largest_mean_differences():
    x, y = _data(2)
    ux, uy = _unit(x), _unit(y)
    top = np.argsort(-np.abs(ux.mean(0) - uy.mean(0)))[:2]
    fx, fy = apply_fix(Fix("ablate", 2), x, y)
    assert (fx[:, top] == 0).all() and (fy[:, top] == 0).all()
    keep = np.setdiff1d(np.arange(10), top)
    ref = ux.copy()
    ref[:, top] = 0
    np.testing.assert_allclose(fx, _unit(ref))
    assert len(keep) == 8
    with pytest.raises(FixError, match="every one"):
        apply_fix(Fix("ablate", 10), x, y)


@pytest.mark.parametrize("bad", ["zero", "tiny", "nan", "inf"])
def test_degenerate_rows_are_named(bad):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    value = {"zero": 0.0, "tiny": 1e-14, "nan": np.nan, "inf": np.inf}[bad]
    x[[2, 7, 9]] = value
    with pytest.raises(DegenerateEmbeddingsError) as err:
        M.compute_all(x, y)
    message = str(err.value)
    assert "3 image row(s)" in message and "rows 2, 7, 9" in message and "\n" not in message
    with pytest.raises(DegenerateEmbeddingsError, match="1 text row"):
        M.compute_all(rng.normal(size=(20, 4)), np.vstack([np.zeros((1, 4)), rng.normal(size=(19, 4))]))


def test_many_degenerate_rows_show_the_first_few():
    x = np.zeros((50, 3))
    with pytest.raises(DegenerateEmbeddingsError, match=r"50 image row\(s\).*rows 0, 1, 2, 3, 4, \.\.\."):
        M.compute_all(x, np.ones((50, 3)))


def test_collapse_is_flagged():
    rng = np.random.default_rng(4)
    x = np.tile(rng.normal(size=6), (30, 1)) + 1e-4 * rng.normal(size=(30, 6))
    y = rng.normal(size=(30, 6))
    out = M.compute_all(x, y, n_resamples=20)
    assert out["collapsed_image"] is True and out["collapsed_text"] is False
    assert out["i2t_r1"] < 0.2
