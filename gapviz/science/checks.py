"""Degenerate embeddings are named, not measured: non-finite values and zero rows have no direction."""

from __future__ import annotations

import numpy as np

from gapviz.errors import GapvizError

ZERO_NORM = 1e-12
"""Rows shorter than this times the longest row have no direction to normalise to (scale-free)."""
COLLAPSE_CONE = 0.999
"""A modality whose mean within-modality cosine exceeds this is collapsed (every row nearly the same)."""
SHOWN_INDICES = 5


class DegenerateEmbeddingsError(GapvizError):
    """Rows that no metric can use: NaN/inf values or (near-)zero vectors; the message counts and locates them."""


def _indices(rows: np.ndarray, first_row: int = 0) -> str:
    shown = ", ".join(str(int(i) + first_row) for i in rows[:SHOWN_INDICES])
    return shown + (", ..." if len(rows) > SHOWN_INDICES else "")


def _stable_norms(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's largest |value| and the L2 norm of the row divided by it (float64, overflow- and underflow-free)."""
    scale = np.abs(arr).max(axis=1).astype(np.float64) if arr.shape[1] else np.zeros(len(arr))
    safe = np.where(scale > 0, scale, 1.0)
    scaled = (arr / safe[:, None].astype(arr.dtype)) if arr.dtype == np.float32 else arr / safe[:, None]
    return scale, np.sqrt(np.einsum("ij,ij->i", scaled, scaled, dtype=np.float64))


def _zero_rows(scale: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Rows that are zero, or shorter than ZERO_NORM times the longest row (a scale-free test)."""
    if not len(scale) or not scale.max() > 0:
        return np.arange(len(scale))
    top = int(np.argmax(scale / scale.max() * inner))
    relative = (scale / scale[top]) * (inner / inner[top])
    return np.flatnonzero(~(relative >= ZERO_NORM))


def check_rows(rows: np.ndarray, what: str) -> None:
    """Raise DegenerateEmbeddingsError naming how many rows of ``what`` are non-finite or zero, and the first few."""
    unit_rows(rows, what)


def unit_rows(rows: np.ndarray, what: str, first_row: int = 0) -> np.ndarray:
    """Rows scaled to unit L2 norm, in the input's float precision, computed without overflow or underflow.

    Each row is first divided by its largest |value|, so 1e300- or 1e-300-scaled and float32 near-max rows
    give the same directions; non-finite rows, zero rows and rows below ZERO_NORM of the longest raise
    DegenerateEmbeddingsError, as does any non-finite value left after normalising. ``first_row`` numbers the rows
    in messages when ``rows`` is one chunk of a larger array.
    """
    arr = np.asarray(rows)
    if arr.ndim != 2:
        raise DegenerateEmbeddingsError(f"{what} embeddings must be 2-D (rows, dim), got shape {arr.shape}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if len(bad):
        raise DegenerateEmbeddingsError(
            f"{len(bad)} {what} row(s) contain NaN or inf (rows {_indices(bad, first_row)}): they cannot be measured"
        )
    scale, inner = _stable_norms(arr)
    zero = _zero_rows(scale, inner)
    if len(zero):
        raise DegenerateEmbeddingsError(
            f"{len(zero)} {what} row(s) are zero vectors (norm 0 or below {ZERO_NORM:g} of the longest row's; "
            f"rows {_indices(zero, first_row)}): they have no direction, so no gap or recall can be measured"
        )
    unit = (arr / scale[:, None].astype(arr.dtype)) / inner[:, None].astype(arr.dtype)
    if not np.isfinite(unit).all():
        raise DegenerateEmbeddingsError(f"{what} rows could not be normalised to unit length (values out of range)")
    return unit


def is_collapsed(cone: float) -> bool:
    """True when the mean within-modality cosine exceeds COLLAPSE_CONE."""
    return bool(np.isfinite(cone) and cone > COLLAPSE_CONE)
