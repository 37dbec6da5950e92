"""The cone effect at random initialisation (Liang et al. 2022, §2).

Each encoder, before any training, maps all its inputs into a narrow cone (high mean cosine
between two different items), and every random initialisation makes a different cone. The two
towers of a CLIP model are two such encoders, so the image and text cones differ and the
modality gap is there from the start.

Runs: one ``train.epochs=0`` run per (architecture, seed): it only evaluates the initial model.
Measured: mean intra-modality cosine (``cone_image``, ``cone_text``) and gap per run; and for
each pair of seeds of one architecture the mean cosine between an item embedded by one seed and
an item embedded by the other, ⟨c_a, c_b⟩ (c = centroid of the unit embeddings): about 0 when the
two cones point in unrelated directions.

"Each seed its own cone" is tested on independent values: the plan runs 2k seeds per
architecture (k = ``--seeds``) and pairs them disjointly (0–1, 2–3, ...), one value per pair, so
no seed enters two values (all pairs of 3 seeds would give 3 values sharing seeds, and both
modalities of a pair are not independent either: the pair's value is its worse modality).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gapviz.reproduce import charts as report_charts
from gapviz.reproduce.experiments.base import (
    COCO_EVAL_PAIRS,
    Analysis,
    PlannedRun,
    RunResults,
    Scale,
    base_config,
    finite,
    gap_estimator,
    gap_label,
    gap_of,
    interval_text,
    seed_count,
    stats_json,
    variant,
)
from gapviz.reproduce.verdicts import Claim, all_of, effect_claim
from gapviz.science.metrics import l2_normalize

NAME = "cone"
TITLE = "Cone effect at random initialisation"
CLAIM = (
    "At random initialisation every encoder puts its embeddings in a narrow cone (high mean cosine between "
    "two different items of one modality), and each seed makes its own cone (items embedded by two seeds "
    "are about orthogonal on average); so the two towers start with a modality gap."
)
PAPER = (
    "Liang et al. 2022 (§2, Fig. 2): mean cosine 0.7–0.99 for randomly initialised encoders (≈0.99 for a "
    "ResNet's images); different random initialisations give clearly separate cones; CLIP's gap on COCO "
    "after training is 0.82."
)
NOTE = (
    "The small scale evaluates the tiny built-in model (2-layer towers, 64 dimensions) and open_clip's RN50 "
    "and ViT-B-32 at random init on built-in data (no download needed: random weights). The shallow tiny "
    "text tower's cone is weaker (≈0.5) than the 12-layer towers' (≈0.7–1.0), in line with Liang's finding "
    "that depth narrows the cone."
)

CONE_MIN = 0.7
"""'High' mean cosine: the lower end of Liang et al.'s 0.7–0.99 (random directions in d dimensions give 0 ± 1/√d)."""
CROSS_RATIO_MAX = 0.5
"""'Own cone': |⟨c_a, c_b⟩| below half the smaller within-seed cone for every seed pair."""

_ARCHITECTURES: dict[str, tuple[str, ...]] = {
    "tiny": ("gapviz-tiny",),
    "small": ("gapviz-tiny", "RN50", "ViT-B-32"),
    "paper": ("RN50", "RN101", "ViT-B-32", "ViT-B-16"),
}
_EVAL_PAIRS: dict[str, dict[str, int]] = {
    "tiny": {"default": 64},
    "small": {"gapviz-tiny": 256, "default": 96},
    "paper": {"default": COCO_EVAL_PAIRS},
}


def _eval_pairs(scale: str, arch: str) -> int:
    size = _EVAL_PAIRS[scale]
    return size.get(arch, size["default"])


def plan(scale: Scale, overrides: Mapping[str, Any] | None = None, seeds: int | None = None) -> list[PlannedRun]:
    """One evaluation-only run per architecture and seed."""
    if scale == "paper":
        base = base_config(
            {"data.source": "coco", "data.train_size": 1, "train.batch_size": 2, "eval.projections": ["pca"]}, overrides
        )
    else:
        base = base_config({"data.train_size": 2, "train.batch_size": 2, "eval.projections": ["pca"]}, overrides)
    runs = []
    count = 2 * seed_count(scale, seeds)  # k disjoint seed pairs for "each seed its own cone"
    for arch in _ARCHITECTURES[scale]:
        for seed in range(count):
            key = f"{arch} seed={seed}"
            changes = {"model.name": arch, "model.pretrained": "", "seed": base.seed + seed, "train.epochs": 0}
            if "data.eval_size" not in (overrides or {}):
                changes["data.eval_size"] = _eval_pairs(scale, arch)
            cfg = variant(base, f"{NAME} {key}", changes)
            runs.append(PlannedRun(key, cfg, params={"arch": arch, "seed": seed}))
    return runs


def _centroids(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"image": l2_normalize(arrays["image"]).mean(axis=0), "text": l2_normalize(arrays["text"]).mean(axis=0)}


def _cross_seed(runs: list[dict[str, Any]], centroids: dict[str, Any]) -> list[dict[str, Any]]:
    """For every pair of seeds of one architecture and each modality: the cosine of their centroids."""
    cross = []
    for (arch_a, seed_a, c_a), (arch_b, seed_b, c_b) in itertools.combinations(centroids.values(), 2):
        if arch_a != arch_b:
            continue
        for modality in ("image", "text"):
            within = min(
                next(r[f"cone_{modality}"] for r in runs if r["arch"] == arch_a and r["seed"] == s)
                for s in (seed_a, seed_b)
            )
            cosine = float(c_a[modality] @ c_b[modality])
            cross.append(
                {
                    "arch": arch_a,
                    "modality": modality,
                    "seed_a": seed_a,
                    "seed_b": seed_b,
                    "cosine": cosine,
                    "within": within,
                }
            )
    return cross


def pair_margins(cross: list[dict[str, Any]], arch: str) -> list[float]:
    """One value per disjoint seed pair (0–1, 2–3, ...): half the within cone − |cross cosine|, worse modality."""
    out = []
    pairs = [c for c in cross if c["arch"] == arch and c["seed_a"] % 2 == 0 and c["seed_b"] == c["seed_a"] + 1]
    for seed_a in sorted({c["seed_a"] for c in pairs}):
        mine = [c for c in pairs if c["seed_a"] == seed_a]
        out.append(min(CROSS_RATIO_MAX * c["within"] - abs(c["cosine"]) for c in mine))
    return out


def cone_claims(runs: list[dict[str, Any]], cross: list[dict[str, Any]]) -> list[Claim]:
    """Narrow cones (each architecture and modality, one value per seed) and own cones (one value per seed pair)."""
    narrow, own = [], []
    for arch in dict.fromkeys(r["arch"] for r in runs):
        mine = [r for r in runs if r["arch"] == arch]
        for modality in ("image", "text"):
            narrow.append(
                effect_claim(
                    f"{arch} {modality}",
                    f"mean cosine − {CONE_MIN} is > 0",
                    [r[f"cone_{modality}"] - CONE_MIN for r in mine],
                    1,
                )
            )
        own.append(
            effect_claim(
                f"{arch}",
                f"{CROSS_RATIO_MAX}·within-seed cone − |cross-seed cosine| is > 0, one value per disjoint seed pair "
                "(worse modality)",
                pair_margins(cross, arch),
                1,
            )
        )
    return [
        all_of(
            "narrow cone at init",
            f"every encoder's mean intra-modality cosine is above {CONE_MIN} (the paper's lower end)",
            narrow,
            paper="0.7–0.99",
        ),
        all_of(
            "each seed its own cone",
            "items embedded by two seeds are far less similar than within one seed",
            own,
            paper="clearly separate cones",
        ),
    ]


def analyze(results: RunResults, scale: Scale) -> Analysis:
    runs, centroids = [], {}
    for key in results.keys():
        params, row = results.params(key), results.first(key)
        runs.append(
            {
                "arch": params["arch"],
                "seed": params["seed"],
                "cone_image": row["cone_image"],
                "cone_text": row["cone_text"],
                "gap_distance": gap_of(row),
                "pair_cosine": row["pair_cosine"],
            }
        )
        centroids[key] = (params["arch"], params["seed"], _centroids(results.arrays(key, 0)))
    cross = _cross_seed(runs, centroids)
    by_arch: dict[str, dict[str, Any]] = {}
    for arch in dict.fromkeys(r["arch"] for r in runs):
        mine = [r for r in runs if r["arch"] == arch]
        pairs = [c for c in cross if c["arch"] == arch]
        by_arch[arch] = {
            "seeds": len(mine),
            **{m: stats_json([r[m] for r in mine]) for m in ("cone_image", "cone_text", "gap_distance")},
            "cross_seed_image": finite(np.mean([c["cosine"] for c in pairs if c["modality"] == "image"]))
            if pairs
            else None,
            "cross_seed_text": finite(np.mean([c["cosine"] for c in pairs if c["modality"] == "text"]))
            if pairs
            else None,
        }
    summary = (
        f"Lowest mean cosine over {len(runs)} random inits: "
        f"{min(min(r['cone_image'], r['cone_text']) for r in runs):.2f}; "
        f"largest |cross-seed cosine|: {max((abs(c['cosine']) for c in cross), default=float('nan')):.2f}; gap at init "
        f"{min(r['gap_distance'] for r in runs):.2f}–{max(r['gap_distance'] for r in runs):.2f}."
    )
    differences = [
        f"{arch}: cones {v['cone_image']['mean']:.2f} (image) / {v['cone_text']['mean']:.2f} (text)"
        + (
            f" — below Liang's {CONE_MIN:g} in at least one tower"
            if min(v["cone_image"]["mean"], v["cone_text"]["mean"]) < CONE_MIN
            else ""
        )
        for arch, v in by_arch.items()
    ] + ["Evaluated on built-in synthetic pairs, not COCO."]
    measured = {
        "runs": runs,
        "cross_seed": cross,
        "by_arch": by_arch,
        "gap_estimator": gap_estimator([results.first(k) for k in results.keys()]),
    }
    return Analysis(cone_claims(runs, cross), summary, measured, differences)


def table(analysis: Analysis) -> pd.DataFrame:
    rows = [
        {
            "architecture": arch,
            "seeds": v["seeds"],
            "cone image": interval_text(v["cone_image"]),
            "cone text": interval_text(v["cone_text"]),
            "cross-seed cosine image": v["cross_seed_image"],
            "cross-seed cosine text": v["cross_seed_text"],
            gap_label(analysis.measured) + " at init": interval_text(v["gap_distance"]),
        }
        for arch, v in analysis.measured["by_arch"].items()
    ]
    return pd.DataFrame(rows)


def charts(analysis: Analysis) -> dict[str, Any]:
    runs = pd.DataFrame(analysis.measured["runs"])
    long = runs.melt(
        id_vars=["arch", "seed"], value_vars=["cone_image", "cone_text", "gap_distance"], var_name="metric"
    )
    out = {
        "cone_by_seed": report_charts.strip_by_group(
            long, group="arch", metrics=["cone_image", "cone_text", "gap_distance"]
        )
    }
    cross = pd.DataFrame(analysis.measured["cross_seed"])
    if len(cross):
        frames = []
        for (arch, modality), part in cross.groupby(["arch", "modality"], sort=False):
            seeds = sorted(set(part["seed_a"]) | set(part["seed_b"]))
            within = {r["seed"]: r[f"cone_{modality}"] for r in analysis.measured["runs"] if r["arch"] == arch}
            cells = [{"a": f"seed {s}", "b": f"seed {s}", "cosine": within[s]} for s in seeds]
            for row in part.itertuples():
                cells += [
                    {"a": f"seed {row.seed_a}", "b": f"seed {row.seed_b}", "cosine": row.cosine},
                    {"a": f"seed {row.seed_b}", "b": f"seed {row.seed_a}", "cosine": row.cosine},
                ]
            frames.append(
                report_charts.heatmap(
                    pd.DataFrame(cells), x="a", y="b", value="cosine", title=f"{arch} {modality}", width=150, height=150
                )
            )
        import altair as alt

        out["cross_seed_cosine"] = alt.concat(*frames, columns=4)
    return out
