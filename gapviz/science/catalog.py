"""The one metric catalog: every number gapviz measures or records, with its label, unit, range, direction,
interval method, subsample size, meaning and source.

Every list of metrics and every label elsewhere (compute_all's keys, the CLI, the app's pages, Compare's tables
and axes, the reports) is derived from ``CATALOG`` here, so a metric is added, renamed or relabelled in one
place. docs/science.md's metric table is :func:`markdown_table` (tests/science/test_catalog.py checks it).

Directions are two separate questions:

- ``gap``: +1 when a higher value means a *larger* modality gap, −1 when it means a smaller one, 0 when the
  number is not a measure of the gap (recall, cones, ranks);
- ``better``: +1 when higher is what a mitigation or a model aims for (recall, accuracy), −1 when lower is
  (the gap, losses, a separable probe), 0 when neither is better (cones, ranks, sizes). Compare's "best"
  value is the highest for +1 and 0 and the lowest for −1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

COMPUTE_ALL = "compute_all"
"""Kind: a float of compute_all (and so of every run's epoch record and `gapviz analyze --json`)."""
FLAG = "flag"
"""Kind: a boolean of compute_all."""
SIZE = "size"
"""Kind: the rows or pairs a subsampled metric actually used (a float of compute_all)."""
RECORD = "record"
"""Kind: recorded by training or an experiment, not by compute_all (τ, loss, zero-shot accuracy)."""

VIEWS = (
    "curve",
    "first_curve",
    "final",
    "live",
    "explore",
    "selection",
    "pair_compare",
    "anatomy",
    "fix",
    "report",
    "shift",
    "headline",
)
"""Where a metric is shown: Compare's and Live's epoch curves, the curves Compare draws first, Compare's
values table, Live's epoch row, Explore's metric panel, an Explore selection's table, Explore's two-source table,
Explore's gap anatomy, the before/after table of a training-free fix, what a reproduction report keeps, the
embedding-shift curves, and the numbers Explore answers first, above its plot."""

INTERVAL_METHODS: dict[str, str] = {
    "score": "score interval of the signed U-statistic, {θ : |U − θ| ≤ 1.96·sd(θ)} with Var(U | θ) from "
    "Hoeffding's decomposition (gapviz.science.intervals); may reach below 0, always contains U",
    "unified, √ mapped": "√ of the Feldman–Cousins unified interval of θ = ‖μ_X − μ_Y‖² ≥ 0 from U and its "
    "variance at θ: never empty or zero-width, an upper bound when U is near or below 0",
    "unified, widened to the point": "the debiased gap's interval widened to reach the plug-in point, which "
    "sits above the population gap by its small-sample bias",
    "percentile bootstrap": "seeded percentile bootstrap over images (an image's captions kept with it)",
    "percentile bootstrap of predictions": "percentile bootstrap of the probe's held-out predictions, "
    "pairs resampled, folds not refitted",
    "percentile bootstrap of overlaps": "percentile bootstrap over pairs of the per-pair neighbour overlaps, "
    "the neighbour sets held fixed",
    "half-sample normal": "normal interval with the variance from disjoint halves of the pairs "
    "(Var(m) = a/m + b/m², held between its null and regular limits); each part centred and jackknifed on its own",
    "Wilson over pairs": "Wilson score interval over pairs (an image and its caption share a fold): inside [0, 1]",
    "Wilson": "Wilson score interval for a proportion over its queries or test items (stays inside [0, 1])",
    "none": "no interval",
}
"""Short name of each interval method → what it is (docs/science.md prints this table)."""


@dataclass(frozen=True)
class Metric:
    """One measured number: how it is named, read, bounded and estimated."""

    key: str
    """The key in compute_all's result, run records and `analyze --json`."""
    label: str
    """Human name for tables and help text, saying which estimator it is."""
    short: str
    """Short name for axis titles and metric tiles."""
    unit: str
    """"fraction" (0–1 share or accuracy), "cosine", "nats", "rank", "dimensions", "rows" or "" (unitless)."""
    range: tuple[float | None, float | None] | None
    """(lo, hi) the value can take, to clip interval bands (None for an unbounded end or both)."""
    gap: int
    """+1: higher = larger modality gap; −1: higher = smaller gap; 0: not a gap measure."""
    better: int
    """+1: higher is better; −1: lower is better (the gap, losses); 0: neither."""
    interval: str
    """A key of INTERVAL_METHODS: how ``<key>_ci95`` is computed ("none": there is none)."""
    size_key: str | None
    """The key holding the subsample size this metric used, or None when it uses every row."""
    meaning: str
    """One line: what the number says."""
    source: str
    """Where the definition comes from."""
    kind: str = COMPUTE_ALL
    """COMPUTE_ALL, FLAG, SIZE or RECORD."""
    views: tuple[str, ...] = ()
    """The VIEWS that show it."""
    resampled: bool = False
    """Its bootstrap is a function of per-image resample counts (estimators.resample_statistics), so
    gapviz.science.difference gives two sources' difference an interval too."""


# fmt: off
def _m(key: str, label: str, short: str, unit: str, rng: tuple[float | None, float | None] | None, gap: int,
       better: int, interval: str, size_key: str | None, meaning: str, source: str, views: str = "",
       kind: str = COMPUTE_ALL, resampled: bool = False) -> Metric:
    """A catalog entry (``views`` space-separated), positional so the table below stays one screen per metric."""
    return Metric(key, label, short, unit, rng, gap, better, interval, size_key, meaning, source, kind,
                  tuple(views.split()), resampled)


LIANG = "Liang et al., Mind the Gap, NeurIPS 2022"
HUH = "Huh et al., The Platonic Representation Hypothesis, ICML 2024"
WANG = "Wang & Isola, ICML 2020"
ROLE = "Role et al. 2025 (arXiv 2505.03703)"
ZHANG = "Zhang et al., Diagnosing and Rectifying Vision Models using Language, ICLR 2023"
GAPVIZ = "gapviz (docs/science.md)"
GAP_VIEWS = "curve final live explore selection pair_compare fix report"


def _recall(direction: str, k: int, views: str) -> Metric:
    """Recall@k one way (image→text or text→image), ties shared fairly."""
    src, dst = ("image", "text") if direction == "i2t" else ("text", "image")
    return _m(f"{direction}_r{k}", f"Recall@{k} {src}→{dst} (ties shared fairly)", f"R@{k} {src}→{dst}",
              "fraction", (0.0, 1.0), 0, 1, "Wilson", None,
              f"share of {src} queries whose partner is among the {k} nearest {dst}s (chance k/N)",
              "Liang et al. 2022; fair ties: gapviz", views, resampled=True)


CATALOG: tuple[Metric, ...] = (
    _m("gap_distance_unbiased", "Gap, debiased (√max(0, U))", "gap (debiased)", "", (0.0, 2.0), 1, -1,
       "unified, √ mapped", None, "‖μ_X − μ_Y‖ without the plug-in's small-sample floor (biased low near 0)",
       "Hoeffding 1948 U-statistic of Liang et al.'s gap", GAP_VIEWS + " first_curve headline", resampled=True),
    _m("gap_squared_unbiased", "Squared gap, unbiased U-statistic (signed)", "gap² (U)", "", (-4.0, 4.0), 1, -1,
       "score", None, "unbiased estimate of ‖μ_X − μ_Y‖²; negative values are noise around a zero gap",
       "Hoeffding 1948", "explore report"),
    _m("gap_distance", "Gap (plug-in centroid distance ‖c_X − c_Y‖)", "plug-in gap", "", (0.0, 2.0), 1, -1,
       "unified, widened to the point", None, "the papers' gap: 0 = shared centre, max 2; biased up on small sets",
       LIANG, GAP_VIEWS, resampled=True),
    _m("gap_null95", "Plug-in gap's permutation null floor (95th percentile)", "plug-in gap null floor", "",
       (0.0, 2.0), 0, 0, "none", None, "a plug-in gap at or below it cannot be told from 0",
       "Fisher randomisation test: image and caption swapped within pairs", "report"),
    _m("relative_gap", "Relative modality gap (RMG)", "relative gap", "", (0.0, 1.0), 1, -1,
       "percentile bootstrap", None, "pair distance relative to the within-modality spread (near 1: pairs far apart)",
       "Schrodi et al., ICLR 2025", "curve first_curve final explore selection pair_compare fix headline",
       resampled=True),
    _m("pair_cosine", "Mean cosine of matched pairs", "pair cosine", "cosine", (-1.0, 1.0), -1, 1,
       "percentile bootstrap", None, "how close an image and its caption are (CLIP on COCO ≈ 0.3)", LIANG,
       "final explore selection pair_compare fix", resampled=True),
    _m("mean_pair_distance", "Mean Euclidean distance of matched pairs", "pair distance", "", (0.0, 2.0), 1, -1,
       "percentile bootstrap", None, "mean ‖x_i − y_i‖ over pairs", LIANG, "explore selection", resampled=True),
    _m("alignment", "Alignment (mean squared pair distance, α = 2)", "alignment", "", (0.0, 4.0), 1, -1,
       "percentile bootstrap", None, "lower = matched pairs closer", WANG, "explore selection", resampled=True),
    _m("cone_image", "Image cone (mean cosine between two images)", "cone (image)", "cosine", (-1.0, 1.0), 0, 0,
       "percentile bootstrap", None, "how narrow the image cone is (≈ 0.99 at random init)", LIANG,
       "explore selection pair_compare", resampled=True),
    _m("cone_text", "Text cone (mean cosine between two captions)", "cone (text)", "cosine", (-1.0, 1.0), 0, 0,
       "percentile bootstrap", None, "how narrow the text cone is", LIANG, "explore selection pair_compare",
       resampled=True),
    _m("modality_probe_accuracy", "Modality probe accuracy (held-out, image vs caption)", "probe accuracy",
       "fraction", (0.0, 1.0), 1, -1, "Wilson over pairs", "modality_probe_n",
       "0.5 = the modalities cannot be told apart; saturates at 1 on real features",
       "linear probe, regularisation by nested cross-validation", "final explore selection pair_compare headline"),
    _m("modality_probe_logloss", "Modality probe log-loss (held-out)", "probe log-loss", "nats", (0.0, None), -1, 1,
       "percentile bootstrap of predictions", "modality_probe_n",
       "≈ log 2 = 0.693 with no gap; lower = more separable; compare with its permutation null",
       "linear probe, regularisation by nested cross-validation", "explore anatomy"),
    _m("modality_probe_logloss_null", "Modality probe log-loss under permuted modality labels",
       "probe log-loss (null)", "nats", (0.0, None), 0, 0, "none", "modality_probe_n",
       "what the probe's log-loss reads when there is no gap, at this n", "permutation null", "anatomy"),
    _m("uniformity_image", "Uniformity of the images (t = 2)", "uniformity (image)", "", (-4.0, 0.0), 0, -1,
       "percentile bootstrap", "uniformity_n", "log mean exp(−2‖x_i − x_j‖²); lower = spread more uniformly",
       WANG, "explore"),
    _m("uniformity_text", "Uniformity of the captions (t = 2)", "uniformity (text)", "", (-4.0, 0.0), 0, -1,
       "percentile bootstrap", "uniformity_n", "lower = spread more uniformly", WANG, "explore"),
    _m("uniformity_joint", "Uniformity of images and captions pooled (t = 2)", "uniformity (joint)", "",
       (-4.0, 0.0), 1, -1, "percentile bootstrap", "uniformity_n", "lower = the union spreads more uniformly",
       WANG, "explore selection pair_compare"),
    _m("gap_top1_share", "Share of ‖c_X − c_Y‖² in the largest coordinate", "gap top-1 share", "fraction",
       (0.0, 1.0), 0, 0, "none", None, "how concentrated the gap is", "Schrodi et al., ICLR 2025", "anatomy"),
    _m("gap_top5_share", "Share of ‖c_X − c_Y‖² in the 5 largest coordinates", "gap top-5 share", "fraction",
       (0.0, 1.0), 0, 0, "none", None, "how concentrated the gap is", "Schrodi et al., ICLR 2025", "anatomy"),
    _m("gap_top10_share", "Share of ‖c_X − c_Y‖² in the 10 largest coordinates", "gap top-10 share", "fraction",
       (0.0, 1.0), 0, 0, "none", None, "how concentrated the gap is", "Schrodi et al., ICLR 2025", "anatomy"),
    _m("distribution_gap", "Distribution gap (RBF-MMD² after centring, jackknife bias-corrected)",
       "distribution gap (MMD²)", "", (None, None), 1, -1, "half-sample normal",
       "distribution_gap_n",
       "the gap left once the centroids coincide; 0 for a pure offset", "Gretton et al., JMLR 2012",
       "anatomy fix"),
    _m("mutual_knn_10", "Mutual 10-NN alignment", "mutual 10-NN", "fraction", (0.0, 1.0), 0, 1,
       "percentile bootstrap of overlaps",
       "mutual_knn_n", "overlap of a pair's 10 nearest images and 10 nearest captions; depends on n",
       HUH, "anatomy fix curve final"),
    _m("mutual_knn_10_chance", "Mutual 10-NN alignment by chance, k/(N − 1)", "mutual 10-NN (chance)", "fraction",
       (0.0, 1.0), 0, 0, "none", "mutual_knn_n", "what mutual_knn_10 reads for unrelated spaces at this N", HUH,
       "anatomy"),
    _m("cknna_10", "CKNNA (kernel alignment on mutual 10-NN pairs)", "CKNNA (k = 10)", "", (-1.0, 1.0), 0, 1,
       "none", "cknna_n", "centred kernel alignment restricted to mutual-neighbour pairs; 1 = same structure",
       HUH + " (platonic-rep metrics.py)", "anatomy curve final"),
    _m("effective_rank_image", "Effective rank of the images", "effective rank (image)", "dimensions",
       (1.0, None), 0, 0, "none", "effective_rank_n", "how many directions the images use (1 = a line)",
       "Roy & Vetterli, EUSIPCO 2007", "anatomy"),
    _m("effective_rank_text", "Effective rank of the captions", "effective rank (text)", "dimensions",
       (1.0, None), 0, 0, "none", "effective_rank_n", "how many directions the captions use",
       "Roy & Vetterli, EUSIPCO 2007", "anatomy"),
    _recall("i2t", 1, "curve first_curve final live selection pair_compare fix report shift headline"),
    _recall("i2t", 5, "curve selection fix"),
    _recall("i2t", 10, "curve fix"),
    _recall("t2i", 1, "curve first_curve final live selection pair_compare fix report shift headline"),
    _recall("t2i", 5, "curve selection fix"),
    _recall("t2i", 10, "curve fix"),
    _m("mixed_itr", "Mixed pool: images whose top-1 neighbour is an image", "mixed-pool ITR", "fraction",
       (0.0, 1.0), 1, -1, "none", "mixed_pool_n", "with no gap ≈ the images' share of the pool", ROLE,
       "anatomy curve final"),
    _m("mixed_tir", "Mixed pool: captions whose top-1 neighbour is a caption", "mixed-pool TIR", "fraction",
       (0.0, 1.0), 1, -1, "none", "mixed_pool_n", "with no gap ≈ the captions' share of the pool", ROLE,
       "anatomy curve final"),
    _m("mixed_imr", "Mixed pool: mean rank of an image's first caption", "mixed-pool IMR", "rank", (1.0, None),
       1, -1, "none", "mixed_pool_n", "how far down an image query finds the other modality", ROLE, "anatomy"),
    _m("mixed_tmr", "Mixed pool: mean rank of a caption's first image", "mixed-pool TMR", "rank", (1.0, None),
       1, -1, "none", "mixed_pool_n", "how far down a caption query finds the other modality", ROLE, "anatomy"),
    _m("transfer_accuracy_text", "Cross-modal transfer: image-trained classifier on captions",
       "transfer accuracy (text)", "fraction", (0.0, 1.0), -1, 1, "Wilson", "transfer_n",
       "a classifier fitted on images, scored on text; NaN without class labels", ZHANG, "anatomy fix curve final"),
    _m("transfer_accuracy_image", "Cross-modal transfer: the same classifier on held-out images",
       "transfer accuracy (image)", "fraction", (0.0, 1.0), 0, 1, "Wilson", "transfer_n",
       "the ceiling transfer_accuracy_text is read against", ZHANG, "anatomy"),
    _m("collapsed_image", "Images collapsed (cone > 0.999)", "images collapsed", "", None, 0, 0, "none", None,
       "recall is at chance and the gap measures one point", GAPVIZ, "report", FLAG),
    _m("collapsed_text", "Captions collapsed (cone > 0.999)", "captions collapsed", "", None, 0, 0, "none", None,
       "recall is at chance and the gap measures one point", GAPVIZ, "report", FLAG),
    *(
        _m(size, f"Subsample size: {size.removesuffix('_n').replace('_', ' ')}", "n", "rows", (0.0, None), 0, 0,
           "none", None, "rows or pairs the subsampled metric actually used", GAPVIZ, "", SIZE)
        for size in (
            "modality_probe_n", "uniformity_n", "distribution_gap_n", "mutual_knn_n", "cknna_n",
            "effective_rank_n", "mixed_pool_n", "transfer_n",
        )
    ),
    _m("tau", "Temperature τ = 1/logit scale", "temperature τ", "", (0.0, None), 0, 0, "none", None,
       "the model's temperature at that epoch (a parameter, not an estimate)", "CLIP (Radford et al. 2021)",
       "curve first_curve final explore pair_compare", RECORD),
    _m("loss", "Symmetric InfoNCE loss on the eval set", "loss", "nats", (0.0, None), 0, -1, "none", None,
       "CLIP's loss at the model's τ", "CLIP (Radford et al. 2021)",
       "curve first_curve final explore pair_compare shift", RECORD),
    _m("train_loss", "Training loss (mean over the epoch)", "train loss", "nats", (0.0, None), 0, -1, "none", None,
       "the loss the optimiser saw", "CLIP (Radford et al. 2021)", "", RECORD),
    _m("zero_shot", "Zero-shot accuracy with the class prompts", "zero-shot accuracy", "fraction", (0.0, 1.0), 0, 1,
       "none", None, "images labelled by their nearest class-prompt embedding", "CLIP (Radford et al. 2021)",
       "curve final explore pair_compare fix shift", RECORD),
    _m("data_wait_share", "Share of training time spent waiting for data", "waiting for data", "fraction",
       (0.0, 1.0), 0, -1, "none", None, "time the training thread waited for its next batch, over the epoch's "
       "training time (near 0 when the prefetcher keeps ahead)", GAPVIZ, "", RECORD),
    _m("matched", "Pairs matched to their caption", "pairs matched", "fraction", (0.0, 1.0), 0, 1, "none", None,
       "share of pairs whose nearest caption is their own (theory sandbox)", GAPVIZ, "", RECORD),
)
"""Every metric, in display order."""
# fmt: on

BY_KEY: dict[str, Metric] = {m.key: m for m in CATALOG}
DEFAULT_GAP_KEY = "gap_distance_unbiased"
"""What the views call "gap": the debiased gap with its calibrated interval (the plug-in is "plug-in gap")."""
PLUG_IN_GAP_KEY = "gap_distance"
CI_SUFFIX = "_ci95"


def keys(kind: str = COMPUTE_ALL, view: str | None = None) -> tuple[str, ...]:
    """Keys of one kind, in display order, optionally only those a view shows."""
    return tuple(m.key for m in CATALOG if m.kind == kind and (view is None or view in m.views))


def in_view(view: str) -> tuple[str, ...]:
    """Every key a view shows (compute_all's and recorded ones), in display order."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; one of {', '.join(VIEWS)}")
    return tuple(m.key for m in CATALOG if view in m.views)


METRIC_NAMES: tuple[str, ...] = keys(COMPUTE_ALL)
"""compute_all's float metrics, in display order."""
FLAG_NAMES: tuple[str, ...] = keys(FLAG)
"""Booleans: the modality's mean within-modality cosine exceeds checks.COLLAPSE_CONE."""
SIZE_KEYS: tuple[str, ...] = keys(SIZE)
"""Rows or pairs each subsampled metric used (floats)."""
INTERVAL_METRICS: tuple[str, ...] = tuple(m.key for m in CATALOG if m.interval != "none")
RESAMPLED_METRICS: tuple[str, ...] = tuple(m.key for m in CATALOG if m.resampled)
"""Interval metrics from per-image resample counts: the ones gapviz.science.difference compares."""
INTERVAL_NAMES: tuple[str, ...] = tuple(f"{k}{CI_SUFFIX}" for k in INTERVAL_METRICS)
"""[lo, hi] 95% intervals (lists, so records stay JSON); each metric's method is its ``interval``."""
ALL_KEYS: tuple[str, ...] = METRIC_NAMES + FLAG_NAMES + SIZE_KEYS + INTERVAL_NAMES
METRIC_DESCRIPTIONS: dict[str, str] = {m.key: f"{m.label}: {m.meaning}." for m in CATALOG if m.kind == COMPUTE_ALL}
"""Help text of every float metric of compute_all."""


def label(key: str) -> str:
    """The human label of a key (its interval or epoch column too); the key itself when it is not a metric."""
    base, suffix = _split(key)
    return BY_KEY[base].label + suffix if base in BY_KEY else key


def short(key: str) -> str:
    """The short label for an axis or a tile; unknown keys read with spaces for underscores."""
    base, suffix = _split(key)
    return BY_KEY[base].short + suffix if base in BY_KEY else key.replace("_", " ")


def _split(key: str) -> tuple[str, str]:
    """``"gap_distance_ci95"`` → ("gap_distance", " 95% interval"); table columns keep their suffix."""
    if key.endswith(CI_SUFFIX):
        return key.removesuffix(CI_SUFFIX), " 95% interval"
    for suffix in (" [95% CI]", " epoch", " lo", " hi"):
        if key.endswith(suffix):
            return key.removesuffix(suffix), suffix
    return key, ""


AXIS_NAMES: dict[str, str] = {
    "gap_distance_unbiased": "gap ‖μ_I − μ_T‖ (debiased)",
    "gap_distance": "gap ‖c_I − c_T‖ (plug-in)",
    "gap_squared_unbiased": "gap² ‖μ_I − μ_T‖² (U-statistic)",
    "tau": "τ",
}
"""Axis titles that print the papers' symbol where the short name has words (μ: population centroids, c: the
sample's); every other metric's axis reads its short name."""


def axis_name(key: str) -> str:
    """A metric's name on an axis: its symbol (``gap ‖μ_I − μ_T‖ (debiased)``) or its short label."""
    return AXIS_NAMES.get(key) or short(key)


def help_text(key: str) -> str | None:
    """Label, meaning and interval method of a key, for a tooltip (None when unknown)."""
    m = BY_KEY.get(key)
    if m is None:
        return None
    method = "" if m.interval == "none" else f" 95% interval: {m.interval}."
    return f"{m.label}: {m.meaning}.{method}"


def lower_is_better(key: str) -> bool:
    """True for the gap, losses and a separable probe: Compare's "best" is their lowest value."""
    m = BY_KEY.get(key)
    return m is not None and m.better < 0


def subsample_size(values: dict[str, object], key: str) -> int | None:
    """The number of rows the metric ``key`` used, when its size key is in ``values`` and finite."""
    m = BY_KEY.get(key)
    size = values.get(m.size_key) if m is not None and m.size_key else None
    if isinstance(size, (int, float)) and not isinstance(size, bool) and math.isfinite(float(size)):
        return int(size)
    return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table() -> str:
    """The metric table of docs/science.md: key, label, unit, range, directions, interval, size key, meaning."""
    sign = {1: "↑", -1: "↓", 0: "·"}
    lines = [
        "| key | label | unit | range | gap | better | 95% interval | n | meaning | source |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in CATALOG:
        if m.kind == SIZE:
            continue
        rng = "—" if m.range is None else f"[{_end(m.range[0], '−∞')}, {_end(m.range[1], '∞')}]"
        cells = (
            f"`{m.key}`",
            m.label,
            m.unit or "—",
            rng,
            sign[m.gap],
            sign[m.better],
            m.interval,
            f"`{m.size_key}`" if m.size_key else "all",
            m.meaning,
            m.source,
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _end(value: float | None, unbounded: str) -> str:
    return unbounded if value is None else f"{value:g}"


def methods_table() -> str:
    """The interval methods of docs/science.md: short name → what it is."""
    lines = ["| method | what it is |", "|---|---|"]
    lines += [f"| {_cell(name)} | {_cell(text)} |" for name, text in INTERVAL_METHODS.items()]
    return "\n".join(lines) + "\n"


DOCS_START = "<!-- metric catalog: generated by gapviz.science.catalog.docs_block(), do not edit -->"
DOCS_END = "<!-- end of metric catalog -->"


def docs_block() -> str:
    """The generated part of docs/science.md: the metric table, then the interval methods, between markers."""
    return f"{DOCS_START}\n\n{markdown_table()}\n{methods_table()}\n{DOCS_END}\n"


def write_docs(path: str) -> None:
    """Replace the generated block of ``path`` (docs/science.md) with :func:`docs_block`."""
    from pathlib import Path

    text = Path(path).read_text()
    start, end = text.index(DOCS_START), text.index(DOCS_END) + len(DOCS_END) + 1
    Path(path).write_text(text[:start] + docs_block() + text[end:])


if __name__ == "__main__":
    write_docs("docs/science.md")
