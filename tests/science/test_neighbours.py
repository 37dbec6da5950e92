"""Full-space nearest neighbours (gapviz.science.neighbours) against a brute-force ranking."""

from __future__ import annotations

import numpy as np
import pytest

from gapviz.science.neighbours import nearest, point_neighbours


def _brute(query: np.ndarray, pool: np.ndarray, k: int, exclude: int | None = None) -> tuple[list[int], list[float]]:
    q = query / np.linalg.norm(query)
    sims = [(float(row @ q / np.linalg.norm(row)), i) for i, row in enumerate(pool) if i != exclude]
    best = sorted(sims, key=lambda item: (-item[0], item[1]))[:k]
    return [i for _, i in best], [s for s, _ in best]


@pytest.mark.parametrize("seed", range(5))
def test_nearest_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    pool = rng.normal(size=(200, 12)) * rng.uniform(0.5, 3.0, size=(200, 1))  # norms differ: cosine ignores them
    query = rng.normal(size=12)
    indices, sims = nearest(query, pool, 7)
    expected_idx, expected_sims = _brute(query, pool, 7)
    assert indices.tolist() == expected_idx
    assert sims == pytest.approx(expected_sims)


def test_exclude_and_small_pools():
    pool = np.eye(4)
    indices, sims = nearest(pool[2], pool, 10, exclude=2)
    assert 2 not in indices.tolist() and len(indices) == 3
    assert indices.tolist() == [0, 1, 3]  # ties keep the lower index first
    with pytest.raises(ValueError):
        nearest(pool[0], pool, 0)


def test_point_neighbours_in_both_modalities():
    rng = np.random.default_rng(1)
    image, text = rng.normal(size=(30, 8)), rng.normal(size=(40, 8))
    # an image row: its own row is no neighbour among images, but every caption may be
    images, texts = point_neighbours(image, text, 3, k=5)
    assert images.modality == "image" and texts.modality == "text"
    assert images.indices.tolist() == _brute(image[3], image, 5, exclude=3)[0]
    assert texts.indices.tolist() == _brute(image[3], text, 5)[0]
    # a caption row (joint layout: images first)
    images, texts = point_neighbours(image, text, 30 + 7, k=5)
    assert texts.indices.tolist() == _brute(text[7], text, 5, exclude=7)[0]
    assert images.similarities == pytest.approx(_brute(text[7], image, 5)[1])
    with pytest.raises(ValueError):
        point_neighbours(image, text, 70)
