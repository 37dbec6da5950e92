"""Degenerate embeddings are named, not measured: non-finite values and zero rows have no direction."""

from __future__ import annotations

import numpy as np

from gapviz.errors import GapvizError

ZERO_NORM = 1e-12
"""Rows with an L2 norm below this have no direction to normalise to."""
COLLAPSE_CONE = 0.999
"""A modality whose mean within-modality cosine exceeds this is collapsed (every row nearly the same)."""
SHOWN_INDICES = 5


class DegenerateEmbeddingsError(GapvizError):
    """Rows that no metric can use: NaN/inf values or (near-)zero vectors; the message counts and locates them."""


def _indices(rows: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in rows[:SHOWN_INDICES])
    return shown + (", ..." if len(rows) > SHOWN_INDICES else "")


def check_rows(rows: np.ndarray, what: str) -> None:
    """Raise DegenerateEmbeddingsError naming how many rows of ``what`` are non-finite or zero, and the first few."""
    arr = np.asarray(rows)
    if arr.ndim != 2:
        raise DegenerateEmbeddingsError(f"{what} embeddings must be 2-D (rows, dim), got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if len(bad):
        raise DegenerateEmbeddingsError(
            f"{len(bad)} {what} row(s) contain NaN or inf (rows {_indices(bad)}): they cannot be measured"
        )
    sq = np.einsum("ij,ij->i", arr, arr)
    zero = np.flatnonzero(~(sq >= ZERO_NORM**2))
    if len(zero):
        raise DegenerateEmbeddingsError(
            f"{len(zero)} {what} row(s) are zero vectors (norm < {ZERO_NORM:g}; rows {_indices(zero)}): "
            "they have no direction, so no gap or recall can be measured"
        )


def is_collapsed(cone: float) -> bool:
    """True when the mean within-modality cosine exceeds COLLAPSE_CONE."""
    return bool(np.isfinite(cone) and cone > COLLAPSE_CONE)
