"""Joint 2-D projections of image and text embeddings, fitted on the union of rows.

Rows are L2-normalised first; the result stacks image rows before text rows. Both methods take
the previous epoch's layout so consecutive epochs of the same points stay comparable;
``aligned_umap_project`` lays out many epochs of the same points at once with ``umap.AlignedUMAP``.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Iterator, Sequence

import numpy as np

from gapviz.errors import GapvizError

UMAP_COLD_EPOCHS = 200
UMAP_WARM_EPOCHS = 50
"""With the previous layout as init a short refinement suffices (~0.5 s vs ~7.5 s at 2,000 points)."""
UMAP_WARM_LEARNING_RATE = 0.2
"""A warm fit starts from a good layout; a smaller step keeps clusters in place between epochs."""
UMAP_MIN_POINTS = 4
"""Below this UMAP's spectral init is undefined; such inputs get PCA coordinates instead."""
ALIGNED_UMAP_EPOCHS = 100
"""Optimiser epochs of an aligned fit (AlignedUMAP's default is 200). The joint optimiser is most of
a fit and costs run epochs × points × this: 100 halves it for a little less neighbourhood kept
(the time and the 10-NN kept at 50, 100 and 200 are measured in docs/benchmarks.md, aligned UMAP)."""
PCA_EXACT_MAX_ROWS = 200_000
"""Up to this many rows (both modalities) PCA is exact on all of them at once; beyond, it is chunked (_pca_chunked)."""
PCA_FIT_ROWS = 20_000
"""Rows of the seeded sample that a chunked PCA fits its two axes on (every row is then projected)."""
CHUNK_ROWS = 65_536
"""Rows normalised at a time by the chunked passes (32 MiB of float32 at 128 dimensions, 128 MiB at 512)."""


def _joint(image: Any, text: Any) -> np.ndarray:
    from gapviz.science.metrics import l2_normalize  # torch: imported when needed, not before a big set's first draw

    x, y = l2_normalize(image), l2_normalize(text)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"image dim {x.shape[1]} != text dim {y.shape[1]}")
    return np.vstack([x, y])


def _check_layout(layout: Any, n_points: int, name: str) -> np.ndarray:
    arr = np.asarray(layout, dtype=np.float64)
    if arr.shape != (n_points, 2):
        raise ValueError(f"{name} must have shape ({n_points}, 2), got {arr.shape}")
    return arr


def align_to(reference: Any, coords: Any, scale: bool = False) -> np.ndarray:
    """``coords`` centred and rotated/reflected (orthogonal Procrustes) onto the centred reference.

    The result carries the reference's mean, so an exact rotated copy maps back onto it; with
    ``scale`` an isotropic scale factor is fitted too.
    """
    from scipy.linalg import orthogonal_procrustes

    ref = np.asarray(reference, dtype=np.float64)
    new = _check_layout(coords, len(ref), "coords")
    ref_mean = ref.mean(axis=0)
    new_centred = new - new.mean(axis=0)
    rotation, singular_sum = orthogonal_procrustes(new_centred, ref - ref_mean)
    factor = 1.0
    sum_sq = float((new_centred**2).sum())
    if scale and sum_sq > 0:
        factor = singular_sum / sum_sq
    return factor * new_centred @ rotation + ref_mean


def _pca_coords(points: np.ndarray) -> np.ndarray:
    from sklearn.decomposition import PCA

    n_components = min(2, *points.shape)
    coords = np.zeros((len(points), 2))
    if len(points) > 1 and n_components > 0:
        coords[:, :n_components] = PCA(n_components=n_components, svd_solver="full").fit_transform(points)
    return coords


def scaled_chunks(x: Any, chunk: int = CHUNK_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Consecutive float32 blocks of ``x``'s rows with 1 / each row's length (1 for a zero row): a memory map is
    read block by block, and a float32 one is not even copied (scaling is left to the caller's product)."""
    for start in range(0, len(x), chunk):
        block = np.asarray(x[start : start + chunk], dtype=np.float32)
        lengths = np.sqrt(np.einsum("ij,ij->i", block, block))
        yield block, 1.0 / np.where(lengths > 0, lengths, 1.0)


def unit_chunks(x: Any, chunk: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
    """Consecutive float32 blocks of ``x``'s rows scaled to length 1."""
    for block, inverse in scaled_chunks(x, chunk):
        yield block * inverse[:, None]


def unit_mean(x: Any) -> np.ndarray:
    """Mean of the rows scaled to length 1 (a modality's centroid), in chunks: one pass, no full copy."""
    total = np.zeros(np.shape(x)[1], dtype=np.float64)
    for block, inverse in scaled_chunks(x):
        total += inverse @ block
    return total / max(len(x), 1)


def _pca_axes(sample: np.ndarray) -> np.ndarray:
    """(D, 2) top principal axes of the rows of ``sample`` (covariance eigenvectors), each with its largest
    loading positive (sklearn's sign convention)."""
    centred = sample - sample.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    axes = vectors[:, ::-1][:, :2].astype(np.float32)
    flip = np.sign(axes[np.argmax(np.abs(axes), axis=0), [0, 1]])
    return axes * np.where(flip == 0, 1.0, flip).astype(np.float32)


def _pca_chunked(image: Any, text: Any, fit_rows: int = PCA_FIT_ROWS, seed: int = 0) -> np.ndarray:
    """PCA of a large set without copying it: two axes fitted on a seeded sample of ``fit_rows`` normalised rows,
    then every row projected block by block in one pass and centred; (N+M, 2), image rows first."""
    n_image, n_text = len(image), len(text)
    if np.shape(image)[1] != np.shape(text)[1]:
        raise ValueError(f"image dim {np.shape(image)[1]} != text dim {np.shape(text)[1]}")
    picked = np.sort(np.random.default_rng(seed).choice(n_image + n_text, size=fit_rows, replace=False))
    rows = [image[picked[picked < n_image]], text[picked[picked >= n_image] - n_image]]
    axes = _pca_axes(np.vstack([next(unit_chunks(part, fit_rows)) for part in rows if len(part)]))
    blocks = [(block @ axes) * inverse[:, None] for x in (image, text) for block, inverse in scaled_chunks(x)]
    coords = np.vstack(blocks)
    return (coords - coords.mean(axis=0, dtype=np.float64)).astype(np.float64)


def pca_project(image: Any, text: Any, reference: Any | None = None) -> np.ndarray:
    """First two principal components of all normalised rows, shape (N+M, 2), image rows first.

    With ``reference`` (the previous epoch's coordinates of the same points) the result is
    aligned to it so the axes do not flip or rotate between epochs. Above PCA_EXACT_MAX_ROWS rows the
    axes come from a seeded sample and the rows are read in chunks (_pca_chunked): a memory map is never copied.
    """
    if len(image) + len(text) > PCA_EXACT_MAX_ROWS:
        coords = _pca_chunked(image, text)
    else:
        coords = _pca_coords(_joint(image, text))
    if reference is not None:
        coords = align_to(_check_layout(reference, len(coords), "reference"), coords)
    return coords


def _knn(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k nearest neighbours of every row (itself first), Euclidean on unit rows ~ cosine."""
    from sklearn.neighbors import NearestNeighbors

    dists, indices = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(points)
    return indices.astype(np.int32), dists.astype(np.float32)


def umap_project(image: Any, text: Any, init: Any | None = None, n_neighbors: int = 15, seed: int = 0) -> np.ndarray:
    """UMAP layout of all normalised rows, shape (N+M, 2), image rows first.

    The kNN graph comes from sklearn; with ``init`` (the previous layout of the same points)
    UMAP starts there and runs UMAP_WARM_EPOCHS at UMAP_WARM_LEARNING_RATE, and the result is
    mapped back into the init's frame (umap rescales an init to a 10×10 box) by a similarity
    transform. Fewer points than UMAP_MIN_POINTS get PCA coordinates; fewer than
    ``n_neighbors`` shrink the neighbourhood.
    """
    import umap

    points = _joint(image, text)
    n = len(points)
    init_layout = None if init is None else _check_layout(init, n, "init")
    if n < UMAP_MIN_POINTS:
        return _pca_coords(points)
    k = max(2, min(n_neighbors, n - 1))
    reducer = umap.UMAP(
        n_neighbors=k,
        n_components=2,
        metric="euclidean",
        precomputed_knn=_knn(points, k),
        init="spectral" if init_layout is None else init_layout,
        n_epochs=UMAP_COLD_EPOCHS if init_layout is None else UMAP_WARM_EPOCHS,
        learning_rate=1.0 if init_layout is None else UMAP_WARM_LEARNING_RATE,
        random_state=seed,
        n_jobs=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layout = np.asarray(reducer.fit_transform(points), dtype=np.float64)
    return layout if init_layout is None else align_to(init_layout, layout, scale=True)


def check_same_points(epochs: Sequence[tuple[Any, Any]]) -> None:
    """A GapvizError unless there is an epoch and every epoch has the same image and text shapes."""
    if len(epochs) == 0:
        raise GapvizError("aligned UMAP needs at least one epoch of embeddings")
    shapes = [(np.shape(image), np.shape(text)) for image, text in epochs]
    for number, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise GapvizError(
                f"aligned UMAP needs the same points at every epoch: epoch {number} has image {shape[0]}, "
                f"text {shape[1]}; epoch 0 has image {shapes[0][0]}, text {shapes[0][1]}"
            )


def _cosine_distances(points: np.ndarray) -> np.ndarray:
    """Exact cosine distances of unit rows, for ``metric="precomputed"``.

    umap's own cosine path on small data calls a Python function per pair (≈ 1.4 s per 1,000
    points); this is one matrix product.
    """
    distances = np.clip(1.0 - points @ points.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    return distances.astype(np.float32)


def _finite(layout: np.ndarray) -> np.ndarray:
    """AlignedUMAP marks points left out of the graph as NaN; they go to the layout's centre."""
    layout = np.asarray(layout, dtype=np.float64)
    missing = ~np.isfinite(layout).all(axis=1)
    if missing.any():
        layout[missing] = layout[~missing].mean(axis=0) if (~missing).any() else 0.0
    return layout


def _pca_epochs(points: list[np.ndarray]) -> list[np.ndarray]:
    """PCA of each epoch, each rotated onto the one before (the fallback for too few points)."""
    layouts = [_pca_coords(points[0])]
    for epoch in points[1:]:
        coords = _pca_coords(epoch)
        layouts.append(align_to(layouts[-1], coords) if len(coords) > 1 else coords)
    return layouts


def aligned_umap_project(
    epochs: Sequence[tuple[Any, Any]], n_neighbors: int = 15, seed: int = 0, n_epochs: int = ALIGNED_UMAP_EPOCHS
) -> list[np.ndarray]:
    """One UMAP layout per epoch of the same points, (N + M, 2) each, image rows first, in one frame.

    ``umap.AlignedUMAP`` with identity relations between consecutive epochs (row i is the same
    pair at every epoch) on cosine distances: a point moves between frames only as far as its
    neighbourhood changed. Fewer points than UMAP_MIN_POINTS get PCA coordinates rotated epoch to
    epoch; one epoch gets a plain UMAP with the same settings (AlignedUMAP needs two).
    """
    import umap

    check_same_points(epochs)
    points = [_joint(image, text) for image, text in epochs]
    n = len(points[0])
    if n < UMAP_MIN_POINTS:
        return _pca_epochs(points)
    settings: dict[str, Any] = {
        "n_neighbors": max(2, min(n_neighbors, n - 1)),
        "metric": "precomputed",
        "n_epochs": n_epochs,
        "random_state": seed,
    }
    distances = [_cosine_distances(p) for p in points]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(distances) == 1:
            return [_finite(umap.UMAP(**settings, n_jobs=1).fit_transform(distances[0]))]
        # init="random" only skips the per-epoch mappers' own spectral layouts (AlignedUMAP discards
        # their embeddings and starts its joint fit from spectral layouts of its own). transform_seed
        # seeds that joint fit (its inits and its sampling); random_state alone leaves it unchanged.
        reducer = umap.AlignedUMAP(**settings, init="random", transform_seed=seed)
        relations = [{i: i for i in range(n)}] * (len(distances) - 1)
        layouts = reducer.fit_transform(distances, relations=relations)
    return [_finite(layout) for layout in layouts]


def warm_umap() -> float:
    """Import umap and run a tiny cold and warm fit so numba has compiled; returns seconds taken."""
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    image, text = rng.normal(size=(40, 8)), rng.normal(size=(40, 8))
    layout = umap_project(image, text, n_neighbors=5)
    umap_project(image, text, init=layout, n_neighbors=5)
    return time.perf_counter() - start
