"""The difference of a metric between two embeddings, with a bootstrap interval.

Two sources of the *same* points (two checkpoints, two inits, before and after a fix) are compared
by a paired bootstrap: each resample draws one set of images and measures both sources on it, so
what the points share cancels and the interval is that of the difference itself. Two different
point sets get independent resamples. The metrics are those computed from per-image sums (the gap
family, pair distances) and recall, the ones compute_all bootstraps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gapviz.science import estimators as E
from gapviz.science.catalog import RESAMPLED_METRICS
from gapviz.science.metrics import pair_squared, prepare, resample_statistics
from gapviz.science.retrieval import RetrievalHits, retrieval_hits

DIFFERENCE_METRICS = RESAMPLED_METRICS
"""compute_all's bootstrapped metrics that come from per-image sums and retrieval hits (not the kernel ones)."""


@dataclass(frozen=True)
class _Source:
    """What a resample needs of one source: its sums, pair distances and retrieval hits."""

    sums: E.PairSums
    idx: np.ndarray
    pair_sq: np.ndarray
    hits: RetrievalHits

    @classmethod
    def of(cls, image: Any, text: Any, text_image_index: Any | None) -> "_Source":
        x, y, idx = prepare(image, text, text_image_index)
        return cls(E.PairSums.of(x, y, idx), idx, pair_squared(x, y, idx), retrieval_hits(x, y, idx, ks=(1, 5, 10)))

    def statistics(self, w: np.ndarray) -> dict[str, np.ndarray]:
        out = resample_statistics(self.sums, self.idx, self.pair_sq, self.hits, w)
        return {k: out[k] for k in DIFFERENCE_METRICS}


def same_points(first: tuple[Any, Any, Any], second: tuple[Any, Any, Any]) -> bool:
    """Both sources hold the same number of images and captions with the same pairing (assumed the same points)."""
    (a_image, a_text, a_idx), (b_image, b_text, b_idx) = first, second
    if len(a_image) != len(b_image) or len(a_text) != len(b_text):
        return False
    if a_idx is None or b_idx is None:
        return a_idx is None and b_idx is None
    return bool(np.array_equal(np.asarray(a_idx), np.asarray(b_idx)))


def difference_intervals(
    first: tuple[Any, Any, Any],
    second: tuple[Any, Any, Any],
    *,
    paired: bool | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """``second − first`` of each DIFFERENCE_METRICS metric: ``<metric>`` (the point difference) and
    ``<metric>_ci95`` (percentile bootstrap), and ``paired``. Each source is (image, text, text_image_index).

    ``paired`` defaults to :func:`same_points`; paired resamples draw the same images in both.
    """
    paired = same_points(first, second) if paired is None else paired
    a, b = _Source.of(*first), _Source.of(*second)
    n_a, n_b = len(a.sums.x), len(b.sums.x)
    if paired and n_a != n_b:
        raise ValueError(f"a paired comparison needs the same images in both sources ({n_a} and {n_b})")
    whole_a, whole_b = a.statistics(np.ones((1, n_a))), b.statistics(np.ones((1, n_b)))
    point = {k: float(whole_b[k][0] - whole_a[k][0]) for k in DIFFERENCE_METRICS}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in DIFFERENCE_METRICS}
    block = E.block_size(max(n_a, n_b))  # both streams in blocks of the same size
    counts_b = None if paired else E.resample_counts(n_b, n_resamples, seed + 1, block)
    for w_a in E.resample_counts(n_a, n_resamples, seed, block) if n_resamples > 0 else ():
        w_b = w_a if counts_b is None else next(counts_b)
        sa, sb = a.statistics(w_a), b.statistics(w_b)
        for k in DIFFERENCE_METRICS:
            parts[k].append(sb[k] - sa[k])
    out: dict[str, Any] = {"paired": paired, **point}
    for k, values in parts.items():
        out[f"{k}_ci95"] = E.percentile_interval(np.concatenate(values)) if values else [float("nan")] * 2
    return out
