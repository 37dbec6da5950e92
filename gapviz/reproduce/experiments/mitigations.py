"""Mitigations of the gap (Yaras et al. 2024, Table 2): temperature control and modality swapping.

Seven ways to train from scratch, three seeds each: learnable τ (the baseline), fixed τ,
scheduled τ, softplus reparameterisation, slow learnable τ, hard swap and soft swap. Each variant
gets three verdicts against the baseline, paired by seed: a smaller gap, a higher image→text R@1
and a higher text→image R@1. At small scale ν trains with a larger learning rate
(``temperature.nu_lr_scale``) so that the learnable τ actually falls, as it does in the paper, and
the fixed and scheduled τ sit at the paper's ratios to where it ends. Two single-seed regime runs
record what the learnable τ does with a smaller ν learning rate.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gapviz.reproduce import charts as report_charts
from gapviz.reproduce.experiments.base import (
    COCO_EVAL_PAIRS,
    TINY_TRAIN,
    Analysis,
    PlannedRun,
    RunResults,
    Scale,
    base_config,
    error_bar,
    gap_estimator,
    gap_label,
    gap_of,
    interval_text,
    metric_json,
    seed_count,
    stats_json,
    variant,
)
from gapviz.reproduce.verdicts import ONE_SEED, Claim, Verdict, judge_family, paired_claim

NAME = "mitigations"
TITLE = "Mitigations: temperature control and modality swapping"
CLAIM = (
    "Against the learnable-temperature baseline, each mitigation (fixed τ, scheduled τ, softplus, slow ν, hard swap, "
    "soft swap) leaves a smaller modality gap and a higher recall@1 in both directions."
)
PAPER = (
    "Yaras et al. 2024, Table 2 (CLIP RN50 from scratch on COCO, 100 epochs, batch 1024, 3 seeds; gap / image "
    "R@1 / text R@1): learnable 0.294 / 68.2 / 78.4; fixed τ = 0.04 0.122 / 73.4 / 82.7; scheduled 0.01→0.05 "
    "0.088 / 75.7 / 85.3; softplus 0.284 / 70.1 / 80.1; slow ν 0.268 / 70.3 / 80.4; hard swap 0.225 / 69.7 / 79.7; "
    "soft swap 0.139 / 68.9 / 79.2 (R@1 in percent, as printed; the tables here divide by 100). "
    "The learnable τ falls from 0.07 to the 0.01 clamp."
)
NOTE = (
    "From scratch on 2,048 built-in pairs, 12 epochs of batch 64 (384 steps), with ν's learning rate ×30 "
    "(`temperature.nu_lr_scale`) in every trained mode so that the learnable τ falls within the budget. The fixed "
    "and scheduled τ are set from the baseline's final τ measured once at this scale (``SMALL_BASELINE_TAU``) at the "
    "paper's ratios: fixed = 4× it, scheduled 1× → 5× it; the report states the ratios the runs actually reached. "
    "The linear probe classifies the 64 built-in classes from the image embeddings (4-fold cross-validation)."
)

BASELINE = "learnable"
NU_LR_SCALE = {"paper": 1.0, "small": 30.0, "tiny": 30.0}
"""ν learning-rate factor of every trained mode: Adam moves ν by about lr per step, so at lr 1e-3 the
learnable τ needs ≈2,000 steps to fall from 0.07 to 0.01; ×30 lets it fall in the 384 small-scale steps."""
PAPER_BASELINE_TAU = 0.01
"""Where the paper's learnable τ ends (the clamp): its fixed τ 0.04 is 4× it, its schedule 1× → 5×."""
SMALL_BASELINE_TAU = {"paper": PAPER_BASELINE_TAU, "small": 0.023, "tiny": 0.023}
"""The learnable baseline's final τ at this scale, measured once (seed 0, small scale: 0.0227)."""
VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("learnable", {}),
    ("fixed τ", {"temperature.mode": "fixed", "temperature.tau": 0.04}),
    ("scheduled τ", {"temperature.mode": "scheduled", "temperature.tau": 0.01, "temperature.tau_end": 0.05}),
    ("softplus", {"temperature.mode": "softplus"}),
    ("slow learnable", {"temperature.mode": "slow_learnable", "temperature.lr_scale": 0.1}),
    ("hard swap", {"swap.mode": "hard", "swap.fraction": 1e-3}),
    ("soft swap", {"swap.mode": "soft", "swap.fraction": 5e-2}),
)
"""Yaras et al.'s settings (the yaras-* presets); τ values are rescaled by ``_scaled``."""
TINY_VARIANTS = ("learnable", "fixed τ", "soft swap")
REGIMES = (1.0, 10.0)
"""ν learning-rate factors of the single-seed regime runs (small scale), against NU_LR_SCALE's 30."""
REGIME_CHECK_EPOCH = 6
SMALL_MITIGATION_TRAIN: dict[str, Any] = {
    "data.train_size": 2048,
    "data.eval_size": 512,
    "train.epochs": 12,
    "train.batch_size": 64,
    "train.lr": 1e-3,
    "eval.projections": ["pca"],
}
PROBE_FOLDS = 4
METRICS = ("gap", "uniformity_joint", "i2t_r1", "t2i_r1", "zero_shot", "linear_probe", "tau")
JUDGED: tuple[tuple[str, str, int], ...] = (
    ("gap", "smaller gap", -1),
    ("i2t_r1", "higher R@1 image→text", 1),
    ("t2i_r1", "higher R@1 text→image", 1),
)


def _scaled(changes: dict[str, Any], scale: str) -> dict[str, Any]:
    """The paper's τ values moved to this scale: the same ratio to the learnable baseline's final τ."""
    factor = SMALL_BASELINE_TAU[scale] / PAPER_BASELINE_TAU
    return {k: (v * factor if k in ("temperature.tau", "temperature.tau_end") else v) for k, v in changes.items()}


def _base(scale: Scale, overrides: Mapping[str, Any] | None) -> Any:
    if scale == "paper":
        return base_config({"data.eval_size": COCO_EVAL_PAIRS}, overrides, preset_name="yaras-learnable")
    train = SMALL_MITIGATION_TRAIN if scale == "small" else {**TINY_TRAIN, "train.epochs": 12}
    return base_config({**train, "temperature.nu_lr_scale": NU_LR_SCALE[scale]}, overrides)


def plan(scale: Scale, overrides: Mapping[str, Any] | None = None, seeds: int | None = None) -> list[PlannedRun]:
    base = _base(scale, overrides)
    runs = []
    for name, changes in VARIANTS:
        if scale == "tiny" and name not in TINY_VARIANTS:
            continue
        for seed in range(seed_count(scale, seeds)):
            key = f"{name} seed={seed}"
            cfg = variant(base, f"{NAME} {key}", {**_scaled(changes, scale), "seed": base.seed + seed})
            runs.append(PlannedRun(key, cfg, params={"variant": name, "seed": seed}))
    if scale == "small":
        for factor in REGIMES:
            key = f"regime ν lr ×{factor:g} seed=0"
            cfg = variant(base, f"{NAME} {key}", {"temperature.nu_lr_scale": factor})
            runs.append(PlannedRun(key, cfg, params={"regime": factor, "seed": 0}))
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


def _per_run(results: RunResults, key: str) -> dict[str, Any]:
    params, final = results.params(key), results.final(key)
    arrays = results.arrays(key)
    row = {
        "variant": params.get("variant"),
        "regime": params.get("regime"),
        "seed": params["seed"],
        "gap": gap_of(final),
    }
    row.update({m: final.get(m) for m in METRICS if m not in ("gap", "linear_probe")})
    row["linear_probe"] = linear_probe_accuracy(arrays["image"], arrays.get("labels"), seed=params["seed"])
    row["tau_curve"] = [float(r["tau"]) for r in results.rows(key)]
    row["gap_null95"] = final.get("gap_null95")
    return row


def variant_claims(rows: list[dict[str, Any]]) -> list[Claim]:
    """Three claims per non-baseline variant (gap, R@1 both ways), each paired by seed with the baseline."""
    base = {r["seed"]: r for r in rows if r["variant"] == BASELINE}
    claims = []
    for name, _ in VARIANTS:
        mine = {r["seed"]: r for r in rows if r["variant"] == name}
        if name == BASELINE or not mine:
            continue
        seeds = sorted(set(mine) & set(base))
        for metric, words, direction in JUDGED:
            claims.append(
                paired_claim(
                    f"{name}: {words}",
                    f"{name} − {BASELINE} of {metric}, paired by seed, is {'< 0' if direction < 0 else '> 0'}",
                    [mine[s][metric] for s in seeds],
                    [base[s][metric] for s in seeds],
                    direction,
                    paper=_paper_text(name, metric),
                )
            )
    return claims


def _paper_text(name: str, metric: str) -> str:
    index = {"gap": 0, "i2t_r1": 1, "t2i_r1": 2}[metric]
    return f"{paper_value(name, index):.3f} vs {paper_value(BASELINE, index):.3f}"


def paper_value(name: str, index: int) -> float:
    """Yaras et al.'s number in this report's unit: the gap as printed, recall as a fraction (percent / 100)."""
    value = PAPER_TABLE[name][index]
    return value if index == 0 else value / 100.0


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean, std and 95% interval per variant of every metric."""
    out = []
    for name, _ in VARIANTS:
        mine = [r for r in rows if r["variant"] == name]
        if mine:
            row = {"variant": name, "seeds": len(mine), **{m: metric_json(m, [r[m] for r in mine]) for m in METRICS}}
            row["gap_null95"] = stats_json(
                [r.get("gap_null95") for r in mine]
            )  # the estimator's noise floor, when recorded
            out.append(row)
    return out


def analyze(results: RunResults, scale: Scale) -> Analysis:
    per_run = [_per_run(results, key) for key in results.keys()]
    rows = [r for r in per_run if r["variant"] is not None]
    regimes = [r for r in per_run if r["regime"] is not None]
    summary_rows = summarise(rows)
    claims = judge_family(variant_claims(rows))
    baseline = next(r for r in summary_rows if r["variant"] == BASELINE)
    measured = {
        "rows": summary_rows,
        "runs": per_run,
        "regimes": regimes,
        "paper": PAPER_TABLE,
        "gap_estimator": gap_estimator([results.final(k) for k in results.keys()]),
        "baseline_tau_start": float(np.mean([r["tau_curve"][0] for r in rows if r["variant"] == BASELINE])),
        "nu_lr_scale": NU_LR_SCALE[scale],
        "planned_baseline_tau": SMALL_BASELINE_TAU[scale],
        "eval_pairs": results.config(results.keys()[0]).data.eval_size,
    }
    summary = (
        f"Learnable τ {measured['baseline_tau_start']:.3f} → {baseline['tau']['mean']:.4f}; baseline gap "
        f"{interval_text(baseline['gap'])}. " + _retrieval_sentence(claims)
    )
    return Analysis(claims, summary, measured, differences(measured, claims, scale))


def _retrieval_sentence(claims: list[Claim]) -> str:
    """Whether the variants with a smaller gap also retrieve better (stated plainly)."""
    smaller = [c.name.split(":")[0] for c in claims if c.name.endswith("smaller gap") and c.verdict == Verdict.HOLDS]
    better = {c.name.split(":")[0] for c in claims if "R@1" in c.name and c.verdict == Verdict.HOLDS}
    both = [v for v in smaller if v in better]
    if not smaller:
        return "No variant has a gap below the baseline's by the rule."
    return (
        f"Gap below the baseline's by the rule: {', '.join(smaller)}; of those, better R@1 in at least one direction: "
        f"{', '.join(both) if both else 'none'}. So here a smaller gap {'did' if both else 'did not'} "
        "bring better retrieval"
        + (" for every such variant." if len(both) == len(smaller) else (" for some of them." if both else "."))
    )


def differences(measured: dict[str, Any], claims: list[Claim], scale: str) -> list[str]:
    """Every difference from the paper, from the measured numbers."""
    rows = {r["variant"]: r for r in measured["rows"]}
    end = rows[BASELINE]["tau"]["mean"]
    out = [
        f"The learnable τ ends at {end:.4f}, not at the paper's 0.01 clamp "
        f"(ν learning rate ×{measured['nu_lr_scale']:g}).",
    ]
    if "fixed τ" in rows:
        out.append(
            f"Fixed τ = {rows['fixed τ']['tau']['mean']:.4f} = {rows['fixed τ']['tau']['mean'] / end:.1f}× "
            "the baseline's final τ (paper: 0.04 = 4×)."
        )
    if "scheduled τ" in rows:
        out.append(
            f"Scheduled τ ends at {rows['scheduled τ']['tau']['mean']:.4f} = "
            f"{rows['scheduled τ']['tau']['mean'] / end:.1f}× the baseline's final τ (paper: 0.05 = 5×)."
        )
    counts = {v: sum(c.verdict == v for c in claims) for v in Verdict}
    out.append(
        f"In the paper every variant has a smaller gap and a higher R@1 both ways; here {counts[Verdict.HOLDS]} of "
        f"{len(claims)} such claims hold, {counts[Verdict.INCONCLUSIVE]} are inconclusive and "
        f"{counts[Verdict.CONTRADICTED]} are contradicted (a clear effect the wrong way), after the Holm "
        "correction over all of them (table above)."
    )
    out += _regime_sentences(measured, rows[BASELINE])
    if measured["regimes"]:
        out.append(
            "Longer training is the 12 epochs here (the ×1 run's τ after 6 epochs is the earlier 6-epoch setting). "
            "Not tried: more data (each run's cost grows with it) and a lower clamp on τ (the clamp is a floor on τ: "
            "it cannot make τ fall, only stop it)."
        )
    if scale != "paper":
        pairs = measured["eval_pairs"]
        out.append(
            f"Recall is measured on {pairs} built-in eval pairs (chance {1 / pairs:.4f}), "
            "far below the paper's COCO numbers."
        )
    return out


def _regime_sentences(measured: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """What each single-seed ν learning-rate regime run gave, against the baseline (labelled one seed)."""
    out = []
    for regime in measured["regimes"]:
        curve = regime["tau_curve"]
        mid = curve[min(REGIME_CHECK_EPOCH, len(curve) - 1)]
        out.append(
            f"Tried ν learning rate ×{regime['regime']:g} ({ONE_SEED}, seed 0; no interval, so a description, "
            f"not a conclusion): τ {curve[0]:.3f} → {mid:.4f} after "
            f"{REGIME_CHECK_EPOCH} epochs → {curve[-1]:.4f} after {len(curve) - 1}; gap {regime['gap']:.3f}, "
            f"R@1 {regime['i2t_r1']:.3f}/{regime['t2i_r1']:.3f} ("
            f"{'smaller' if regime['gap'] < base['gap']['mean'] else 'larger'} gap on this one seed than the "
            f"×{measured['nu_lr_scale']:g} "
            f"baseline's mean {base['gap']['mean']:.3f})."
        )
    return out


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


def table(analysis: Analysis) -> pd.DataFrame:
    out = []
    for r in analysis.measured["rows"]:
        paper = analysis.measured["paper"].get(r["variant"], (None, None, None))
        out.append(
            {
                "variant": r["variant"],
                "seeds": r["seeds"],
                "final τ": interval_text(r["tau"], 4),
                "gap (paper, plug-in)": paper[0],
                gap_label(analysis.measured): interval_text(r["gap"]),
                "R@1 image→text": interval_text(r["i2t_r1"]),
                "R@1 text→image": interval_text(r["t2i_r1"]),
                "R@1 (paper, fraction)": "–" if paper[1] is None else f"{paper[1] / 100:.3f} / {paper[2] / 100:.3f}",
                "zero-shot": interval_text(r["zero_shot"]),
                "linear probe": interval_text(r["linear_probe"]),
                "uniformity": interval_text(r["uniformity_joint"]),
                **({"gap noise floor (null 95%)": interval_text(r["gap_null95"])} if r["gap_null95"]["n"] else {}),
            }
        )
    return pd.DataFrame(out)


def charts(analysis: Analysis) -> dict[str, Any]:
    frames = []
    for metric in ("gap", "i2t_r1", "t2i_r1", "tau", "zero_shot", "linear_probe"):
        for r in analysis.measured["rows"]:
            s = r[metric]
            lo, hi = error_bar(s)
            frames.append(
                {
                    "variant": r["variant"],
                    "metric": "gap_distance" if metric == "gap" else metric,
                    "value": s["mean"],
                    "lo": lo,
                    "hi": hi,
                }
            )
    data = pd.DataFrame(frames).dropna(subset=["value"])
    order = [r["variant"] for r in analysis.measured["rows"]]
    return {
        "mitigations": report_charts.grouped_bars(data, category="variant", baseline=BASELINE, sort=order, columns=3)
    }
