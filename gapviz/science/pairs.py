"""Pairing and coercion shared by metrics and retrieval: caption → image index, unit rows, 2-D float arrays.

Torch-free on purpose: a torch tensor is recognised by its ``detach`` method, so modules that must not load
torch (fixes, neighbours' callers) can pair captions with images too.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _to_numpy(x: Any, *, as_float: bool = False) -> Any:
    """A torch tensor as a CPU numpy array (float32 when ``as_float``); anything else unchanged."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu()
        return (x.float() if as_float else x).numpy()
    return x


def as_float_array(x: Any) -> np.ndarray:
    """2-D float64 array of ``x`` (numpy or torch), so every metric computes in one precision."""
    arr = np.asarray(_to_numpy(x, as_float=True), dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (rows, dim), got shape {arr.shape}")
    return arr


def as_compute_array(x: Any) -> np.ndarray:
    """2-D float array in the input's precision: float64 stays float64, every other dtype becomes float32."""
    arr = np.asarray(_to_numpy(x))
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    arr = arr.astype(dtype, copy=False)
    if arr.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (rows, dim), got shape {arr.shape}")
    return arr


def l2_normalize(x: Any) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm, as float64 (all-zero rows stay zero)."""
    arr = as_float_array(x)
    scale = np.abs(arr).max(axis=1, keepdims=True) if arr.shape[1] else np.zeros((len(arr), 1))
    arr = arr / np.where(scale > 0, scale, 1.0)  # largest |value| 1: squaring neither overflows nor underflows
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms > 0, norms, 1.0)


def pair_index(n_image: int, n_text: int, text_image_index: Any | None) -> np.ndarray:
    """Caption j → its image as int64 (identity when None and the counts match); ValueError otherwise."""
    if text_image_index is None:
        if n_image != n_text:
            raise ValueError(f"{n_image} images but {n_text} captions: pass text_image_index to pair them")
        return np.arange(n_text)
    idx = np.asarray(_to_numpy(text_image_index))
    if idx.shape != (n_text,):
        raise ValueError(f"text_image_index must have shape ({n_text},), got {idx.shape}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"text_image_index must be integers, got {idx.dtype}")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n_image):
        raise ValueError(f"text_image_index values must lie in [0, {n_image})")
    return idx
