"""Nearest neighbours in the full embedding space, by cosine similarity (pure numpy).

The 2-D projection only suggests who is close to whom; these functions answer it in the original
D dimensions, for one query row against the images and the captions separately. The two
modalities are ranked apart because the modality gap would otherwise fill the list with the
query's own modality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero). Not metrics.l2_normalize: that module loads torch,
    and the web process imports this one for every click."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


@dataclass(frozen=True)
class Neighbours:
    """The k rows of one modality most similar to a query, best first, with their cosine."""

    modality: str
    indices: np.ndarray
    similarities: np.ndarray


def nearest(query: np.ndarray, pool: np.ndarray, k: int, exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of the ``k`` rows of ``pool`` most similar to ``query``.

    Ties keep the lower index first; ``exclude`` (the query's own row in ``pool``) is left out.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    sims = _unit(pool) @ _unit(query)
    if exclude is not None:
        sims[int(exclude)] = -np.inf
    k = min(k, int(np.isfinite(sims).sum()))
    if k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    order = np.lexsort((top, -sims[top]))
    chosen = top[order]
    return chosen.astype(np.int64), sims[chosen].astype(np.float64)


def point_neighbours(image: np.ndarray, text: np.ndarray, row: int, k: int = 10) -> tuple[Neighbours, Neighbours]:
    """Nearest images and nearest captions of one point, in the full space.

    ``row`` follows the joint layout (image rows first, then caption rows, as in the projections);
    the point itself is not its own neighbour.
    """
    n_image, n_text = len(image), len(text)
    if not 0 <= row < n_image + n_text:
        raise ValueError(f"row {row} is outside 0..{n_image + n_text - 1}")
    is_image = row < n_image
    query = image[row] if is_image else text[row - n_image]
    own = row if is_image else row - n_image
    found = []
    for modality, pool, same in (("image", image, is_image), ("text", text, not is_image)):
        indices, sims = nearest(query, pool, k, exclude=own if same else None)
        found.append(Neighbours(modality, indices, sims))
    return found[0], found[1]
