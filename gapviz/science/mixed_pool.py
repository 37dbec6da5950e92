"""Mixed-pool modality bias (Role et al. 2025, arXiv 2505.03703; mixed-modality search in GR-CLIP, Li et al. 2025).

All image and caption embeddings go into one pool. For each query (itself excluded): ITR is the share
of image queries whose nearest neighbour is an image, TIR the share of caption queries whose nearest is
a caption; IMR / TMR the mean 1-based rank of the first item of the other modality. Without a gap ITR
and TIR sit near each modality's share of the pool and the ranks near 1; a gap pushes both up, which is
the failure it causes in mixed-modality search. Exact ties count by their expected value under a
uniformly random order (as recall does). Queries are chunked, so no (N + M)² matrix is ever built; each
chunk's two products go through torch (``linalg.mm``, the pools as transposed views) and one numba pass per
chunk reads off the counts (numpy's element-wise comparisons had cost as much as the products).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from gapviz.science.linalg import mm

MIXED_MAX_QUERIES = 2048
"""Queries per modality at most (a seeded subsample); the pool is always every row."""
MIXED_CHUNK = 512


@numba.njit(parallel=True, cache=True)
def _tie_counts(s_same, s_other, self_cols):  # pragma: no cover - compiled
    """Per query row: own-modality scores above and equal to its best other-modality score (its own column
    ``self_cols`` left out) and other-modality scores equal to it; one pass per row, no (B, N) temporaries."""
    rows = s_same.shape[0]
    above = np.zeros(rows, dtype=np.int64)
    tied_same = np.zeros(rows, dtype=np.int64)
    tied_other = np.zeros(rows, dtype=np.int64)
    for r in numba.prange(rows):
        same, other = s_same[r], s_other[r]
        best = other[0]
        for c in range(1, len(other)):
            best = max(best, other[c])
        gt, eq, eq_other = 0, 0, 0
        for c in range(len(same)):
            gt += same[c] > best
            eq += same[c] == best
        for c in range(len(other)):
            eq_other += other[c] == best
        own = same[self_cols[r]]
        above[r] = gt - (own > best)
        tied_same[r] = eq - (own == best)
        tied_other[r] = eq_other
    return above, tied_same, tied_other


def _query_scores(q: np.ndarray, same_t: np.ndarray, other_t: np.ndarray, self_rows: np.ndarray) -> tuple:
    """Per query: P(top-1 is its own modality) and the expected rank of the first other-modality item."""
    top, ranks = [], []
    for start in range(0, len(q), MIXED_CHUNK):
        block, self_cols = q[start : start + MIXED_CHUNK], self_rows[start : start + MIXED_CHUNK]
        above, tied_same, tied_other = _tie_counts(mm(block, same_t), mm(block, other_t), self_cols)
        top.append(np.where(above > 0, 1.0, tied_same / (tied_same + tied_other)))
        ranks.append(1.0 + above + tied_same / (tied_other + 1.0))
    return np.concatenate(top), np.concatenate(ranks)


def mixed_pool_bias(x: np.ndarray, y: np.ndarray, *, seed: int = 0, max_queries: int = MIXED_MAX_QUERIES) -> dict:
    """``mixed_itr``, ``mixed_tir``, ``mixed_imr``, ``mixed_tmr`` of unit rows ``x`` (images) and ``y`` (captions).

    ``mixed_pool_n`` is the number of queries (images plus captions) actually scored. NaN with fewer
    than two rows of a modality.
    """
    keys = ("mixed_itr", "mixed_tir", "mixed_imr", "mixed_tmr")
    if len(x) < 2 or len(y) < 2:
        return {**dict.fromkeys(keys, math.nan), "mixed_pool_n": 0.0}
    rng = np.random.default_rng(seed + 13)
    qx = np.arange(len(x)) if len(x) <= max_queries else np.sort(rng.choice(len(x), max_queries, replace=False))
    qy = np.arange(len(y)) if len(y) <= max_queries else np.sort(rng.choice(len(y), max_queries, replace=False))
    a, b = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)
    a_t, b_t = a.T, b.T
    itr, imr = _query_scores(a[qx], a_t, b_t, qx)
    tir, tmr = _query_scores(b[qy], b_t, a_t, qy)
    return {
        "mixed_itr": float(itr.mean()),
        "mixed_tir": float(tir.mean()),
        "mixed_imr": float(imr.mean()),
        "mixed_tmr": float(tmr.mean()),
        "mixed_pool_n": float(len(qx) + len(qy)),
    }
