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
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gapviz.reproduce import charts as report_charts
from gapviz.reproduce.experiments.base import COCO_EVAL_PAIRS, PlannedRun, RunResults, Scale, base_config, finite, variant
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

CONE_MIN = 0.4
"""'High' mean cosine: random unit directions in d dimensions give 0 ± 1/√d (0.125 for d = 64)."""
CROSS_RATIO_MAX = 0.5
"""'Own cone': |⟨c_a, c_b⟩| below half the smaller within-seed cone for every seed pair."""

_ARCHITECTURES: dict[str, tuple[tuple[str, int], ...]] = {
    "tiny": (("gapviz-tiny", 3),),
    "small": (("gapviz-tiny", 4), ("RN50", 2), ("ViT-B-32", 2)),
    "paper": (("RN50", 5), ("RN101", 5), ("ViT-B-32", 5), ("ViT-B-16", 5)),
}
_EVAL_PAIRS = {"tiny": 64, "small": {"gapviz-tiny": 256, "default": 96}, "paper": COCO_EVAL_PAIRS}


def _eval_pairs(scale: str, arch: str) -> int:
    size = _EVAL_PAIRS[scale]
    return size.get(arch, size["default"]) if isinstance(size, dict) else size


def plan(scale: Scale, overrides: Mapping[str, Any] | None = None) -> list[PlannedRun]:
    """One evaluation-only run per architecture and seed."""
    if scale == "paper":
        base = base_config({"data.source": "coco", "data.train_size": 1, "train.batch_size": 2, "eval.projections": ["pca"]}, overrides)
    else:
        base = base_config({"data.train_size": 2, "train.batch_size": 2, "eval.projections": ["pca"]}, overrides)
    runs = []
    for arch, seeds in _ARCHITECTURES[scale]:
        for seed in range(seeds):
            key = f"{arch} seed={seed}"
            changes = {"model.name": arch, "model.pretrained": "", "seed": base.seed + seed, "train.epochs": 0}
            if "data.eval_size" not in (overrides or {}):
                changes["data.eval_size"] = _eval_pairs(scale, arch)
            cfg = variant(base, f"{NAME} {key}", changes)
            runs.append(PlannedRun(key, cfg, params={"arch": arch, "seed": seed}))
    return runs


def _centroids(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"image": l2_normalize(arrays["image"]).mean(axis=0), "text": l2_normalize(arrays["text"]).mean(axis=0)}


def analyze(results: RunResults, scale: Scale) -> dict[str, Any]:
    runs, centroids = [], {}
    for key in results.keys():
        params, row = results.params(key), results.first(key)
        runs.append({
            "arch": params["arch"], "seed": params["seed"], "cone_image": row["cone_image"], "cone_text": row["cone_text"],
            "gap_distance": row["gap_distance"], "pair_cosine": row["pair_cosine"],
        })
        centroids[key] = (params["arch"], params["seed"], _centroids(results.arrays(key, 0)))
    cross = []
    for (arch_a, seed_a, c_a), (arch_b, seed_b, c_b) in itertools.combinations(centroids.values(), 2):
        if arch_a != arch_b:
            continue
        for modality in ("image", "text"):
            within = min(
                next(r[f"cone_{modality}"] for r in runs if r["arch"] == arch_a and r["seed"] == s) for s in (seed_a, seed_b)
            )
            cosine = float(c_a[modality] @ c_b[modality])
            cross.append({"arch": arch_a, "modality": modality, "seed_a": seed_a, "seed_b": seed_b, "cosine": cosine, "within": within})
    min_cone = min(min(r["cone_image"], r["cone_text"]) for r in runs)
    worst_ratio = max((abs(c["cosine"]) / c["within"] for c in cross), default=float("nan"))
    high = min_cone >= CONE_MIN
    own = bool(cross) and worst_ratio < CROSS_RATIO_MAX
    by_arch = {}
    for arch in dict.fromkeys(r["arch"] for r in runs):
        mine = [r for r in runs if r["arch"] == arch]
        pairs = [c for c in cross if c["arch"] == arch]
        by_arch[arch] = {
            "seeds": len(mine),
            "cone_image": float(np.mean([r["cone_image"] for r in mine])),
            "cone_text": float(np.mean([r["cone_text"] for r in mine])),
            "gap_distance": float(np.mean([r["gap_distance"] for r in mine])),
            "cross_seed_image": finite(np.mean([c["cosine"] for c in pairs if c["modality"] == "image"])) if pairs else None,
            "cross_seed_text": finite(np.mean([c["cosine"] for c in pairs if c["modality"] == "text"])) if pairs else None,
        }
    summary = (
        f"Lowest mean cosine over {len(runs)} random inits: {min_cone:.2f} (threshold {CONE_MIN}); "
        f"largest |cross-seed cosine| / within-seed cone: {worst_ratio:.2f} (threshold {CROSS_RATIO_MAX}); "
        f"gap at init {min(r['gap_distance'] for r in runs):.2f}–{max(r['gap_distance'] for r in runs):.2f}."
    )
    return {
        "runs": runs, "cross_seed": cross, "by_arch": by_arch, "min_cone": min_cone, "worst_cross_ratio": worst_ratio,
        "high_cosine": high, "own_cones": own, "claim_holds": bool(high and own), "summary": summary,
    }


def table(analysis: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "architecture": arch, "seeds": v["seeds"], "cone image": v["cone_image"], "cone text": v["cone_text"],
            "cross-seed cosine image": v["cross_seed_image"], "cross-seed cosine text": v["cross_seed_text"],
            "gap at init": v["gap_distance"],
        }
        for arch, v in analysis["by_arch"].items()
    ]
    return pd.DataFrame(rows)


def charts(analysis: dict[str, Any]) -> dict[str, Any]:
    runs = pd.DataFrame(analysis["runs"])
    long = runs.melt(id_vars=["arch", "seed"], value_vars=["cone_image", "cone_text", "gap_distance"], var_name="metric")
    out = {"cone_by_seed": report_charts.strip_by_group(long, group="arch", metrics=["cone_image", "cone_text", "gap_distance"])}
    cross = pd.DataFrame(analysis["cross_seed"])
    if len(cross):
        frames = []
        for (arch, modality), part in cross.groupby(["arch", "modality"], sort=False):
            seeds = sorted(set(part["seed_a"]) | set(part["seed_b"]))
            within = {r["seed"]: r[f"cone_{modality}"] for r in analysis["runs"] if r["arch"] == arch}
            cells = [{"a": f"seed {s}", "b": f"seed {s}", "cosine": within[s]} for s in seeds]
            for row in part.itertuples():
                cells += [{"a": f"seed {row.seed_a}", "b": f"seed {row.seed_b}", "cosine": row.cosine},
                          {"a": f"seed {row.seed_b}", "b": f"seed {row.seed_a}", "cosine": row.cosine}]
            frames.append(report_charts.heatmap(pd.DataFrame(cells), x="a", y="b", value="cosine", title=f"{arch} {modality}", width=150, height=150))
        import altair as alt

        out["cross_seed_cosine"] = alt.concat(*frames, columns=4)
    return out
