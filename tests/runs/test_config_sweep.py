"""config.sweep: a typed grid of RunConfigs, each named and checked before anything is queued."""

from __future__ import annotations

import pytest

from gapviz.config import ConfigError, preset, sweep


def test_a_grid_has_one_config_per_combination_in_order():
    base = preset("tiny-test").replace(name="base")
    configs = sweep(base, {"temperature.tau": [0.03, 0.07], "seed": [0, 1]})
    assert [(c.temperature.tau, c.seed) for c in configs] == [(0.03, 0), (0.03, 1), (0.07, 0), (0.07, 1)]
    assert configs[1].name == "base temperature.tau=0.03 seed=1"
    assert {c.train.epochs for c in configs} == {base.train.epochs}  # the rest is the base's


def test_text_values_are_parsed_by_the_field_type():
    [fixed, learnable] = sweep(preset("tiny-test"), {"temperature.mode": ["fixed", "learnable"]})
    assert (fixed.temperature.mode, learnable.temperature.mode) == ("fixed", "learnable")
    [one] = sweep(preset("tiny-test"), {"train.lr": ["1e-4"]})
    assert one.train.lr == pytest.approx(1e-4) and isinstance(one.train.lr, float)
    assert one.name == "tiny-test train.lr=0.0001"


def test_every_bad_value_is_named_and_nothing_is_returned():
    with pytest.raises(ConfigError) as caught:
        sweep(preset("tiny-test"), {"temperature.tau": [0.05, -1, -2], "seed": [0, 1]})
    messages = [str(p) for p in caught.value.problems]
    assert len(messages) == 2  # one per bad value, not one per combination
    assert all(m.startswith("temperature.tau: must be in (0, 10]") for m in messages)
    assert "(sweep value -1)" in messages[0] and "(sweep value -2)" in messages[1]


@pytest.mark.parametrize(
    "axes, message",
    [
        ({"nope.key": [1, 2]}, "nope.key: unknown setting; top level has:"),
        ({"temperature": [1]}, "temperature: is a section"),
        ({"seed": []}, "seed: give at least one value"),
        ({"seed": [1, 1]}, "seed: a value is given twice"),
        ({"temperature.tau": ["warm"]}, "cannot read 'warm' as float"),
        ({"swap.mode": ["hard"]}, "swap.fraction: must be > 0 when swap.mode is hard or soft"),
    ],
)
def test_problems_name_their_path(axes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sweep(preset("tiny-test"), axes)


def test_a_sweeps_runs_are_named_by_their_swept_values():
    from gapviz import setting_catalog
    from gapviz.config import flatten

    base = preset("tiny-test").with_overrides({"swap.fraction": 0.05})
    configs = sweep(base, {"temperature.tau": [0.1, 1.0], "swap.mode": ["none", "soft"], "seed": [1]})
    flats = [flatten(c.to_dict()) for c in configs]
    paths = setting_catalog.varying_paths([*flats, flatten(configs[0].replace(seed=2).to_dict())])
    assert paths == ["temperature.tau", "swap.mode", "seed"]  # the seed last, the run name ignored
    assert setting_catalog.swept_label(flats[1], paths) == "τ = 0.1 · soft swap · seed 1"
    assert setting_catalog.swept_label(flats[0], ["temperature.tau", "seed"]) == "τ = 0.1 · seed 1"
    assert setting_catalog.varying_paths(flats[:1]) == []
