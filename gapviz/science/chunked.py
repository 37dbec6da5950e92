"""Paired embeddings too large to hold as unit rows (a memory-mapped million pairs): one chunked pass.

compute_all takes this path for more than SUBSAMPLE_PAIRS pairs with one caption per image. One pass over
CHUNK_ROWS rows at a time normalises the rows and keeps only what the estimators need:

- O(N·D) metrics on every pair, exactly: the gap family, cones, pair cosine, relative gap, pair distances and
  the gap vector come from sums (PairSums whose units are BOOTSTRAP_GROUPS seeded random groups of pairs).
- Their bootstrap resamples those groups (the same block bootstrap as estimators.bootstrap_intervals, with
  counts equal within a group), so no N × resamples matrix exists. Up to BOOTSTRAP_GROUPS pairs a group is
  one pair and the result equals the row bootstrap.
- Retrieval, the probe and every O(N²) metric run on a seeded subsample of SUBSAMPLE_PAIRS pairs (their
  ``*_n`` and ``retrieval_n`` say how many). The U-statistic's variance model takes σ_u² and tr(Σ²) from it,
  and the permutation null of the plug-in gap is drawn from its normal limit with the covariance the
  subsample estimates (at N > 10,000 swaps the sum of swapped differences is Gaussian to within sampling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from gapviz.science.checks import unit_rows
from gapviz.science.estimators import PairSums
from gapviz.science.intervals import UStatVariance, along_variance, moment_rows, variance_model
from gapviz.science.pairs import as_compute_array

RETRIEVAL_N = "retrieval_n"
"""compute_all's key, on the chunked path only, for the images of the subsample that recall was measured on."""
SUBSAMPLE_PAIRS = 10_000
"""Pairs of the seeded subsample for retrieval and the O(N²) metrics (papers use COCO's 5k test split)."""
BOOTSTRAP_GROUPS = 10_000
"""Random groups of pairs the bootstrap resamples above this many pairs."""
STREAM_MIN_PAIRS = SUBSAMPLE_PAIRS
"""compute_all takes the chunked path above this many pairs (one caption per image)."""
CHUNK_ROWS = 1 << 14
"""Rows normalised at a time: 32 MiB of float32 per modality at D = 512."""


@dataclass(frozen=True)
class StreamedPairs:
    """What one pass over N pairs keeps: grouped sums, per-pair squared distances, the gap and a subsample."""

    sums: PairSums
    """One unit per bootstrap group (units: pairs in the group)."""
    group: np.ndarray
    """(N,) each pair's group."""
    pair_sq: np.ndarray
    """(N,) squared distance of each pair's unit rows."""
    gap: np.ndarray
    """(D,) c_X − c_Y over every pair (float64)."""
    rows: np.ndarray
    """(s,) the subsample's pair indices, sorted."""
    x_sub: np.ndarray
    y_sub: np.ndarray
    moment_d: np.ndarray
    """x − y at intervals.moment_rows(N, seed), sorted by row: the rows that estimate tr(Σ²)."""


def streams(n_image: int, n_text: int, text_image_index: Any | None) -> bool:
    """True for more than STREAM_MIN_PAIRS pairs with one caption per image (the chunked path applies)."""
    if n_image != n_text or n_image <= STREAM_MIN_PAIRS:
        return False
    if text_image_index is None:
        return True
    idx = np.asarray(text_image_index)
    return bool(np.array_equal(idx, np.arange(n_text)))


def subsample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """``size`` seeded pair indices in increasing order (every pair when n ≤ size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed + 29).choice(n, size, replace=False))


def pair_groups(n: int, groups: int, seed: int) -> np.ndarray:
    """(n,) group of each pair: itself up to ``groups`` pairs, else a seeded balanced random assignment."""
    if n <= groups:
        return np.arange(n)
    return np.random.default_rng(seed + 23).permutation(n) % groups


class _Pass:
    """Accumulators of one pass: grouped sums, per-pair squared distances and the chosen rows."""

    def __init__(self, n: int, d: int, dtype: Any, group: np.ndarray, rows: np.ndarray, moments: np.ndarray):
        g = int(group.max()) + 1
        self.group, self.rows, self.moments = group, rows, moments
        self.x_sum, self.y_sum = np.zeros((g, d)), np.zeros((g, d))
        self.xy, self.yy, self.pair_sq = np.zeros(g), np.zeros(g), np.zeros(n)
        self.x_sub: np.ndarray = np.empty((len(rows), d), dtype)
        self.y_sub: np.ndarray = np.empty((len(rows), d), dtype)
        self.moment_d: np.ndarray = np.empty((len(moments), d), dtype)

    def add(self, start: int, x: np.ndarray, y: np.ndarray) -> None:
        """Fold rows start … start + len(x) (unit rows) into the sums."""
        stop, g = start + len(x), len(self.x_sum)
        grp = self.group[start:stop]
        one_hot = sparse.csr_matrix((np.ones(len(x), dtype=x.dtype), (grp, np.arange(len(x)))), shape=(g, len(x)))
        self.x_sum += one_hot @ x
        self.y_sum += one_hot @ y
        self.xy += np.bincount(grp, np.einsum("ij,ij->i", x, y), g)
        self.yy += np.bincount(grp, np.einsum("ij,ij->i", y, y), g)
        diff = x - y
        self.pair_sq[start:stop] = np.einsum("ij,ij->i", diff, diff)
        lo, hi = np.searchsorted(self.rows, [start, stop])
        local = self.rows[lo:hi] - start
        self.x_sub[lo:hi], self.y_sub[lo:hi] = x[local], y[local]
        lo, hi = np.searchsorted(self.moments, [start, stop])
        self.moment_d[lo:hi] = diff[self.moments[lo:hi] - start]

    def result(self, n: int) -> StreamedPairs:
        units = np.bincount(self.group, minlength=len(self.x_sum)).astype(np.float64)
        sums = PairSums(
            x=self.x_sum,
            y_sum=self.y_sum,
            n_caps=units,
            xy=self.xy,
            yy=self.yy,
            first_caption=np.full(len(units), -1),
            units=units,
            caps_sq=units,
        )
        gap = (self.x_sum.sum(axis=0) - self.y_sum.sum(axis=0)) / n
        return StreamedPairs(sums, self.group, self.pair_sq, gap, self.rows, self.x_sub, self.y_sub, self.moment_d)


def stream_pairs(
    image: Any,
    text: Any,
    *,
    seed: int = 0,
    subsample: int | None = None,
    groups: int | None = None,
    chunk_rows: int | None = None,
) -> StreamedPairs:
    """One pass over pairs (image[i], text[i]) (numpy, memory-mapped or torch), CHUNK_ROWS rows at a time.

    Rows are checked and normalised as compute_all's prepare does (DegenerateEmbeddingsError names the rows).
    Sizes default to SUBSAMPLE_PAIRS, BOOTSTRAP_GROUPS and CHUNK_ROWS.
    """
    subsample, groups = subsample or SUBSAMPLE_PAIRS, groups or BOOTSTRAP_GROUPS
    chunk_rows = chunk_rows or CHUNK_ROWS
    n, d = len(image), int(image.shape[1])
    first = as_compute_array(image[: min(n, 1)])
    moments = np.sort(moment_rows(n, seed))
    acc = _Pass(n, d, first.dtype.type, pair_groups(n, groups, seed), subsample_rows(n, subsample, seed), moments)
    for start in range(0, n, chunk_rows):
        x = unit_rows(as_compute_array(image[start : start + chunk_rows]), "image", first_row=start)
        y = unit_rows(as_compute_array(text[start : start + chunk_rows]), "text", first_row=start)
        acc.add(start, x, y)
    return acc.result(n)


def variance(sp: StreamedPairs, n: int) -> UStatVariance:
    """The U-statistic's variance model: σ_u² along the full-data gap, measured on the subsample."""
    return variance_model(n, along_variance(sp.x_sub - sp.y_sub, sp.gap), sp.moment_d)


def gaussian_null95(sp: StreamedPairs, n: int, n_resamples: int, seed: int) -> float:
    """95th percentile of the plug-in gap when each pair's two sides trade places at random, from the normal limit.

    Swapping a random half B makes the gap vector g − (2/N)·Σ_B d_i: mean 0, covariance (1/N²)·Σ d_i d_iᵀ;
    the subsample estimates that covariance (scaled by N/s), and draws z ~ N(0, I_s) give the null gaps.
    """
    if n_resamples < 1 or n < 2:
        return float("nan")
    d = np.asarray(sp.x_sub - sp.y_sub, dtype=np.float64)
    z = np.random.default_rng(seed + 1).standard_normal((n_resamples, len(d)))
    return float(np.percentile(np.linalg.norm(z @ d, axis=1) / np.sqrt(n * len(d)), 95.0))
