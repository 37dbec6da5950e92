"""Mitigations of the gap (Yaras et al. 2024, Table 2): temperature control and modality swapping.

Seven ways to train from scratch, three seeds each: learnable τ (the baseline), fixed τ,
scheduled τ, softplus reparameterisation, slow learnable τ, hard swap and soft swap. Measured
per variant (mean ± std over seeds): gap, uniformity, recall@1 both ways, zero-shot accuracy and a
linear probe of the image embeddings on the class labels.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gapviz.reproduce import charts as report_charts
from gapviz.reproduce.experiments.base import COCO_EVAL_PAIRS, TINY_TRAIN, PlannedRun, RunResults, Scale, base_config, mean_std, variant

NAME = "mitigations"
TITLE = "Mitigations: temperature control and modality swapping"
CLAIM = (
    "Against the learnable-temperature baseline, scheduling the temperature and soft modality swapping both leave "
    "a smaller modality gap (and so do a fixed or reparameterised temperature and hard swapping in the paper)."
)
PAPER = (
    "Yaras et al. 2024, Table 2 (CLIP RN50 from scratch on COCO, 100 epochs, batch 1024, 3 seeds; gap / image "
    "R@1 / text R@1): learnable 0.294 / 68.2 / 78.4; fixed τ = 0.04 0.122 / 73.4 / 82.7; scheduled 0.01→0.05 "
    "0.088 / 75.7 / 85.3; softplus 0.284 / 70.1 / 80.1; slow ν 0.268 / 70.3 / 80.4; hard swap 0.225 / 69.7 / 79.7; "
    "soft swap 0.139 / 68.9 / 79.2."
)
NOTE = (
    "In the paper the learnable τ falls from 0.07 to the 0.01 clamp within 100 epochs, and the fixed τ (0.04) and "
    "the schedule (0.01→0.05) sit above where it ends. In the small runs (≈200 Adam steps) the learnable τ stays at "
    "≈0.07, and training the tiny model from scratch at τ ≤ 0.04 collapses it (every embedding the same, no escape "
    "within the budget). So the small scale keeps the paper's ratios to the learnable run's final τ instead of its "
    "absolute values: fixed τ = 4 × 0.07 = 0.28 and a schedule 0.07 → 0.35 (1× → 5×). Softplus and slow ν change "
    "how τ moves, and τ barely moves here, so they match the baseline; hard swap at p = 0.001 touches about one pair "
    "in ten batches and has no measurable effect. The linear probe classifies the 64 built-in classes from the "
    "image embeddings (4-fold cross-validation on the eval pairs); at paper scale COCO has no labels and it is "
    "left empty (Yaras probe downstream data sets)."
)

TAU_FACTOR = {"paper": 1.0, "small": 7.0, "tiny": 7.0}
"""Multiplier of the paper's fixed/scheduled τ: the learnable τ ends at 0.01 in the paper, ≈0.07 here."""
VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("learnable", {}),
    ("fixed τ", {"temperature.mode": "fixed", "temperature.tau": 0.04}),
    ("scheduled τ", {"temperature.mode": "scheduled", "temperature.tau": 0.01, "temperature.tau_end": 0.05}),
    ("softplus", {"temperature.mode": "softplus"}),
    ("slow learnable", {"temperature.mode": "slow_learnable", "temperature.lr_scale": 0.1}),
    ("hard swap", {"swap.mode": "hard", "swap.fraction": 1e-3}),
    ("soft swap", {"swap.mode": "soft", "swap.fraction": 5e-2}),
)
"""Yaras et al.'s settings (the yaras-* presets); τ values are scaled by TAU_FACTOR."""
BASELINE = "learnable"
CLAIMED = ("scheduled τ", "soft swap")
"""The variants whose mean gap must be below the baseline's, by more than the seeds' std, for the
claim to hold (``compare_to_baseline``)."""
TINY_VARIANTS = ("learnable", "scheduled τ", "soft swap")
SEEDS = {"tiny": 1, "small": 3, "paper": 3}
SMALL_MITIGATION_TRAIN: dict[str, Any] = {
    "data.train_size": 2048,
    "data.eval_size": 512,
    "train.epochs": 6,
    "train.batch_size": 64,
    "train.lr": 1e-3,
    "eval.projections": ["pca"],
}
"""Half the pairs of the other small runs and batch 64 (192 steps): 21 runs must fit in minutes."""
PROBE_FOLDS = 4
METRICS = ("gap_distance", "uniformity_joint", "i2t_r1", "t2i_r1", "zero_shot", "linear_probe", "tau")


def _scaled(changes: dict[str, Any], factor: float) -> dict[str, Any]:
    return {k: (v * factor if k in ("temperature.tau", "temperature.tau_end") else v) for k, v in changes.items()}


def plan(scale: Scale, overrides: Mapping[str, Any] | None = None) -> list[PlannedRun]:
    if scale == "paper":
        base = base_config({"data.eval_size": COCO_EVAL_PAIRS}, overrides, preset_name="yaras-learnable")
    else:
        base = base_config(SMALL_MITIGATION_TRAIN if scale == "small" else TINY_TRAIN, overrides)
    runs = []
    for name, changes in VARIANTS:
        if scale == "tiny" and name not in TINY_VARIANTS:
            continue
        for seed in range(SEEDS[scale]):
            key = f"{name} seed={seed}"
            cfg = variant(base, f"{NAME} {key}", {**_scaled(changes, TAU_FACTOR[scale]), "seed": base.seed + seed})
            runs.append(PlannedRun(key, cfg, params={"variant": name, "seed": seed}))
    return runs


def linear_probe_accuracy(features: np.ndarray, labels: np.ndarray | None, seed: int = 0) -> float:
    """Mean k-fold accuracy of a logistic regression predicting the class from image embeddings (NaN without labels)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if labels is None or len(np.unique(labels)) < 2 or len(labels) < 2 * PROBE_FOLDS:
        return float("nan")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    folds = KFold(PROBE_FOLDS, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # rare classes leave some folds with one example: expected here
        warnings.simplefilter("ignore")
        return float(cross_val_score(model, np.asarray(features, dtype=np.float64), labels, cv=folds).mean())


def compare_to_baseline(row: dict[str, Any], baseline: dict[str, Any]) -> str:
    """"below" or "above" the baseline's mean gap by more than the larger of the two seed std's,
    else "same" (within seed noise; with one seed any difference counts)."""
    noise = max(row["gap_distance_std"], baseline["gap_distance_std"])
    difference = row["gap_distance"] - baseline["gap_distance"]
    if difference < -noise:
        return "below"
    if difference > noise:
        return "above"
    return "same"


def analyze(results: RunResults, scale: Scale) -> dict[str, Any]:
    per_run = []
    for key in results.keys():
        params, final = results.params(key), results.final(key)
        arrays = results.arrays(key)
        per_run.append({
            "variant": params["variant"], "seed": params["seed"],
            **{m: final.get(m) for m in METRICS if m != "linear_probe"},
            "linear_probe": linear_probe_accuracy(arrays["image"], arrays.get("labels"), seed=params["seed"]),
        })
    rows = []
    for name, _ in VARIANTS:
        mine = [r for r in per_run if r["variant"] == name]
        if not mine:
            continue
        row: dict[str, Any] = {"variant": name, "seeds": len(mine)}
        for metric in METRICS:
            row[metric], row[f"{metric}_std"] = mean_std([r[metric] for r in mine])
        rows.append(row)
    baseline = next(r for r in rows if r["variant"] == BASELINE)
    for row in rows:
        row["versus_baseline"] = None if row["variant"] == BASELINE else compare_to_baseline(row, baseline)
        row["below_baseline"] = None if row["variant"] == BASELINE else row["versus_baseline"] == "below"
    claimed = {r["variant"]: r["below_baseline"] for r in rows if r["variant"] in CLAIMED}
    holds = len(claimed) == len(CLAIMED) and all(claimed.values())
    summary = f"Baseline gap {baseline['gap_distance']:.3f}; " + "; ".join(
        f"{r['variant']} {r['gap_distance']:.3f}" for r in rows if r["variant"] != BASELINE
    ) + "."
    return {"rows": rows, "runs": per_run, "claim_holds": bool(holds), "summary": summary, "paper": PAPER_TABLE}


PAPER_TABLE: dict[str, tuple[float, float, float]] = {
    "learnable": (0.294, 68.2, 78.4),
    "fixed τ": (0.122, 73.4, 82.7),
    "scheduled τ": (0.088, 75.7, 85.3),
    "softplus": (0.284, 70.1, 80.1),
    "slow learnable": (0.268, 70.3, 80.4),
    "hard swap": (0.225, 69.7, 79.7),
    "soft swap": (0.139, 68.9, 79.2),
}
"""Yaras et al. Table 2: gap, image R@1 (%), text R@1 (%)."""


def table(analysis: dict[str, Any]) -> pd.DataFrame:
    out = []
    for r in analysis["rows"]:
        paper = analysis["paper"].get(r["variant"], (None, None, None))
        out.append({
            "variant": r["variant"], "gap (paper)": paper[0], "gap": r["gap_distance"], "± std": r["gap_distance_std"],
            "vs baseline": "baseline" if r["versus_baseline"] is None else {"below": "below", "above": "above", "same": "same (within ± std)"}[r["versus_baseline"]],
            "final τ": r["tau"], "uniformity": r["uniformity_joint"], "R@1 image→text": r["i2t_r1"],
            "R@1 text→image": r["t2i_r1"], "zero-shot": r["zero_shot"], "linear probe": r["linear_probe"],
        })
    return pd.DataFrame(out)


def charts(analysis: dict[str, Any]) -> dict[str, Any]:
    frames = []
    for metric in ("gap_distance", "uniformity_joint", "i2t_r1", "t2i_r1", "zero_shot", "linear_probe"):
        for r in analysis["rows"]:
            value, std = r[metric], r[f"{metric}_std"]
            frames.append({"variant": r["variant"], "metric": metric, "value": value, "lo": value - std, "hi": value + std})
    data = pd.DataFrame(frames).dropna(subset=["value"])
    order = [r["variant"] for r in analysis["rows"]]
    return {"mitigations": report_charts.grouped_bars(data, category="variant", baseline=BASELINE, sort=order, columns=3)}
