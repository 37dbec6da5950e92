"""Procrustes-aligned initialisation (Liang et al. 2022, §4.4): closing the gap at init does not last.

The same training run started two ways: as is, and with the text projection rotated onto the
image side first (``model.procrustes_init``: W = UVᵀ from the SVD of XᵀY on training pairs). The
aligned model starts with almost no gap; training at τ = 1/100 opens it again.

gapviz aligns at the start of a fine-tune at τ = 1/100 (CLIP's learned temperature), like
Liang's other COCO experiments: from the tiny model pretrained on built-in data (small, tiny) or
from CLIP ViT-B/32 (paper). The plain run is the temperature sweep's τ = 1/100 run (reused).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from gapviz.reproduce.experiments import temperature_sweep
from gapviz.reproduce.experiments.base import (
    Analysis,
    PlannedRun,
    RunResults,
    Scale,
    gap_estimator,
    gap_label,
    gap_of,
    interval_text,
    metric_json,
    seed_count,
    stats_json,
    variant,
)
from gapviz.reproduce.verdicts import Claim, all_of, effect_claim, paired_claim

NAME = "procrustes"
TITLE = "Procrustes-aligned initialisation"
CLAIM = (
    "Rotating the text embeddings onto the image embeddings at initialisation (orthogonal Procrustes) removes most "
    "of the gap, but training (at τ = 1/100) opens a gap again."
)
PAPER = (
    "Liang et al. 2022 (§4.4): with Procrustes-aligned initialisation the gap at init drops to ≈0.04; after "
    "training on COCO it is back to ≈0.75 (CLIP's own gap: 0.82)."
)
NOTE = (
    "The aligned and plain runs fine-tune the tiny model pretrained on built-in data (gap ≈0.3) at τ = 1/100 for "
    "2 epochs, not CLIP on COCO. Aligning a randomly initialised tiny model instead leaves a gap of ≈0.26 (its "
    "image cone, cosine 0.9, is much narrower than its text cone, 0.5, and a rotation cannot change that), and "
    "training from scratch at the learnable τ ends near the same small gap either way, so the pretrained start "
    "shows the effect more clearly."
)

TAU_LABEL = "1/100"
INITS = ("plain", "procrustes")
PAPER_REOPENED = 0.75 / 0.82
"""The paper's aligned run ends at 0.75 against CLIP's own 0.82: 91% of the plain gap."""
REOPEN_MIN = 0.5
"""'Opens again' means the aligned run's final gap is more than half the plain run's (paired by seed).

Half, not the paper's 91%: the claim is that alignment at init does not last, i.e. most of the gap
comes back; demanding 91% would test the paper's training length (ours is a 2-epoch fine-tune), and
any reopening above 0 (the former test) would count a gap that stays mostly closed as a reopening."""


def plan(scale: Scale, overrides: Mapping[str, Any] | None = None, seeds: int | None = None) -> list[PlannedRun]:
    label, tau = next((lbl, t) for lbl, t in temperature_sweep.TAUS if lbl == TAU_LABEL)
    runs = []
    for seed in range(seed_count(scale, seeds)):
        plain = temperature_sweep.finetune_run(scale, label, tau, overrides, seed)
        if scale != "paper":
            runs.append(temperature_sweep.pretrain_run(scale, overrides, seed))
        for init in INITS:
            cfg = variant(plain.cfg, f"{NAME} {init} seed={seed}", {"model.procrustes_init": init == "procrustes"})
            runs.append(
                PlannedRun(f"{init} seed={seed}", cfg, init_from=plain.init_from, params={"init": init, "seed": seed})
            )
    return runs


def _per_run(results: RunResults, key: str) -> dict[str, Any]:
    params, rows = results.params(key), results.rows(key)
    return {
        "init": params["init"],
        "seed": params["seed"],
        "gap_init": gap_of(rows[0]),
        "gap_final": gap_of(rows[-1]),
        "pair_cosine_init": rows[0]["pair_cosine"],
        "i2t_r1": rows[-1]["i2t_r1"],
        "t2i_r1": rows[-1]["t2i_r1"],
        "curve": [{"epoch": r["epoch"], "gap_distance": gap_of(r)} for r in rows],
    }


def reopened_fractions(by: dict[tuple[str, int], dict[str, Any]], seeds: list[int]) -> list[float]:
    """Per seed: the aligned run's final gap as a fraction of the plain run's (NaN, so dropped, where that is ≤ 0)."""
    out = []
    for s in seeds:
        plain = by[("plain", s)]["gap_final"]
        out.append(by[("procrustes", s)]["gap_final"] / plain if plain > 0 else float("nan"))
    return out


def _claims(by: dict[tuple[str, int], dict[str, Any]], seeds: list[int]) -> list[Claim]:
    """The paper's two claims, each paired by seed: alignment removes the gap, training opens it again."""
    aligned = [by[("procrustes", s)] for s in seeds]
    return [
        paired_claim(
            "alignment removes the gap at init",
            "gap at init: procrustes − plain, paired by seed, is < 0",
            [r["gap_init"] for r in aligned],
            [by[("plain", s)]["gap_init"] for s in seeds],
            -1,
            paper="0.82 → 0.04",
        ),
        all_of(
            "training opens the gap again",
            f"the aligned run's gap grows, and ends above {REOPEN_MIN:g} of the plain run's final gap",
            [
                paired_claim(
                    "the gap grows",
                    "aligned run: final gap − gap at init is > 0",
                    [r["gap_final"] for r in aligned],
                    [r["gap_init"] for r in aligned],
                    1,
                    paper="0.04 → 0.75",
                ),
                effect_claim(
                    f"reopens to more than {REOPEN_MIN:.0%} of the plain gap",
                    f"final gap (aligned) / final gap (plain) − {REOPEN_MIN:g}, paired by seed, is > 0",
                    [r - REOPEN_MIN for r in reopened_fractions(by, seeds)],
                    1,
                    paper=f"0.75 / 0.82 = {PAPER_REOPENED:.2f}",
                ),
            ],
        ),
    ]


def _rows(per_run: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per initialisation: its seeds and each metric's mean with its interval."""
    metrics = ("gap_init", "gap_final", "pair_cosine_init", "i2t_r1", "t2i_r1")
    rows = []
    for init in INITS:
        mine = [r for r in per_run if r["init"] == init]
        rows.append({"init": init, "seeds": len(mine), **{m: metric_json(m, [r[m] for r in mine]) for m in metrics}})
    return rows


def analyze(results: RunResults, scale: Scale) -> Analysis:
    per_run = [_per_run(results, key) for key in results.keys() if "init" in results.params(key)]
    by = {(r["init"], r["seed"]): r for r in per_run}
    seeds = sorted({r["seed"] for r in per_run if ("plain", r["seed"]) in by and ("procrustes", r["seed"]) in by})
    claims = _claims(by, seeds)
    rows = _rows(per_run)
    plain, procrustes = rows
    fraction = stats_json(reopened_fractions(by, seeds))
    summary = (
        f"Gap at init {interval_text(plain['gap_init'])} (plain) vs "
        f"{interval_text(procrustes['gap_init'])} (Procrustes); "
        f"after training {interval_text(plain['gap_final'])} vs {interval_text(procrustes['gap_final'])}: "
        f"the aligned gap reopens to {interval_text(fraction, 2)} of the plain one (paper {PAPER_REOPENED:.2f}; "
        f"the test asks for more than {REOPEN_MIN:g})."
    )
    differences = [
        "Aligned at the start of a 2-epoch fine-tune at τ = 1/100 of the tiny pretrained model, not of CLIP on COCO.",
        f"The aligned run reopens to {fraction['mean']:.0%} of the plain run's final gap (mean over seeds); "
        f"the paper's returns to {PAPER_REOPENED:.0%} (0.75 of 0.82) after longer training.",
    ]
    measured = {
        "reopened_fraction": fraction,
        "rows": rows,
        "runs": per_run,
        "gap_estimator": gap_estimator([results.final(k) for k in results.keys()]),
    }
    return Analysis(claims, summary, measured, differences)


def table(analysis: Analysis) -> pd.DataFrame:
    paper = {"plain": (0.82, None), "procrustes": (0.04, 0.75)}
    return pd.DataFrame(
        [
            {
                "initialisation": r["init"],
                "seeds": r["seeds"],
                f"{gap_label(analysis.measured)} at init": interval_text(r["gap_init"]),
                "gap at init (paper, plug-in)": paper[r["init"]][0],
                f"{gap_label(analysis.measured)} after training": interval_text(r["gap_final"]),
                "gap after training (paper, plug-in)": paper[r["init"]][1],
                "pair cosine at init": interval_text(r["pair_cosine_init"]),
                "R@1 image→text": interval_text(r["i2t_r1"]),
                "R@1 text→image": interval_text(r["t2i_r1"]),
            }
            for r in analysis.measured["rows"]
        ]
    )


def charts(analysis: Analysis) -> dict[str, Any]:
    from gapviz.charts import metric_curves

    curves = pd.DataFrame(
        [
            {
                "epoch": point["epoch"],
                "metric": "gap_distance",
                "value": point["gap_distance"],
                "series": f"{r['init']} init, seed {r['seed']}",
            }
            for r in analysis.measured["runs"]
            for point in r["curve"]
        ]
    )
    return {"gap_by_epoch": metric_curves(curves, metrics=["gap_distance"], columns=1, width=420, height=220)}
