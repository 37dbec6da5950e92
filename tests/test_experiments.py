"""Each paper experiment, reproduced at the tiny scale, shows the direction the paper reports.

One store for the module: experiments share runs (the pretraining run of the temperature sweep is
the starting point of the shift and Procrustes experiments), as `gapviz reproduce` does.
"""

from __future__ import annotations

import json

import pytest
from scipy.stats import spearmanr

from gapviz.reproduce import experiments
from gapviz.cli.main import main
from gapviz.reproduce.experiments import cone, mitigations, procrustes, shift, temperature_sweep, theory
from gapviz.reproduce.experiments.base import PlannedRun
from gapviz.reproduce.runner import plan_for, reproduce
from gapviz.runs.store import RunStore

pytestmark = pytest.mark.slow

COCO = {"data.path": "/data/coco/annotations/captions_train2017.json", "data.image_root": "/data/coco/train2017"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("reproduce-home")


@pytest.fixture(scope="module")
def reproduced(home):
    """reproduce(name, "tiny") once per experiment; returns the analysis (results.json's ``measured``)."""
    reports = {}

    def get(name):
        if name not in reports:
            reports[name] = reproduce(name, "tiny", home, log=lambda line: None)
        return reports[name]

    return get


def test_cone_each_init_is_a_narrow_cone_of_its_own(reproduced):
    measured = reproduced("cone").results["measured"]
    assert len(measured["runs"]) >= 3
    for run in measured["runs"]:
        assert run["cone_image"] >= cone.CONE_MIN and run["cone_text"] >= cone.CONE_MIN, run
        assert run["gap_distance"] > 0.5, run
    assert measured["cross_seed"]
    for pair in measured["cross_seed"]:
        assert abs(pair["cosine"]) < cone.CROSS_RATIO_MAX * pair["within"], pair
    assert measured["claim_holds"]


def test_temperature_sweep_gap_falls_monotonically_as_tau_rises(reproduced):
    measured = reproduced("temperature-sweep").results["measured"]
    rows = measured["rows"]
    assert [r["label"] for r in rows] == [label for label, _ in temperature_sweep.TAUS]
    rho = spearmanr([r["tau"] for r in rows], [r["gap_distance"] for r in rows]).statistic
    assert rho <= temperature_sweep.SPEARMAN_MAX, rows
    assert rows[0]["gap_distance"] > rows[-1]["gap_distance"]
    assert measured["claim_holds"]


def test_shift_loss_minimum_is_the_trained_gap_at_tau_001_and_moves_to_zero_at_tau_1(reproduced):
    measured = reproduced("shift").results["measured"]
    trained = measured["trained_gap"]
    at_001, at_1 = measured["argmin_gap_tau_0.01"], measured["argmin_gap_tau_1"]
    assert abs(at_001 - trained) <= shift.LOCATION_TOLERANCE * trained, measured["summary"]
    assert abs(at_1) < abs(at_001) and abs(at_1) <= shift.LOCATION_TOLERANCE * trained, measured["summary"]
    assert measured["loss_tau_0.01_closed"] > measured["loss_tau_0.01_trained"]
    assert measured["claim_holds"]


def test_mismatch_gap_grows_with_the_mismatched_fraction(reproduced):
    measured = reproduced("mismatch").results["measured"]
    gaps = [r["gap_distance"] for r in measured["rows"]]
    assert [r["mismatch"] for r in measured["rows"]] == [0.0, 0.1, 0.3]
    assert gaps[0] < gaps[1] < gaps[2], gaps
    assert measured["claim_holds"]


def test_mitigations_scheduled_tau_and_soft_swap_leave_a_smaller_gap_than_learnable(reproduced):
    measured = reproduced("mitigations").results["measured"]
    gap = {r["variant"]: r["gap_distance"] for r in measured["rows"]}
    assert gap["scheduled τ"] < gap["learnable"], gap
    assert gap["soft swap"] < gap["learnable"], gap
    versus = {r["variant"]: r["versus_baseline"] for r in measured["rows"]}
    assert versus["scheduled τ"] == "below" and versus["soft swap"] == "below", versus
    for row in measured["rows"]:
        for metric in ("uniformity_joint", "i2t_r1", "t2i_r1", "zero_shot", "linear_probe"):
            assert row[metric] == row[metric], (row["variant"], metric)  # measured, not NaN
    assert measured["claim_holds"]


def test_procrustes_init_removes_the_gap_and_training_reopens_it(reproduced):
    measured = reproduced("procrustes").results["measured"]
    rows = {r["init"]: r for r in measured["rows"]}
    assert rows["procrustes"]["gap_init"] < procrustes.ALIGNED_MAX_RATIO * rows["plain"]["gap_init"]
    assert rows["procrustes"]["gap_final"] > procrustes.REOPEN_FACTOR * rows["procrustes"]["gap_init"]
    assert measured["claim_holds"]


def test_theory_gap_closes_like_inverse_log_squared_not_exponentially(reproduced):
    measured = reproduced("theory").results["measured"]
    run = next(r for r in measured["runs"] if (r["temperature"], r["mismatch"]) == theory.CLAIM_RUN)
    fits = run["fits"]
    assert fits["inverse_log_squared"]["rmse"] < fits["exponential"]["rmse"], fits
    assert run["tau_end"] < run["gap_start"] and run["gap_end"] > 0.5
    for fixed in (r for r in measured["runs"] if r["temperature"] == "fixed"):
        assert fixed["gap_end"] < theory.CLOSED_GAP
    assert measured["claim_holds"]


def test_report_files_and_strict_json(reproduced, home):
    report = reproduced("temperature-sweep")
    folder = report.folder
    assert folder == home / "reports" / "temperature-sweep-tiny"
    results = json.loads((folder / "results.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert results["experiment"] == "temperature-sweep" and results["scale"] == "tiny" and results["claim_holds"] is True
    assert set(results["runs"]) == {p.key for p in plan_for("temperature-sweep", "tiny")}
    text = (folder / "report.md").read_text()
    assert "| τ |" in text and "![gap_vs_tau](gap_vs_tau.png)" in text and "compare?runs=" in text
    assert (folder / "gap_vs_tau.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "gap_vs_tau.svg").read_text().lstrip().startswith("<svg")


def test_runs_are_shared_and_a_second_reproduction_trains_nothing(reproduced, home):
    sweep = reproduced("temperature-sweep").results["runs"]
    shifted = reproduced("shift").results["runs"]
    aligned = reproduced("procrustes").results["runs"]
    assert shifted["pretrain"] == sweep["pretrain"]
    assert aligned["plain"] == sweep["finetune tau=1/100"]
    store = RunStore(home)
    before = set(store.run_ids())
    again = reproduce("procrustes", "tiny", home, log=lambda line: None)
    assert set(store.run_ids()) == before
    assert again.results["runs"] == aligned
    group = {store.meta(r)["group"] for r in again.results["runs"].values()}
    assert "reproduce-procrustes-tiny" in group


@pytest.mark.parametrize("name", experiments.names())
@pytest.mark.parametrize("scale", ["small", "paper"])
def test_plans_build_valid_run_configs(name, scale):
    planned = plan_for(name, scale, COCO if scale == "paper" else {})
    assert all(isinstance(p, PlannedRun) for p in planned)
    for run in planned:
        cfg = run.cfg.with_overrides({"model.init_run": "parent-run", "model.init_epoch": 1}) if run.init_from else run.cfg
        assert cfg.check() is cfg
        if scale == "paper":
            assert cfg.data.source == "coco" and cfg.data.path == COCO["data.path"]
        else:
            assert cfg.data.source == "synthetic" and "umap" not in cfg.eval.projections


def test_paper_plans_use_the_papers_models_and_settings():
    sweep = plan_for("temperature-sweep", "paper", COCO)
    assert {(p.cfg.model.name, p.cfg.model.pretrained) for p in sweep} == {("ViT-B-32", "openai")}
    assert sorted(p.cfg.temperature.tau for p in sweep) == sorted(t for _, t in temperature_sweep.TAUS)
    assert {(p.cfg.train.batch_size, p.cfg.train.epochs, p.cfg.train.lr, p.cfg.train.weight_decay) for p in sweep} == {(64, 5, 1e-5, 0.2)}
    mitigation = plan_for("mitigations", "paper", COCO)
    assert len(mitigation) == len(mitigations.VARIANTS) * 3
    assert {p.cfg.model.name for p in mitigation} == {"RN50"} and {p.cfg.model.pretrained for p in mitigation} == {""}
    assert {(p.cfg.train.batch_size, p.cfg.train.epochs) for p in mitigation} == {(1024, 100)}
    scheduled = next(p.cfg for p in mitigation if p.params["variant"] == "scheduled τ")
    assert (scheduled.temperature.tau, scheduled.temperature.tau_end) == (0.01, 0.05)
    assert {p.cfg.model.name for p in plan_for("cone", "paper", COCO)} >= {"RN50", "ViT-B-32"}
    assert all(p.cfg.train.epochs == 0 for p in plan_for("cone", "paper", COCO))


def test_small_plans_change_only_the_experiment_variable():
    mitigation = {p.params["variant"]: p.cfg for p in plan_for("mitigations", "small") if p.params["seed"] == 0}
    base = mitigation["learnable"].to_dict()
    soft = mitigation["soft swap"].to_dict()
    assert {k for k in base if base[k] != soft[k]} == {"name", "swap"}
    assert mitigation["scheduled τ"].temperature.tau == pytest.approx(0.07)


def test_cli_list_and_errors(capsys, tmp_path):
    assert main(["--home", str(tmp_path), "reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in experiments.names())
    assert main(["--home", str(tmp_path), "reproduce", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown experiment 'nope'" in err
    assert main(["--home", str(tmp_path), "reproduce", "shift", "--scale", "paper"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data.path" in err and "--data-path" in err
    assert main(["--home", str(tmp_path), "reproduce", "shift", "--data-path", "x.json"]) == 1
    assert "--scale paper" in capsys.readouterr().err
    assert RunStore(tmp_path).run_ids() == []


def test_cli_reproduces_theory_at_small_scale(capsys, tmp_path):
    assert main(["--home", str(tmp_path), "reproduce", "theory"]) == 0
    assert "theory: claim holds" in capsys.readouterr().out
    results = json.loads((tmp_path / "reports" / "theory" / "results.json").read_text())
    assert results["scale"] == "small" and results["claim_holds"] is True and results["runs"] == {}
