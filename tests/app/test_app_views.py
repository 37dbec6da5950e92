"""The app's pure helpers: form specs from RunConfig, config diffs, seeds, progress; no Streamlit."""

from __future__ import annotations

import subprocess
import sys

import pytest
from app_fixtures import APP_ROOT

from gapviz.app.shared import form, frames
from gapviz.config import PRESETS, RunConfig, flatten, preset


def test_every_runconfig_setting_is_in_the_form():
    sections = [*form.EXPERIMENT, *form.collapsed_sections()]
    listed = [p for _, paths in sections for p in paths if p != form.MODEL_SOURCE] + [*form.TOP_FIELDS, "seed"]
    assert sorted(listed) == sorted(form.all_paths())
    assert len(listed) == len(set(listed))
    assert [title for title, _ in sections] == [
        "Model",
        "Data",
        "Temperature",
        "Modality swap",
        "Training",
        "Evaluation",
        "Advanced",
    ]


def test_specs_follow_types_and_docs():
    assert form.spec_for("temperature.mode").options == (
        "fixed",
        "learnable",
        "scheduled",
        "softplus",
        "scaled_exp",
        "slow_learnable",
    )
    assert form.spec_for("eval.projections").kind == "multi"
    assert form.spec_for("swap.renormalize").kind == "bool"
    assert form.spec_for("train.epochs").kind == "int"
    assert form.spec_for("data.mismatch").kind == "float"
    assert form.spec_for("data.mismatch").help.startswith("Fraction (0–1) of training pairs")
    assert "schedule" in form.spec_for("temperature.tau_end").help
    assert all(form.spec_for(p).help for p in form.all_paths())


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_form_values_rebuild_the_preset(name):
    cfg = preset(name)
    values = {path: form.value_at(cfg, path) for path in form.all_paths()}
    assert form.build_config(values) == cfg


def test_float_steps():
    assert form.float_step(1e-3) == pytest.approx(1e-4)
    assert form.float_step(0.07) == pytest.approx(1e-3)
    assert form.float_step(2.0) == 1.0
    assert form.float_step(0.0) == 0.01


def test_config_diff_shows_only_differing_settings():
    a = RunConfig(name="a").to_dict()
    b = RunConfig(name="b", seed=3).with_overrides({"temperature.tau": 0.05}).to_dict()
    diff = frames.config_diff({"r1": flatten(a), "r2": flatten(b)})
    assert list(diff.index) == ["seed", "temperature.tau"]
    assert diff.loc["temperature.tau"].tolist() == ["0.07", "0.05"]


def test_parse_seeds_and_lists():
    assert frames.parse_seeds("0, 1 2") == [0, 1, 2]
    assert frames.parse_seeds("3-5, 3") == [3, 4, 5]
    with pytest.raises(ValueError):
        frames.parse_seeds("5-3")
    with pytest.raises(ValueError):
        frames.parse_seeds("x")
    assert frames.parse_list("0.01, 0.03  0.1") == ["0.01", "0.03", "0.1"]


def test_eta_and_durations():
    assert frames.eta_seconds(10, 110, 64.0, 64) == pytest.approx(100.0)
    assert frames.eta_seconds(10, 110, 0.0, 64) is None
    assert frames.format_duration(None) == "—"
    assert frames.format_duration(59) == "59s"
    assert frames.format_duration(125) == "2m 05s"
    assert frames.format_duration(7260) == "2h 01m"


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_launch_live_compare_pages_do_not_import_torch(home):
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        "for page in ('launch', 'live', 'compare', 'theory'):\n"
        "    script = f'from gapviz.app.{page} import {page}\\n{page}.render()'\n"
        "    at = AppTest.from_string(script, default_timeout=60).run()\n"
        "    assert not at.exception, (page, at.exception)\n"
        "import gapviz.app.main, gapviz.app.explore.explore\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=APP_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
