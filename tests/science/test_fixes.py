"""Training-free fixes against their definitions, and degenerate input named instead of measured."""

import numpy as np
import pytest

import gapviz
from gapviz.errors import GapvizError
from gapviz.science import metrics as M
from gapviz.science.checks import DegenerateEmbeddingsError
from gapviz.science.fixes import Fix, FixError, apply_fix, fit_fix, held_out_fix, parse_fix, split_images
from gapviz.science.probe import modality_probe


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


def _gap_clouds(seed=0, n=400, d=256):
    """Unit image and caption rows with a real gap along the first axis (D/n near CLIP's 512/500)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, d))
    offset = np.r_[3.0, np.zeros(d - 1)]
    return _unit(base + offset), _unit(base - offset + 0.5 * rng.normal(size=(n, d)))


def _chance_floor(rows):
    """0.5 minus 3 binomial standard errors of an accuracy over ``rows`` held-out predictions."""
    return 0.5 - 3 * np.sqrt(0.25 / rows)


@pytest.mark.parametrize("fix", [Fix("centre"), Fix("standardise"), Fix("ablate", 3)])
def test_probe_after_a_held_out_fix_is_not_below_chance(fix):
    x, y = _gap_clouds()
    assert modality_probe(x, y)["modality_probe_accuracy"] > 0.85  # the gap is real before any fix
    held = held_out_fix(fix, x, y, seed=0)
    accuracy = modality_probe(held.image, held.text)["modality_probe_accuracy"]
    assert accuracy >= _chance_floor(2 * held.split.n_measured)


@pytest.mark.parametrize("fix", [Fix("centre"), Fix("standardise")])
def test_fitting_on_every_row_reads_below_chance(fix):
    """The flaw the split removes: fitted on all rows and scored on them, the probe is clearly below chance."""
    x, y = _gap_clouds()
    image_map, text_map = fit_fix(fix, x, y)
    accuracy = modality_probe(image_map(x), text_map(y))["modality_probe_accuracy"]
    assert accuracy < _chance_floor(2 * len(x))


def _captioned(n_image=40, per_image=(1, 2, 3), seed=1, d=6):
    rng = np.random.default_rng(seed)
    index = np.concatenate([np.full(per_image[i % len(per_image)], i) for i in range(n_image)])
    index = rng.permutation(index)
    return rng.normal(size=(n_image, d)), rng.normal(size=(len(index), d)), index


def test_split_is_disjoint_seeded_and_keeps_captions_with_their_image():
    image, text, index = _captioned()
    split = split_images(len(image), index, seed=3)
    assert np.intersect1d(split.fitted, split.measured).size == 0
    assert np.array_equal(np.union1d(split.fitted, split.measured), np.arange(len(image)))
    assert split.n_fitted == split.n_measured == 20
    assert set(index[split.fitted_captions]) == set(split.fitted.tolist())
    assert set(index[split.measured_captions]) == set(split.measured.tolist())
    assert len(split.fitted_captions) + len(split.measured_captions) == len(index)
    again = split_images(len(image), index, seed=3)
    assert np.array_equal(again.fitted, split.fitted) and np.array_equal(
        again.measured_captions, split.measured_captions
    )
    assert not np.array_equal(split_images(len(image), index, seed=4).fitted, split.fitted)
    assert "images and their" in split.describe() and split.describe().endswith("(seed 3)")
    assert split_images(500, None).describe() == "fitted on 250 pairs, measured on the other 250 (seed 0)"
    with pytest.raises(FixError, match="too few"):
        split_images(3, None)


def test_held_out_rows_are_reindexed_and_fixed_with_calibration_maps():
    image, text, index = _captioned(seed=2)
    held = held_out_fix(Fix("centre"), image, text, index, seed=5)
    measured, captions = held.split.measured, held.split.measured_captions
    np.testing.assert_array_equal(held.image_before, image[measured])
    np.testing.assert_array_equal(held.text_before, text[captions])
    np.testing.assert_array_equal(measured[held.text_image_index], index[captions])
    ux, uy = _unit(image), _unit(text)
    cx, cy = ux[held.split.fitted].mean(0), uy[held.split.fitted_captions].mean(0)
    np.testing.assert_allclose(held.image, _unit(ux[measured] - cx))
    np.testing.assert_allclose(held.text, _unit(uy[captions] - cy))
    prompts = np.random.default_rng(0).normal(size=(4, 6))
    np.testing.assert_allclose(held.text_map(prompts), _unit(_unit(prompts) - cy))
    assert held_out_fix(Fix("centre"), image[:30], text[:30]).text_image_index is None


@pytest.mark.parametrize("fix", [Fix("centre"), Fix("standardise"), Fix("ablate", 2)])
def test_maps_are_fitted_on_calibration_rows_only(fix):
    x, y = _data(6)
    held = held_out_fix(fix, x, y, seed=1)
    probe_rows = np.random.default_rng(1).normal(size=(5, x.shape[1]))

    def maps_after(image, text):
        other = held_out_fix(fix, image, text, seed=1)
        return np.hstack([other.image_map(probe_rows), other.text_map(probe_rows)])

    reference = maps_after(x, y)
    for part, images, captions in (
        ("measured", held.split.measured, held.split.measured),
        ("fitted", held.split.fitted, held.split.fitted),
    ):
        px, py = x.copy(), y.copy()
        px[images, -1] += 50.0  # every row of the part: enough to move the ablated coordinates too
        py[captions, -1] -= 50.0
        changed = not np.allclose(maps_after(px, py), reference)
        assert changed == (part == "fitted"), part


KEYS = ("gap_distance", "cone_image", "cone_text", "collapsed_image", "collapsed_text")


def _measured(x: np.ndarray, y: np.ndarray) -> list[float]:
    result = gapviz.analyze(x, y, resamples=20, seed=1)
    return [float(result.raw[k]) for k in KEYS]


@pytest.mark.parametrize("factor", [1e300, 1e-300, 1e150, 1e-150])
def test_the_gap_does_not_depend_on_the_scale_of_the_rows(factor):
    """Issue 20.2: x·1e300 gave gap 0 with no error; x/1e300 was refused as zero rows."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 6)), rng.normal(size=(40, 6)) + 0.8
    np.testing.assert_allclose(_measured(x * factor, y * factor), _measured(x, y), rtol=1e-9)
    assert _measured(x * factor, y)[0] == pytest.approx(_measured(x, y)[0], rel=1e-9)


def test_float32_near_its_max_gives_the_scaled_down_result():
    """Issue 20.2: float32 rows near finfo.max squared to inf: a wrong gap and no collapse flag."""
    rng = np.random.default_rng(6)
    big = np.finfo(np.float32).max
    x = rng.normal(size=(40, 6))
    x = (x / np.abs(x).max() * big * 0.9).astype(np.float32)
    collapsed = np.tile(x[:1], (40, 1))
    for image in (x, collapsed):
        near_max = _measured(image, x[::-1].copy())
        scaled = _measured(
            (image / np.float32(1e30)).astype(np.float32), (x[::-1] / np.float32(1e30)).astype(np.float32)
        )
        np.testing.assert_allclose(near_max, scaled, rtol=1e-5, atol=1e-6)
    assert _measured(collapsed, x)[3] == 1.0 and _measured(x, x)[3] == 0.0
