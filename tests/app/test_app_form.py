"""gapviz.app.shared.form: which fields apply when, sentinels, model sources, fine-tune configs, sweep values."""

from __future__ import annotations

import math

import pytest

from gapviz.app.shared import form
from gapviz.config import TINY_MODEL, preset


def _chosen(cfg):
    return {p: form.value_at(cfg, p) for p in (*form.all_paths(), form.MODEL_SOURCE)}


def test_mode_settings_apply_only_to_their_mode():
    chosen = _chosen(preset("demo"))
    assert not form.applies("temperature.tau_end", chosen) and form.applies("temperature.tau", chosen)
    assert form.applies("temperature.tau_end", {**chosen, "temperature.mode": "scheduled"})
    assert not form.applies("swap.fraction", chosen)
    assert form.applies_in_sweep("swap.fraction", chosen, ["swap.mode"])  # some swept mode uses it
    assert not form.applies_in_sweep("temperature.k", chosen, ["swap.mode"])
    assert form.applies("eval.umap_neighbors", chosen)
    assert not form.applies("eval.umap_neighbors", {**chosen, "eval.projections": ("pca",)})


@pytest.mark.parametrize(
    "overrides, source",
    [
        ({}, "tiny"),
        ({"model.name": "RN50"}, "open_clip"),
        ({"model.name": "ViT-B-32", "model.pretrained": "openai"}, "open_clip"),
        ({"model.name": "ViT-B-32", "model.pretrained": "/models/clip.pt"}, "checkpoint"),
        ({"model.init_run": "20260101-000000-abcdef"}, "run"),
    ],
)
def test_the_model_source_is_read_from_the_config(overrides, source):
    assert form.model_source(preset("demo").with_overrides(overrides)) == source


def test_a_model_source_sets_the_fields_it_implies():
    values = _chosen(preset("demo").with_overrides({"model.name": "RN50", "model.pretrained": "openai"}))
    tiny = form.apply_model_source(values, "tiny")
    assert (tiny["model.name"], tiny["model.pretrained"]) == (TINY_MODEL, "")
    run = form.apply_model_source({**values, "model.init_run": "r1"}, "run")
    assert (run["model.pretrained"], run["model.init_run"]) == ("", "r1")
    assert form.build_config(run).check().model.init_run == "r1"


def test_fine_tune_starts_from_the_runs_latest_checkpoint():
    cfg = form.finetune_config(preset("tiny-test").with_overrides({"model.init_epoch": 2}), "r1", "parent")
    got = (cfg.model.init_run, cfg.model.init_epoch, cfg.model.pretrained, cfg.name)
    assert got == ("r1", -1, "", "parent fine-tune")
    assert cfg.validate() == []


def test_sentinels_are_allowed_where_their_word_is_valid():
    chosen = _chosen(preset("demo"))
    assert form.sentinel_allowed("data.image_size", chosen)
    assert not form.sentinel_allowed("data.train_size", chosen)  # synthetic data needs a size
    assert form.sentinel_allowed("data.train_size", {**chosen, "data.source": "coco"})
    for path, (value, word, fallback) in form.SENTINELS.items():
        assert word and fallback != value
        assert preset("demo").with_overrides({path: value}).validate() == [] or path == "data.train_size"


def test_sweep_values_by_type():
    assert form.parse_values("0.01, 0.03 0.1", "float") == [0.01, 0.03, 0.1]
    assert form.parse_values("1 2,4", "int") == [1, 2, 4]
    assert form.parse_values("RN50, ViT-B-32", "text") == ["RN50", "ViT-B-32"]
    with pytest.raises(ValueError, match="'x'"):
        form.parse_values("1, x", "float")
    with pytest.raises(ValueError, match="whole number"):
        form.parse_values("1.5", "int")
    logs = form.spaced_values(0.01, 1.0, 5, log=True)
    assert logs[0] == 0.01 and logs[-1] == 1.0 and len(logs) == 5
    ratios = [b / a for a, b in zip(logs, logs[1:], strict=False)]
    assert all(math.isclose(r, ratios[0], rel_tol=1e-3) for r in ratios)
    assert form.spaced_values(1, 9, 3, log=False, kind="int") == [1, 5, 9]
    with pytest.raises(ValueError, match="> 0"):
        form.spaced_values(0.0, 1.0, 3, log=True)
    assert form.run_count({"a": [1, 2], "b": [1, 2, 3]}, seeds=2) == 12
    assert form.run_count({}, seeds=1) == 1


def test_sweep_modes_fit_the_type():
    assert form.sweep_modes(form.spec_for("temperature.tau").kind) == ("list", "log-spaced", "evenly spaced")
    assert form.sweep_modes(form.spec_for("train.batch_size").kind) == ("list", "evenly spaced")
    assert form.sweep_modes(form.spec_for("swap.mode").kind) == ("pick",)
    assert "seed" not in form.sweepable_paths() and "eval.projections" not in form.sweepable_paths()


def test_the_sweep_picker_offers_settings_grouped_and_in_words():
    from gapviz import setting_catalog

    paths = form.sweepable_paths()
    assert paths[0] == "temperature.tau"  # the catalog's order: what a study sweeps first
    groups = [setting_catalog.sweep_group(p) for p in paths]
    assert groups == sorted(groups, key=[g for g, _ in setting_catalog.SWEEP_GROUPS].index)  # grouped
    options = [setting_catalog.sweep_option(p) for p in paths]
    assert options[0] == "temperature · τ (softmax temperature)"
    assert [p for p, o in zip(paths, options, strict=True) if "temp" in o.lower()][0] == "temperature.tau"
    assert not any("." in o.split(" · ", 1)[1].split(" (")[0] for o in options)  # no dotted path shown
    assert "train.compile" not in paths and "device" not in paths  # nothing worth sweeping


def test_range_defaults_have_no_float_noise():
    assert 0.07 * 10 != 0.7 and form.tidy(0.07 * 10) == 0.7
    assert form.tidy(0.1 + 0.2) == 0.3 and form.tidy(1e-5 * 3) == 3e-5 and form.tidy(128.0) == 128.0


def test_a_swap_mode_starts_at_the_papers_fraction():
    assert form.swap_fraction_default("soft", 0.0) == pytest.approx(0.05)
    assert form.swap_fraction_default("hard", 0.0) == pytest.approx(1e-3)
    assert form.swap_fraction_default("none", 0.0) == pytest.approx(0.05)  # a swept mode: soft's
    assert form.swap_fraction_default("hard", 0.2) == 0.2  # a value given stays


def test_the_group_typed_is_the_group():
    assert form.group_for("tau-sweep ", "demo", "demo", 6) == "tau-sweep"
    assert form.group_for("", "tau-sweep", "demo", 6) == "tau-sweep"  # the run name typed names the sweep
    assert form.group_for("", "demo", "demo", 6) is None  # untouched preset name: a new sweep-<id>
    assert form.group_for("", "tau-sweep", "demo", 1) == ""
    assert form.group_for("pilot", "demo", "demo", 1) == "pilot"
    assert form.swept_paths({"temperature.tau": [0.1, 1.0]}, [0, 1]) == ["temperature.tau", "seed"]
    assert form.swept_paths({"temperature.tau": [0.1, 1.0]}, [3]) == ["temperature.tau"]


def test_modes_read_in_words_and_their_help_has_the_formula():
    from gapviz import setting_catalog

    for path, words in setting_catalog.CHOICE_WORDS.items():
        assert set(words) == set(form.spec_for(path).options)  # every value the config takes has words
    assert setting_catalog.choice_label("temperature.mode", "scaled_exp") == "scaled exponential (Yaras TR)"
    assert setting_catalog.choice_label("temperature.mode", "slow_learnable") == "slow learnable (Yaras SLRT)"
    assert setting_catalog.choice_label("data.source", "coco") == "coco"
    assert "$s = e^{\\nu / k}$" in setting_catalog.HELP["temperature.mode"]
    assert "\\lambda \\sim U[0, 1]" in setting_catalog.HELP["swap.mode"]
