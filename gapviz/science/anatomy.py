"""The gap's anatomy: which coordinates carry it, how much structure the modalities share, how many
directions each modality uses. Sources: Schrodi et al. (ICLR 2025), Huh et al. (ICML 2024), Roy & Vetterli (2007).
"""

from __future__ import annotations

import numpy as np

from gapviz.science.linalg import mm

MUTUAL_KNN_K = 10
MUTUAL_KNN_MAX_PAIRS = 2048
SPECTRUM_TOPS = (1, 5, 10)


def gap_spectrum_shares(gap: np.ndarray, tops: tuple[int, ...] = SPECTRUM_TOPS) -> dict[str, float]:
    """Share of ‖c_X − c_Y‖² carried by the top-k coordinates (``gap_top{k}_share``); NaN without a gap."""
    sq = np.sort(np.asarray(gap, dtype=np.float64) ** 2)[::-1]
    total = float(sq.sum())
    return {f"gap_top{k}_share": float(sq[:k].sum() / total) if total > 0 else float("nan") for k in tops}


def gap_spectrum(gap: np.ndarray, k: int = 20) -> list[tuple[int, float, float]]:
    """The k coordinates with the largest |c_X[d] − c_Y[d]|: (dimension, signed difference, share of ‖g‖²)."""
    g = np.asarray(gap, dtype=np.float64)
    total = float(g @ g)
    order = np.argsort(-np.abs(g), kind="stable")[:k]
    return [(int(d), float(g[d]), float(g[d] ** 2 / total) if total > 0 else float("nan")) for d in order]


def _knn(rows: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's k nearest other rows by cosine (itself excluded), chunked."""
    out = []
    for start in range(0, len(rows), 1024):
        sims = mm(rows[start : start + 1024], rows.T)
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf
        out.append(np.argpartition(-sims, k - 1, axis=1)[:, :k])
    return np.concatenate(out)


def mutual_knn(
    x: np.ndarray, y_first: np.ndarray, k: int = MUTUAL_KNN_K, seed: int = 0, max_pairs: int = MUTUAL_KNN_MAX_PAIRS
) -> float:
    """Huh et al.'s mutual k-NN alignment: mean |N_k^X(i) ∩ N_k^Y(i)| / k over matched pairs (x_i, y_i).

    Neighbours are found within each modality, so a rigid offset between the modalities (the gap)
    leaves it unchanged. Sets above ``max_pairs`` pairs use a seeded subsample. NaN below k + 1 pairs.
    """
    n = len(x)
    if n < k + 1:
        return float("nan")
    keep = np.arange(n)
    if n > max_pairs:
        keep = np.sort(np.random.default_rng(seed + 7).choice(n, max_pairs, replace=False))
    a = np.ascontiguousarray(x[keep], dtype=np.float32)
    b = np.ascontiguousarray(y_first[keep], dtype=np.float32)
    na, nb = _knn(a, k), _knn(b, k)
    both = np.concatenate([na, nb], axis=1)
    both.sort(axis=1)
    shared = (both[:, 1:] == both[:, :-1]).sum(axis=1)
    return float(shared.mean() / k)


def effective_rank(x: np.ndarray) -> float:
    """exp of the entropy of the normalised singular values of the (unit-row) matrix (Roy & Vetterli 2007).

    Singular values straight from the matrix (torch's SVD, backward-stable in float32): through a float32
    Gram matrix the rounding of σ² left ~1e-4·σ₁ in every empty direction, so a collapsed modality read 1.4.
    """
    import torch

    arr = np.asarray(x, dtype=np.float32)
    if arr.size == 0:
        return float("nan")
    sv = torch.linalg.svdvals(torch.from_numpy(np.ascontiguousarray(arr))).double().numpy()
    p = sv / sv.sum() if sv.sum() > 0 else sv
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))
