"""The gap's anatomy: which coordinates carry it, how much structure the modalities share, how many
directions each modality uses. Sources: Schrodi et al. (ICLR 2025), Huh et al. (ICML 2024), Roy & Vetterli (2007).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gapviz.science.linalg import mm

MUTUAL_KNN_K = 10
MUTUAL_KNN_MAX_PAIRS = 1024
"""Huh et al.'s N: mutual k-NN depends on N (chance is k/(N − 1)), so every set is measured on this many pairs."""
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


def _knn_subsample(x: np.ndarray, y_first: np.ndarray, seed: int, max_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 rows of at most ``max_pairs`` seeded pairs (all of them on smaller sets)."""
    keep = np.arange(len(x))
    if len(x) > max_pairs:
        keep = np.sort(np.random.default_rng(seed + 7).choice(len(x), max_pairs, replace=False))
    return np.ascontiguousarray(x[keep], dtype=np.float32), np.ascontiguousarray(y_first[keep], dtype=np.float32)


def _overlaps(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """Per pair, |N_k^A(i) ∩ N_k^B(i)| / k."""
    both = np.concatenate([_knn(a, k), _knn(b, k)], axis=1)
    both.sort(axis=1)
    return (both[:, 1:] == both[:, :-1]).sum(axis=1) / k


def mutual_knn(
    x: np.ndarray, y_first: np.ndarray, k: int = MUTUAL_KNN_K, seed: int = 0, max_pairs: int = MUTUAL_KNN_MAX_PAIRS
) -> float:
    """Huh et al.'s mutual k-NN alignment: mean |N_k^X(i) ∩ N_k^Y(i)| / k over matched pairs (x_i, y_i).

    Neighbours are found within each modality, so a rigid offset between the modalities (the gap)
    leaves it unchanged. Sets above ``max_pairs`` pairs use a seeded subsample. NaN below k + 1 pairs.
    """
    if len(x) < k + 1:
        return float("nan")
    return float(_overlaps(*_knn_subsample(x, y_first, seed, max_pairs), k).mean())


def knn_alignment(
    x: np.ndarray, y_first: np.ndarray, *, seed: int = 0, n_resamples: int = 0, max_pairs: int = MUTUAL_KNN_MAX_PAIRS
) -> dict[str, Any]:
    """``mutual_knn_10`` with its chance k/(N − 1), N and interval, and ``cknna_10``, on the same N pairs.

    The interval is a percentile bootstrap over pairs of the per-pair overlaps, the neighbour sets held
    fixed: the spread of the mean over these N pairs, not of a fresh neighbour graph.
    """
    from gapviz.science.estimators import bootstrap_intervals

    k, n = MUTUAL_KNN_K, min(len(x), max_pairs)
    out: dict[str, Any] = {"mutual_knn_n": float(n), "cknna_n": float(n)}
    if len(x) < k + 4:
        return {**out, "mutual_knn_10": float("nan"), "mutual_knn_10_chance": float("nan"), "cknna_10": float("nan")}
    a, b = _knn_subsample(x, y_first, seed, max_pairs)
    overlaps = _overlaps(a, b, k)
    out.update(mutual_knn_10=float(overlaps.mean()), mutual_knn_10_chance=k / (n - 1), cknna_10=cknna(a, b, k))

    def stats(w: np.ndarray) -> dict[str, np.ndarray]:
        return {"mutual_knn_10": (w @ overlaps) / w.sum(axis=1)}

    out.update(bootstrap_intervals(stats, n, n_resamples, seed + 8))
    return out


def _hsic_unbiased(k: np.ndarray, q: np.ndarray) -> float:
    """Song et al.'s (JMLR 2012, eq. 5) unbiased HSIC of two kernel matrices, diagonals ignored."""
    m = len(k)
    kt, lt = k.copy(), q.copy()
    np.fill_diagonal(kt, 0.0)
    np.fill_diagonal(lt, 0.0)
    trace = float((kt * lt.T).sum())
    total = float(kt.sum()) * float(lt.sum()) / ((m - 1) * (m - 2))
    cross = 2.0 * float(kt.sum(axis=0) @ lt.sum(axis=1)) / (m - 2)
    return (trace + total - cross) / (m * (m - 3))


def _knn_mask(gram: np.ndarray, k: int) -> np.ndarray:
    """1 where column j is among row i's k largest entries (the diagonal excluded)."""
    g = gram.copy()
    np.fill_diagonal(g, -np.inf)
    mask = np.zeros_like(g)
    np.put_along_axis(mask, np.argpartition(-g, k - 1, axis=1)[:, :k], 1.0, axis=1)
    return mask


def cknna(a: np.ndarray, b: np.ndarray, k: int = MUTUAL_KNN_K) -> float:
    """Huh et al.'s CKNNA: unbiased CKA of the inner-product kernels restricted to mutual k-NN entries.

    As in their ``platonic-rep`` metrics.py: HSIC(M∘K, M∘L) / (√(HSIC(M_K∘K, M_K∘K)·HSIC(M_L∘L, M_L∘L)) + 1e-6),
    M = M_K∘M_L, M_K[i, j] = 1 when j is among i's k nearest in A (itself excluded).
    """
    gram_a, gram_b = a.astype(np.float64) @ a.T.astype(np.float64), b.astype(np.float64) @ b.T.astype(np.float64)
    mask_a, mask_b = _knn_mask(gram_a, k), _knn_mask(gram_b, k)
    both = mask_a * mask_b
    kl = _hsic_unbiased(both * gram_a, both * gram_b)
    kk = _hsic_unbiased(mask_a * gram_a, mask_a * gram_a)
    ll = _hsic_unbiased(mask_b * gram_b, mask_b * gram_b)
    return float(kl / (np.sqrt(max(kk * ll, 0.0)) + 1e-6))


def equal_rows_effective_ranks(x: np.ndarray, y_first: np.ndarray) -> dict[str, float]:
    """Effective rank of images and of their first captions: the same number of rows in each, printed as N."""
    return {
        "effective_rank_image": effective_rank(x),
        "effective_rank_text": effective_rank(y_first),
        "effective_rank_n": float(len(x)),
    }


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
