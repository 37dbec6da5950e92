import json

import pytest

from gapviz.config import PRESETS, ConfigError, RunConfig, load_config_file, preset, resolve_config


def test_json_round_trip_of_every_preset():
    for name in PRESETS:
        cfg = preset(name)
        assert RunConfig.from_json(cfg.to_json()) == cfg


def test_defaults_are_valid_and_demo_is_default():
    assert RunConfig().validate() == []
    assert resolve_config() == preset("demo")
    assert preset("demo").train.epochs == RunConfig().train.epochs


def test_overrides_parse_by_field_type():
    cfg = RunConfig().with_overrides(
        ["train.epochs=3", "train.lr=1e-4", "swap.renormalize=false", "eval.projections=pca"]
    )
    assert cfg.train.epochs == 3 and isinstance(cfg.train.epochs, int)
    assert cfg.train.lr == pytest.approx(1e-4)
    assert cfg.swap.renormalize is False
    assert cfg.eval.projections == ("pca",)


def test_unknown_setting_names_its_path_and_the_allowed_keys():
    with pytest.raises(ConfigError) as error:
        RunConfig().with_overrides(["train.epoch=3"])
    assert error.value.problems[0].path == "train.epoch"
    assert "epochs" in error.value.problems[0].message


def test_bad_value_types_are_reported_with_paths():
    with pytest.raises(ConfigError) as error:
        RunConfig().with_overrides(["train.epochs=many"])
    assert error.value.problems[0].path == "train.epochs"
    with pytest.raises(ConfigError) as error:
        RunConfig.from_dict({"temperature": {"mode": "hot"}, "swap": {"fraction": "x"}})
    paths = {p.path for p in error.value.problems}
    assert paths == {"temperature.mode", "swap.fraction"}


def test_validate_returns_every_problem():
    cfg = RunConfig().with_overrides(
        {"train.epochs": -1, "data.mismatch": 1.5, "temperature.tau": 0.0, "swap.mode": "hard", "train.batch_size": 1}
    )
    paths = [p.path for p in cfg.validate()]
    for expected in ("train.epochs", "data.mismatch", "temperature.tau", "swap.fraction", "train.batch_size"):
        assert expected in paths
    assert all(p.message for p in cfg.validate())
    with pytest.raises(ConfigError):
        cfg.check()


def test_real_data_needs_a_path():
    cfg = RunConfig().with_overrides({"data.source": "coco"})
    assert [p.path for p in cfg.validate()] == ["data.path"]


def test_config_files_toml_and_json(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('name = "t"\n[train]\nepochs = 2\n[temperature]\nmode = "fixed"\ntau = 0.05\n')
    cfg = load_config_file(toml)
    assert (cfg.name, cfg.train.epochs, cfg.temperature.mode, cfg.temperature.tau) == ("t", 2, "fixed", 0.05)
    js = tmp_path / "run.json"
    js.write_text(json.dumps(cfg.to_dict()))
    assert load_config_file(js) == cfg
    assert resolve_config(js, None, ["train.epochs=4"]).train.epochs == 4


def test_config_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_config_file(bad)


def test_paper_presets_follow_science_md():
    liang = preset("liang-finetune")
    assert (liang.train.batch_size, liang.train.epochs, liang.train.lr, liang.train.weight_decay) == (64, 5, 1e-5, 0.2)
    assert preset("yaras-scheduled").temperature.tau_end == 0.05
    assert preset("yaras-hard-swap").swap.fraction == 1e-3
    assert preset("yaras-soft-swap").swap.fraction == 5e-2
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("nope")


@pytest.mark.parametrize(
    "override, path",
    [
        ("train.lr=inf", "train.lr"),
        ("train.lr=nan", "train.lr"),
        ("train.weight_decay=inf", "train.weight_decay"),
        ("temperature.tau=-inf", "temperature.tau"),
        ("temperature.k=inf", "temperature.k"),
        ("swap.fraction=nan", "swap.fraction"),
        ("data.mismatch=nan", "data.mismatch"),
        ("data.seed=-1", "data.seed"),
        ("seed=99999999999999999999", "seed"),
        ("train.epochs=99999999999999999999", "train.epochs"),
        ("device=cuda:x", "device"),
        ("data.csv_separator=ab", "data.csv_separator"),
        ('data.csv_separator="', "data.csv_separator"),
    ],
)
def test_non_finite_and_out_of_range_values_are_refused_with_their_path(override, path):
    """issue 10.7: these passed validation and failed later with a traceback."""
    with pytest.raises(ConfigError) as caught:
        resolve_config(None, "tiny-test", [override])
    assert [p.path for p in caught.value.problems] == [path]


def test_config_files_with_non_finite_numbers_are_refused(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"train": {"lr": Infinity, "weight_decay": NaN}}')
    with pytest.raises(ConfigError) as caught:
        resolve_config(path)
    assert {p.path for p in caught.value.problems} == {"train.lr", "train.weight_decay"}
    toml = tmp_path / "run.toml"
    toml.write_text("[train]\nlr = inf\n")
    with pytest.raises(ConfigError, match="train.lr: must be a finite number"):
        resolve_config(toml)


@pytest.mark.parametrize("spelling", ["\t", "\\t", "tab"])
def test_tab_separator(spelling, tmp_path):
    """issue 10.11: a tab (open_clip's default) was stripped to nothing and refused."""
    assert resolve_config(None, "tiny-test", [f"data.csv_separator={spelling}"]).data.csv_separator == "\t"
    path = tmp_path / "run.toml"
    path.write_text(f'[data]\ncsv_separator = "{spelling.encode("unicode_escape").decode()}"\n')
    assert resolve_config(path).data.csv_separator == "\t"


def test_values_are_stripped_unless_they_are_only_whitespace():
    cfg = resolve_config(None, "tiny-test", ["train.epochs= 3 ", "model.name= gapviz-tiny", "data.csv_separator= "])
    assert cfg.train.epochs == 3 and cfg.model.name == "gapviz-tiny" and cfg.data.csv_separator == " "


def test_config_file_with_a_byte_order_mark_and_unreadable_files(tmp_path):
    path = tmp_path / "run.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"train": {"epochs": 2}}')
    assert resolve_config(path).train.epochs == 2
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        resolve_config(path)
    path.write_text("[" * 100_000)
    with pytest.raises(ConfigError, match="nested too deeply|cannot parse"):
        resolve_config(path)
