"""Recall@k both ways with ties broken fairly: a hit is its expected value under a random order of tied scores.

For a query whose best partner scores p, with g candidates scoring above p, T candidates tied with p
(the partners at p included) and h of those T being partners, the query's hit at k is the chance
that a uniformly random order of the T tied candidates puts a partner among the first r = k − g:
1 − C(T − h, r) / C(T, r), which for one partner is clamp((k − g) / T, 0, 1). Collapsed embeddings
therefore score exactly chance (k/N). Scores keep the input's precision (float64 stays float64, every
other dtype is float32); two scores within that precision's tie tolerance count as tied, because a cosine
over a few hundred dimensions is not more precise than that.
The similarity matrix is computed once, in chunks of images, so N×M never materialises; on CPU
one numba pass over each chunk counts both directions (torch comparisons cost 2.5× the matmul).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import torch

from gapviz.science.pairs import pair_index

TIE_TOLERANCE = 2.0**-20
"""float32 scores closer than this (≈ 9.5e-7, 16 float32 ulps at 1.0) are tied."""
TIE_TOLERANCE_FLOAT64 = 2.0**-46
"""float64 scores closer than this (≈ 1.4e-14, 128 float64 ulps at 1.0) are tied."""


def tie_tolerance(dtype: torch.dtype) -> float:
    """The tie tolerance of scores computed in ``dtype``."""
    return TIE_TOLERANCE_FLOAT64 if dtype == torch.float64 else TIE_TOLERANCE


DEFAULT_CHUNK = 1024
FUSED_MIN_CELLS = 1 << 20
"""Chunks with fewer scores use plain torch comparisons (the numba pass pays a thread start-up per call)."""


@dataclass(frozen=True)
class RetrievalHits:
    """Per-query expected hits: ``i2t`` (N, len(ks)), NaN rows for images without a caption; ``t2i`` (M, len(ks))."""

    ks: tuple[int, ...]
    i2t: np.ndarray
    t2i: np.ndarray

    def recall(self) -> dict[str, float]:
        """Recall@k both ways: the mean expected hit over queries (NaN without queries)."""
        out: dict[str, float] = {}
        for name, hits in (("i2t", self.i2t), ("t2i", self.t2i)):
            valid = hits[~np.isnan(hits[:, 0])] if len(hits) else hits
            for col, k in enumerate(self.ks):
                out[f"{name}_r{k}"] = float(valid[:, col].mean()) if len(valid) else float("nan")
        return out


def recall_keys(ks: Sequence[int]) -> list[str]:
    """Key names in output order: i2t_r{k}... then t2i_r{k}..."""
    return [f"{direction}_r{k}" for direction in ("i2t", "t2i") for k in ks]


def expected_hits(k: int, above: np.ndarray, tied: np.ndarray, partners: np.ndarray) -> np.ndarray:
    """1 − C(T − h, r)/C(T, r), r = clamp(k − g, 0, T): chance a random tie order puts a partner in the top k."""
    above, tied, partners = (np.asarray(a, dtype=np.float64) for a in (above, tied, partners))
    r = np.clip(k - above, 0.0, tied)
    miss = np.ones_like(r)
    for i in range(int(partners.max(initial=0))):
        step = np.where(i < partners, (tied - r - i) / np.maximum(tied - i, 1.0), 1.0)
        miss *= np.clip(step, 0.0, 1.0)
    return np.where(tied > 0, 1.0 - miss, 0.0)


@numba.njit(parallel=True, cache=True)
def _count_chunk(sims, col_hi, col_lo, row_hi, row_lo, n_blocks):  # pragma: no cover - compiled
    """One pass over a (M, C) chunk: per row and per column, how many scores lie above hi and at or above lo."""
    m, c = sims.shape
    row_gt = np.zeros(m, dtype=np.int64)
    row_ge = np.zeros(m, dtype=np.int64)
    col_gt = np.zeros((n_blocks, c), dtype=np.int64)
    col_ge = np.zeros((n_blocks, c), dtype=np.int64)
    per_block = (m + n_blocks - 1) // n_blocks
    for b in numba.prange(n_blocks):
        for j in range(b * per_block, min(m, (b + 1) * per_block)):
            rh, rl, gt, ge = row_hi[j], row_lo[j], 0, 0
            for i in range(c):
                v = sims[j, i]
                gt += v > rh
                ge += v >= rl
                col_gt[b, i] += v > col_hi[i]
                col_ge[b, i] += v >= col_lo[i]
            row_gt[j] = gt
            row_ge[j] = ge
    return row_gt, row_ge, col_gt.sum(axis=0), col_ge.sum(axis=0)


def _count(sims: torch.Tensor, col_pos: torch.Tensor, row_pos: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(row above, row at-or-above, col above, col at-or-above) counts of one chunk, fused on CPU."""
    tol = tie_tolerance(sims.dtype)
    if sims.device.type == "cpu" and sims.numel() >= FUSED_MIN_CELLS:
        blocks = max(1, min(numba.get_num_threads() * 4, sims.shape[0]))
        out = _count_chunk(
            sims.numpy(),
            (col_pos + tol).numpy(),
            (col_pos - tol).numpy(),
            (row_pos + tol).numpy(),
            (row_pos - tol).numpy(),
            blocks,
        )
        return tuple(torch.from_numpy(a) for a in out)
    return (
        (sims > (row_pos + tol)[:, None]).sum(dim=1),
        (sims >= (row_pos - tol)[:, None]).sum(dim=1),
        (sims > (col_pos + tol)[None, :]).sum(dim=0),
        (sims >= (col_pos - tol)[None, :]).sum(dim=0),
    )


def _as_tensor(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    arr = np.asarray(x)
    return torch.from_numpy(arr if arr.flags.writeable else arr.copy())


def _to_device_unit(x: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.nn.functional.normalize(x.to(device=device, dtype=dtype), dim=1).contiguous()


def _check_args(ks: Sequence[int], chunk_size: int) -> tuple[int, ...]:
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    out = tuple(int(k) for k in ks)
    if not out or min(out) < 1:
        raise ValueError(f"ks must be positive integers, got {list(ks)}")
    return out


def retrieval_hits(
    image: Any,
    text: Any,
    text_image_index: Any | None = None,
    ks: Sequence[int] = (1, 5, 10),
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device | None = None,
) -> RetrievalHits:
    """Per-query expected hits at each k, both ways, from one chunked pass over the cosine matrix.

    Image→text: a query's partners are all its captions and p is the best of their scores.
    Text→image: a caption's one partner is its image; p is computed per caption up front.
    """
    ks = _check_args(ks, chunk_size)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    image_t, text_t = _as_tensor(image), _as_tensor(text)
    both64 = image_t.dtype == text_t.dtype == torch.float64 and dev.type != "mps"
    dtype = torch.float64 if both64 else torch.float32
    x, y = _to_device_unit(image_t, dev, dtype), _to_device_unit(text_t, dev, dtype)
    n, m = x.shape[0], y.shape[0]
    idx_np = pair_index(n, m, text_image_index)
    if n == 0 or m == 0:
        return RetrievalHits(ks, np.full((n, len(ks)), np.nan), np.full((m, len(ks)), np.nan))
    idx = torch.from_numpy(idx_np).to(dev)
    row_pos = (x[idx] * y).sum(dim=1)
    order = torch.argsort(idx, stable=True)
    bounds = torch.searchsorted(idx[order], torch.arange(0, n + 1, chunk_size, device=dev)).tolist() + [m]
    row_gt, row_ge = torch.zeros(m, dtype=torch.int64), torch.zeros(m, dtype=torch.int64)
    col_stats = []
    for chunk, start in enumerate(range(0, n, chunk_size)):
        stop = min(start + chunk_size, n)
        sims = y @ x[start:stop].T
        caps = order[bounds[chunk] : bounds[chunk + 1]]
        local, pos = idx[caps] - start, sims[caps, idx[caps] - start]
        col_pos = torch.full((stop - start,), float("-inf"), device=dev, dtype=dtype)
        col_pos.scatter_reduce_(0, local, pos, reduce="amax")
        partners = torch.zeros(stop - start, dtype=torch.int64, device=dev)
        partners.scatter_add_(0, local, ((pos - col_pos[local]).abs() <= tie_tolerance(dtype)).long())
        r_gt, r_ge, c_gt, c_ge = _count(sims, col_pos, row_pos)
        row_gt += r_gt.cpu()
        row_ge += r_ge.cpu()
        col_stats.append(torch.stack([c_gt.cpu(), (c_ge - c_gt).cpu(), partners.cpu()]))
    col = torch.cat(col_stats, dim=1).numpy()
    i2t = np.stack([expected_hits(k, col[0], col[1], col[2]) for k in ks], axis=1)
    i2t[col[2] == 0] = np.nan
    row_gt_np, row_tied = row_gt.numpy(), (row_ge - row_gt).numpy()
    t2i = np.stack([expected_hits(k, row_gt_np, row_tied, np.ones(m)) for k in ks], axis=1)
    return RetrievalHits(ks, i2t, t2i)


def retrieval_recall(
    image: Any,
    text: Any,
    text_image_index: Any | None = None,
    ks: Sequence[int] = (1, 5, 10),
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Recall@k both ways with fair ties (see the module docstring); keys i2t_r{k}..., t2i_r{k}..."""
    hits = retrieval_hits(image, text, text_image_index, ks, chunk_size, device)
    values = hits.recall()
    return {key: values[key] for key in recall_keys(hits.ks)}
