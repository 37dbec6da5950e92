"""Matrix products through torch's BLAS and thread pool, the ones the retrieval matmul uses.

numpy's bundled OpenBLAS keeps its own threads; next to torch's pool on 2 busy cores its products
ran up to 6× slower than torch's (measured: 209 × 20,000 @ 20,000 × 512 float32, 1.4 s vs 0.23 s).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch


def mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for numpy arrays (2-D @ 2-D or 1-D), in their common float dtype, computed by torch."""
    dtype = np.result_type(a.dtype, b.dtype, np.float32)
    return (_tensor(a, dtype) @ _tensor(b, dtype)).numpy()


def _tensor(a: np.ndarray, dtype: np.dtype) -> torch.Tensor:
    """``a`` as a tensor sharing its memory (a transposed view goes as one, and BLAS reads it transposed: no copy
    per product; a read-only array, e.g. a memory-mapped file, is safe, as a product never writes its inputs),
    else a C-contiguous copy (another dtype, negative strides)."""
    view = np.asarray(a, dtype=dtype)
    if any(stride < 0 for stride in view.strides):
        view = np.ascontiguousarray(view)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)
        return torch.from_numpy(view)
