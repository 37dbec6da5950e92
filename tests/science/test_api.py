"""gapviz.analyze, the notebook entry: the same numbers as `gapviz analyze --json`, typed."""

import json
import subprocess
import sys

import numpy as np
import pytest

import gapviz
from gapviz.api import Analysis, FixedAnalysis
from gapviz.errors import GapvizError


def _pairs(n=60, d=16, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, d))
    shift = np.zeros(d)
    shift[0] = 2.0
    return (latent + shift + rng.normal(size=(n, d))).astype(np.float32), (latent + rng.normal(size=(n, d))).astype(
        np.float32
    )


def _cli_json(tmp_path, image, text, *extra):
    path = tmp_path / "emb.npz"
    np.savez(path, image=image, text=text)
    out = subprocess.run(
        [sys.executable, "-m", "gapviz.cli", "analyze", str(path), "--json", "--resamples", "50", *extra],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_analyze_to_dict_equals_the_cli_json(tmp_path):
    image, text = _pairs()
    result = gapviz.analyze(image, text, resamples=50)
    assert isinstance(result, Analysis)
    assert json.loads(json.dumps(result.to_dict())) == _cli_json(tmp_path, image, text)


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_analyze_with_a_fix_equals_the_cli_json(tmp_path):
    image, text = _pairs(n=80)
    result = gapviz.analyze(image, text, resamples=50, fix="centre")
    assert isinstance(result, FixedAnalysis)
    assert json.loads(json.dumps(result.to_dict())) == _cli_json(tmp_path, image, text, "--fix", "centre")
    assert result.split["measured_images"] + result.split["fitted_images"] == 80
    assert result.after["gap_distance"] < result.before["gap_distance"]


def test_result_is_typed_values_intervals_flags_sizes():
    image, text = _pairs()
    result = gapviz.analyze(image, text, resamples=50)
    gap = result["gap_distance_unbiased"]
    lo, hi = result.interval("gap_distance_unbiased")
    assert 0.0 <= lo <= gap <= hi
    assert result.flags == {"collapsed_image": False, "collapsed_text": False}
    assert all(isinstance(v, float) for v in result.values.values())
    assert "gap_distance_ci95" not in result.values and "gap_distance" in result.intervals


def test_bad_input_raises_a_one_line_gapviz_error():
    image, _ = _pairs()
    with pytest.raises((GapvizError, ValueError)):
        gapviz.analyze(image, image[:10])


def test_import_gapviz_stays_light():
    code = "import sys, gapviz; assert 'torch' not in sys.modules and 'gapviz.api' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
