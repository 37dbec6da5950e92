"""Coverage by simulation: how often each 95% interval gapviz prints covers a population value known exactly.

Data: Gaussian clouds on the sphere. Pair i shares a latent s_i ~ N(0, I_D); x_i = unit(c + s_i + ε_i),
y_i = unit(−c + s_i + ε'_i), ε ~ N(0, I_D), c = (shift/2)·e₀. The population gap ‖E x − E y‖ = 2·E[x₀]
is computed by Gauss quadrature (E[x₀] is an expectation over w₀ ~ N(shift/2, 2) and R ~ 2χ²_{D−1}), the pair
cosine by a 1-million-pair Monte Carlo, recall at pool size n as the mean over independent replicates.
The null case ("halves") splits 2n draws of one cloud into an image half and a text half: every gap is 0.
Everything is seeded: the same call gives the same table.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy.special import gammaln, roots_genlaguerre, roots_hermite

from gapviz.science.metrics import pair_estimates

DIM = 32
SHIFTS: dict[str, float] = {"none": 0.0, "small": 0.5, "moderate": 1.5, "large": 4.0}
"""Centroid shifts of the simulated clouds: population gaps of about 0, 0.06, 0.19 and 0.47 at D = 32."""
SIZES = (100, 1000)
REPLICATES = 400
RESAMPLES = 400
"""Bootstrap resamples per replicate in the suite (1,000 changes only Monte Carlo noise)."""
SUITE_SEED = 20261207
"""Fixed before the suite first ran; never searched."""
COVERAGE_BAND = (0.917, 0.983)
"""0.95 ± 3 binomial standard errors at 400 replicates."""
GAP_METRICS = ("gap_distance", "gap_distance_unbiased", "gap_squared_unbiased", "relative_gap", "pair_cosine")
RECALL_METRICS = ("i2t_r1", "t2i_r1", "i2t_r5")
CASE_METRICS = GAP_METRICS + RECALL_METRICS


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def clouds(n: int, shift: float, rng: np.random.Generator, dim: int = DIM) -> tuple[np.ndarray, np.ndarray]:
    """n paired unit rows (image, text) of the simulation model, float64."""
    centre = np.zeros(dim)
    centre[0] = shift / 2.0
    latent = rng.normal(size=(n, dim))
    return _unit(centre + latent + rng.normal(size=(n, dim))), _unit(-centre + latent + rng.normal(size=(n, dim)))


def halves(n: int, rng: np.random.Generator, dim: int = DIM) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of one modality posing as image and text: the null case, every population gap 0."""
    rows = clouds(2 * n, 1.0, rng, dim)[0]
    return rows[:n], rows[n:]


@functools.lru_cache(maxsize=16)
def mean_first_coordinate(shift: float, dim: int = DIM) -> float:
    """E[x₀] of x = unit(c + w), w ~ N(0, 2I): Gauss–Hermite over w₀, generalised Gauss–Laguerre over R/4 ~ Γ."""
    t, h = roots_hermite(120)
    k = (dim - 1) / 2.0
    g, lw = roots_genlaguerre(120, k - 1.0)
    w0 = shift / 2.0 + 2.0 * t[:, None]
    values = w0 / np.sqrt(w0 * w0 + 4.0 * g[None, :])
    weights = (h / np.sqrt(np.pi))[:, None] * (lw * np.exp(-gammaln(k)))[None, :]
    return float((values * weights).sum())


@functools.lru_cache(maxsize=16)
def mean_pair_cosine(shift: float, dim: int = DIM, draws: int = 1_000_000) -> float:
    """E⟨x, y⟩ of a pair, by seeded Monte Carlo (standard error about 1.5e-4)."""
    rng = np.random.default_rng(SUITE_SEED + 1)
    total, chunk = 0.0, 200_000
    for _ in range(draws // chunk):
        x, y = clouds(chunk, shift, rng, dim)
        total += float(np.einsum("ij,ij->", x, y))
    return total / draws


def population_values(case: str, n: int, dim: int = DIM) -> dict[str, float]:
    """The population value of each CASE_METRICS key for a case (a SHIFTS name or "halves") at n pairs."""
    if case == "halves":
        m, pair_cos, gap = mean_first_coordinate(1.0, dim), mean_first_coordinate(1.0, dim) ** 2, 0.0
        cone_y = m * m
    else:
        m = mean_first_coordinate(SHIFTS[case], dim)
        pair_cos, gap, cone_y = mean_pair_cosine(SHIFTS[case], dim), 2.0 * m if SHIFTS[case] else 0.0, m * m
    pair_d, spread = (1.0 - pair_cos) / 2.0, ((1.0 - m * m) / 2.0 + (1.0 - cone_y) / 2.0) / 2.0
    out = {
        "gap_distance": gap,
        "gap_distance_unbiased": gap,
        "gap_squared_unbiased": gap * gap,
        "relative_gap": pair_d / (pair_d + spread),
        "pair_cosine": pair_cos,
    }
    return out


@functools.lru_cache(maxsize=16)
def expected_recall(case: str, n: int, dim: int = DIM, replicates: int = REPLICATES) -> dict[str, float]:
    """Mean recall at pool size n over independent replicates (its own seed stream): recall's population value."""
    from gapviz.science.retrieval import retrieval_hits

    rng = np.random.default_rng(SUITE_SEED + 2)
    sums: dict[str, float] = {}
    for _ in range(replicates):
        x, y = draw(case, n, rng, dim)
        for key, value in retrieval_hits(x, y, np.arange(n), ks=(1, 5)).recall().items():
            sums[key] = sums.get(key, 0.0) + value
    return {k: v / replicates for k, v in sums.items()}


def draw(case: str, n: int, rng: np.random.Generator, dim: int = DIM) -> tuple[np.ndarray, np.ndarray]:
    """One replicate of a case, as float32 rows (what encoders give and compute_all computes in)."""
    x, y = halves(n, rng, dim) if case == "halves" else clouds(n, SHIFTS[case], rng, dim)
    return x.astype(np.float32), y.astype(np.float32)


@dataclass(frozen=True)
class Coverage:
    """One row of the coverage table."""

    metric: str
    case: str
    n: int
    truth: float
    replicates: int
    covered: int
    point_inside: int
    mean_width: float

    @property
    def rate(self) -> float:
        return self.covered / self.replicates

    def within_band(self) -> bool:
        """The rule: coverage within 3 binomial standard errors of 0.95 at this many replicates."""
        se = np.sqrt(0.95 * 0.05 / self.replicates)
        return bool(abs(self.rate - 0.95) <= 3.0 * se + 1e-12)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rate": self.rate, "within_band": self.within_band()}


Estimator = Callable[[np.ndarray, np.ndarray, int], dict[str, Any]]


def pair_estimator(recall: bool) -> Estimator:
    """compute_all's estimates of the gap family (and recall) at the suite's resamples (metrics.pair_estimates)."""
    return lambda x, y, seed: pair_estimates(x, y, n_resamples=RESAMPLES, seed=seed, recall=recall)


def coverage(
    case: str,
    n: int,
    metrics: Iterable[str] = GAP_METRICS,
    estimator: Estimator | None = None,
    truths: dict[str, float] | None = None,
    replicates: int = REPLICATES,
    seed: int = SUITE_SEED,
) -> list[Coverage]:
    """Coverage of each metric's ``_ci95`` over seeded replicates of one case at n pairs."""
    metrics = tuple(metrics)
    with_recall = any(m in RECALL_METRICS for m in metrics)
    estimator = estimator or pair_estimator(with_recall)
    if truths is None:
        truths = {**population_values(case, n), **(expected_recall(case, n) if with_recall else {})}
    rng = np.random.default_rng([seed, n, list(SHIFTS).index(case) if case in SHIFTS else 99])
    covered = dict.fromkeys(metrics, 0)
    inside = dict.fromkeys(metrics, 0)
    width = dict.fromkeys(metrics, 0.0)
    for rep in range(replicates):
        x, y = draw(case, n, rng)
        values = estimator(x, y, rep)
        for key in metrics:
            lo, hi = values[f"{key}_ci95"]
            covered[key] += int(lo <= truths[key] <= hi)
            inside[key] += int(lo <= values[key] <= hi)
            width[key] += (hi - lo) / replicates
    return [Coverage(k, case, n, truths[k], replicates, covered[k], inside[k], width[k]) for k in metrics]


def null_estimator(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, Any]:
    """The modality probe (accuracy, Wilson over pairs) and the distribution gap, as compute_all runs them."""
    from gapviz.science.kernels import distribution_gap
    from gapviz.science.probe import modality_probe

    probe = modality_probe(x, y, seed, n_resamples=1, null_permutations=0)
    return {**probe, **distribution_gap(x, y, n_resamples=RESAMPLES, seed=seed)}


NULL_METRICS = ("modality_probe_accuracy", "distribution_gap")
NULL_TRUTHS = {"modality_probe_accuracy": 0.5, "distribution_gap": 0.0}
"""On two halves of one modality a probe cannot beat chance and the centred distributions are equal."""


def null_coverage(n: int, replicates: int = REPLICATES) -> list[Coverage]:
    """Coverage of the probe's and the distribution gap's intervals on the null, where their values are known."""
    return coverage("halves", n, NULL_METRICS, null_estimator, NULL_TRUTHS, replicates)


LABEL_CLASSES = 4
LABEL_METRICS = ("transfer_accuracy_image", "transfer_accuracy_text")
LABEL_TRUTHS = dict.fromkeys(LABEL_METRICS, 1.0 / LABEL_CLASSES)
"""With class labels drawn at random, independent of the embeddings, any classifier is right 1/K of the time."""


def random_labels_estimator(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, Any]:
    """Cross-modal transfer on labels drawn uniformly from LABEL_CLASSES classes, one caption per image."""
    from gapviz.science.transfer import cross_modal_transfer

    labels = np.random.default_rng([seed, len(x)]).integers(0, LABEL_CLASSES, len(x))
    return cross_modal_transfer(x, y, np.arange(len(y)), labels, seed=seed)


def random_labels_coverage(n: int, replicates: int = REPLICATES) -> list[Coverage]:
    """Coverage of the transfer accuracies' intervals on the null of random class labels (truth 1/K)."""
    rows = coverage("moderate", n, LABEL_METRICS, random_labels_estimator, LABEL_TRUTHS, replicates)
    return [replace(row, case="random labels") for row in rows]


def suite(
    cases: Iterable[str] = (*SHIFTS, "halves"), sizes: Iterable[int] = SIZES, replicates: int = REPLICATES
) -> list[Coverage]:
    """Every case at every size: the table docs/science.md shows (a line on stderr per case and size)."""
    rows: list[Coverage] = []
    for case in cases:
        for n in sizes:
            rows += coverage(case, n, CASE_METRICS, replicates=replicates)
            print(f"calibration: {case} n={n} done", file=sys.stderr, flush=True)
    for n in sizes:
        rows += null_coverage(n, replicates)
        print(f"calibration: probe and distribution gap on the null, n={n} done", file=sys.stderr, flush=True)
        rows += random_labels_coverage(n, replicates)
        print(f"calibration: transfer on random labels, n={n} done", file=sys.stderr, flush=True)
    return rows


CHUNKED_N = 12_000
"""Pairs of the chunked suite: past chunked.STREAM_MIN_PAIRS, so pair_estimates takes the memory-mapped path."""
CHUNKED_CASES = ("none", "moderate")


def chunked_suite(replicates: int = REPLICATES) -> list[Coverage]:
    """The gap family's coverage on the chunked path (the grouped bootstrap, the subsample's variance model):
    what a memory-mapped million gets, checked at CHUNKED_N pairs (a line on stderr per case)."""
    rows: list[Coverage] = []
    for case in CHUNKED_CASES:
        rows += coverage(case, CHUNKED_N, GAP_METRICS, replicates=replicates)
        print(f"calibration: chunked path, {case} n={CHUNKED_N} done", file=sys.stderr, flush=True)
    return rows


def coverage_table(rows: Iterable[dict[str, Any]]) -> str:
    """The Markdown coverage table of suite rows (as saved: Coverage.to_json dicts), one line per metric, case and n."""
    lines = [
        "| metric | case | n | population value | coverage | point inside | mean width | within 0.917–0.983 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['metric']}` | {r['case']} | {r['n']:,} | {r['truth']:.4f} | {r['rate']:.3f} "
            f"({r['covered']}/{r['replicates']}) | {r['point_inside']}/{r['replicates']} | {r['mean_width']:.4f} | "
            f"{'yes' if r['within_band'] else '**no**'} |"
        )
    return "\n".join(lines)
