"""Embedding shift (Liang et al. 2022, §4.1 / Fig. 4): is the trained gap a loss minimum?

The image and text embeddings of a trained model are moved toward (and past) each other along
the gap direction (``gapviz.science.shift``); the contrastive loss at τ = 1/100 and at τ = 1 is plotted
against the signed gap distance. Liang: at the τ the model was trained with (1/100) the loss is
lowest at the trained gap, so closing the gap raises the loss; at τ = 1 the minimum moves to
(nearly) no gap.

Small scale: the tiny model fine-tuned at τ = 1/100, one per seed (the temperature sweep's runs,
reused). Paper scale: CLIP ViT-B/32 (openai weights) evaluated on COCO, untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gapviz import charts as gapviz_charts
from gapviz.reproduce.experiments import temperature_sweep
from gapviz.reproduce.experiments.base import (
    COCO_EVAL_PAIRS,
    Analysis,
    PlannedRun,
    RunResults,
    Scale,
    base_config,
    interval_text,
    seed_count,
    stats_json,
    variant,
)
from gapviz.reproduce.verdicts import ONE_SEED, effect_claim
from gapviz.science.shift import default_lambdas, loss_key, shift_sweep

NAME = "shift"
TITLE = "Embedding shift: the loss against the gap"
CLAIM = (
    "Shifting a trained model's embeddings along the gap direction: at the training temperature τ = 1/100 the "
    "loss is lowest near the trained gap (closing the gap raises it); at τ = 1 the minimum moves toward zero gap."
)
PAPER = (
    "Liang et al. 2022 (§4.1, Fig. 4; CLIP ViT-B/32 on COCO, trained gap 0.82): at τ = 1/100 the loss is "
    "minimal at the original gap and rises as the gap is closed; at τ = 1 the loss keeps falling as the gap closes."
)
NOTE = (
    "The trained model is the tiny one fine-tuned at τ = 1/100 for 2 epochs after pretraining (the temperature "
    "sweep's run), not CLIP. The loss is the full 512-pair contrastive loss on built-in eval pairs. A model trained "
    "less (a shorter or gentler fine-tune, or the tests' cheaper from-scratch runs) is not yet at a loss minimum of "
    "its own gap: its τ = 1/100 loss keeps falling as the gap is widened, which is why the tiny scale reuses the "
    "small scale's training here."
)

SCALES = (100.0, 1.0)
"""Logit scales s = 1/τ of the two loss curves."""
LAMBDA_POINTS = {"tiny": 41, "small": 41, "paper": 41}
LOCATION_TOLERANCE = 0.3
"""A loss minimum is 'at' a gap when it lies within this fraction of the trained gap of it."""
TRAINED = "trained"


def trained_key(seed: int) -> str:
    return f"{TRAINED} seed={seed}"


def plan(scale: Scale, overrides: Mapping[str, Any] | None = None, seeds: int | None = None) -> list[PlannedRun]:
    if scale == "paper":  # CLIP evaluated as it is: deterministic, one run
        base = base_config(
            {"data.eval_size": COCO_EVAL_PAIRS, "train.epochs": 0}, overrides, preset_name="liang-finetune"
        )
        return [PlannedRun(trained_key(0), variant(base, f"{NAME} CLIP ViT-B-32 openai", {}), params={"seed": 0})]
    label, tau = temperature_sweep.TAUS[0]
    runs = []
    for seed in range(seed_count(scale, seeds)):
        pretrain = temperature_sweep.pretrain_run(scale, overrides, seed)
        trained = temperature_sweep.finetune_run(scale, label, tau, overrides, seed)
        cfg = trained.cfg.replace(name=f"{NAME} {trained_key(seed)} tau={label}")
        runs += [pretrain, PlannedRun(trained_key(seed), cfg, init_from=pretrain.key, params={"seed": seed})]
    return runs


def shift_of(arrays: Mapping[str, np.ndarray], points: int) -> dict[str, Any]:
    """One trained model's shift sweep and where its losses are lowest."""
    image, text, index = arrays["image"], arrays["text"], arrays["text_image_index"]
    lambdas = [float(v) for v in default_lambdas(image, text, points)]
    sweep = shift_sweep(image, text, lambdas, logit_scales=SCALES, text_image_index=index)
    keys = {s: loss_key(s) for s in SCALES}
    trained_row = min(sweep, key=lambda r: abs(r["lam"]))
    closed = min(sweep, key=lambda r: abs(r["signed_gap"]))
    return {
        "sweep": [{k: float(v) for k, v in r.items()} for r in sweep],
        "trained_gap": float(trained_row["signed_gap"]),
        "argmin_100": float(min(sweep, key=lambda r: r[keys[100.0]])["signed_gap"]),
        "argmin_1": float(min(sweep, key=lambda r: r[keys[1.0]])["signed_gap"]),
        "loss_100_trained": trained_row[keys[100.0]],
        "loss_100_closed": closed[keys[100.0]],
        "loss_1_trained": trained_row[keys[1.0]],
        "loss_1_closed": closed[keys[1.0]],
        "closed_gap": float(closed["signed_gap"]),
    }


def analyze(results: RunResults, scale: Scale) -> Analysis:
    per_seed = []
    for key in results.keys():
        if key.startswith(TRAINED):
            per_seed.append(
                {"seed": results.params(key)["seed"], **shift_of(results.arrays(key), LAMBDA_POINTS[scale])}
            )
    claims = [
        effect_claim(
            "τ = 1/100: closing the gap raises the loss",
            "loss(gap closed) − loss(trained gap) at τ = 1/100 is > 0",
            [r["loss_100_closed"] - r["loss_100_trained"] for r in per_seed],
            1,
            paper="rises",
        ),
        effect_claim(
            "τ = 1/100: the loss is lowest at the trained gap",
            f"{LOCATION_TOLERANCE:g}·trained gap − |argmin gap − trained gap| is > 0 (the minimum within ±30 %)",
            [LOCATION_TOLERANCE * r["trained_gap"] - abs(r["argmin_100"] - r["trained_gap"]) for r in per_seed],
            1,
            paper="minimum at the trained gap",
        ),
        effect_claim(
            "τ = 1: the minimum moves toward zero gap",
            "|argmin gap at τ = 1/100| − |argmin gap at τ = 1| is > 0",
            [abs(r["argmin_100"]) - abs(r["argmin_1"]) for r in per_seed],
            1,
            paper="minimum at ≈ 0",
        ),
    ]
    summary = (
        f"Trained gap {interval_text(stats_json([r['trained_gap'] for r in per_seed]))} "
        f"(plug-in, mean over {len(per_seed)} seeds); the τ = 1/100 loss is lowest at "
        + ", ".join(f"{r['argmin_100']:+.3f}" for r in per_seed)
        + " and the τ = 1 loss at "
        + ", ".join(f"{r['argmin_1']:+.3f}" for r in per_seed)
        + " (per seed)."
    )
    measured = {
        "per_seed": per_seed,
        "loss_columns": {str(s): loss_key(s) for s in SCALES},
        "gap_estimator": "gap_distance",
    }
    differences = [
        "The trained model is the tiny one fine-tuned at τ = 1/100 for 2 epochs after pretraining, "
        "not CLIP (gap 0.82).",
        "The gap here is the plug-in centroid distance of the shifted embeddings (the shift moves it by construction).",
        f"The chart shows seed {per_seed[0]['seed']} alone ({ONE_SEED}, an illustration); the verdicts use every seed.",
    ]
    return Analysis(claims, summary, measured, differences)


def table(analysis: Analysis) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "seed": r["seed"],
                "trained gap (plug-in)": r["trained_gap"],
                "argmin gap (plug-in) τ = 1/100": r["argmin_100"],
                "argmin gap (plug-in) τ = 1": r["argmin_1"],
                "loss τ = 1/100 trained → closed": f"{r['loss_100_trained']:.3f} → {r['loss_100_closed']:.3f}",
                "loss τ = 1 trained → closed": f"{r['loss_1_trained']:.3f} → {r['loss_1_closed']:.3f}",
            }
            for r in analysis.measured["per_seed"]
        ]
    )


def charts(analysis: Analysis) -> dict[str, Any]:
    cols = analysis.measured["loss_columns"]
    first = analysis.measured["per_seed"][0]
    names = {cols["100.0"]: "loss at τ = 1/100", cols["1.0"]: "loss at τ = 1", "i2t_r1": "i2t_r1", "t2i_r1": "t2i_r1"}
    sweep = pd.DataFrame(first["sweep"])
    long = sweep.melt(id_vars=["signed_gap"], value_vars=list(names), var_name="metric").rename(
        columns={"signed_gap": "gap"}
    )
    long["metric"] = long["metric"].map(names)
    long = long[np.isfinite(long["value"])]
    return {"loss_vs_gap": gapviz_charts.shift_curves(long, current=first["trained_gap"], columns=4)}
