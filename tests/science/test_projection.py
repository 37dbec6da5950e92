import numpy as np
import pytest

from gapviz.science import projection as P


def _clustered(n=150, d=16, seed=0):
    """Paired clusters with a modality offset, so layouts have structure to keep."""
    rng = np.random.default_rng(seed)
    centres = 3 * rng.normal(size=(5, d))
    labels = rng.integers(0, 5, n)
    offset = np.zeros(d)
    offset[0] = 1.0
    image = centres[labels] + rng.normal(size=(n, d)) + offset
    text = centres[labels] + rng.normal(size=(n, d)) - offset
    return image, text, labels


def _rotation(theta, reflect=False):
    c, s = np.cos(theta), np.sin(theta)
    r = np.array([[c, -s], [s, c]])
    return r @ np.diag([1.0, -1.0]) if reflect else r


def test_pca_shape_and_image_rows_first():
    image, text, _ = _clustered(n=40)
    coords = P.pca_project(image, text[:25])
    assert coords.shape == (65, 2)
    assert coords[:40, 0].mean() * coords[40:, 0].mean() < 0 or coords[:40, 1].mean() * coords[40:, 1].mean() < 0


@pytest.mark.parametrize("reflect", [False, True])
def test_pca_aligned_to_rotated_copy_reproduces_reference(reflect):
    image, text, _ = _clustered()
    coords = P.pca_project(image, text)
    reference = coords @ _rotation(1.1, reflect) + np.array([3.0, -2.0])
    aligned = P.pca_project(image, text, reference=reference)
    np.testing.assert_allclose(aligned, reference, atol=1e-9)


def test_pca_alignment_keeps_consecutive_epochs_close():
    image, text, _ = _clustered()
    rng = np.random.default_rng(1)
    first = P.pca_project(image, text)
    second = P.pca_project(image + 0.05 * rng.normal(size=image.shape), text, reference=-first[:, ::-1])
    assert np.abs(second - (-first[:, ::-1])).mean() < 0.05 * np.abs(first).mean()


def test_align_to_rejects_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        P.align_to(np.zeros((5, 2)), np.zeros((4, 2)))


@pytest.mark.slow  # over 2 s: out of the fast lane
@pytest.mark.parametrize("n_image,n_text", [(0, 0), (0, 1), (1, 1), (2, 1), (2, 2), (3, 4)])
def test_tiny_inputs(n_image, n_text):
    rng = np.random.default_rng(0)
    image, text = rng.normal(size=(n_image, 6)), rng.normal(size=(n_text, 6))
    n = n_image + n_text
    assert P.pca_project(image, text).shape == (n, 2)
    layout = P.umap_project(image, text)
    assert layout.shape == (n, 2) and np.isfinite(layout).all()
    assert P.umap_project(image, text, init=layout).shape == (n, 2)


@pytest.mark.slow  # UMAP's first compile (numba) lands here: out of the fast lane
def test_umap_shape_and_fewer_points_than_neighbours():
    image, text, _ = _clustered(n=5)
    layout = P.umap_project(image, text, n_neighbors=15)
    assert layout.shape == (10, 2) and np.isfinite(layout).all()


def test_umap_warm_start_is_stable_and_deterministic():
    P.warm_umap()
    image, text, labels = _clustered()
    groups = np.concatenate([labels, labels])
    cold = P.umap_project(image, text)
    assert cold.shape == (300, 2)
    warm = P.umap_project(image, text, init=cold)
    np.testing.assert_array_equal(warm, P.umap_project(image, text, init=cold))
    again = P.umap_project(image, text, init=warm)
    scale = np.linalg.norm(warm - warm.mean(axis=0), axis=1).mean()
    again_scale = np.linalg.norm(again - again.mean(axis=0), axis=1).mean()
    assert again_scale == pytest.approx(scale, rel=0.3)
    moved = [np.linalg.norm(again[groups == g].mean(0) - warm[groups == g].mean(0)) for g in range(5)]
    assert np.mean(moved) < 0.3 * scale


def test_align_to_with_scale_undoes_similarity_transform():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(30, 2))
    moved = 0.3 * ref @ _rotation(2.0) + 5.0
    np.testing.assert_allclose(P.align_to(ref, moved, scale=True), ref, atol=1e-9)


def test_umap_rejects_init_of_wrong_shape():
    image, text, _ = _clustered(n=10)
    with pytest.raises(ValueError, match="init"):
        P.umap_project(image, text, init=np.zeros((5, 2)))


def test_warm_umap_returns_seconds():
    assert P.warm_umap() >= 0.0


def test_identical_points_do_not_break_umap():
    image = np.ones((10, 5))
    layout = P.umap_project(image, image)
    assert np.isfinite(layout).all()
    assert np.isfinite(P.umap_project(image, image, init=layout)).all()


def _movement(layouts):
    """Mean distance a point moves between consecutive layouts, in units of the layout's spread."""
    return np.mean(
        [
            np.linalg.norm(b - a, axis=1).mean() / np.linalg.norm(a - a.mean(0), axis=1).mean()
            for a, b in zip(layouts[:-1], layouts[1:], strict=True)
        ]
    )


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_aligned_umap_layouts_are_finite_deterministic_and_stay_put_across_identical_epochs():
    image, text, _ = _clustered(n=40)
    epochs = [(image, text)] * 3
    layouts = P.aligned_umap_project(epochs, seed=0)
    assert [layout.shape for layout in layouts] == [(80, 2)] * 3
    assert all(np.isfinite(layout).all() for layout in layouts)
    for again, first in zip(P.aligned_umap_project(epochs, seed=0), layouts, strict=True):
        np.testing.assert_array_equal(again, first)
    other_seed = P.aligned_umap_project(epochs, seed=1)
    assert not np.allclose(other_seed[0], layouts[0])
    # the same points at every epoch: the aligned frames (not re-aligned afterwards) move far less than
    # independent fits do even after each is rotated and scaled onto the one before
    independent = [P.umap_project(image, text, seed=seed) for seed in range(3)]
    rotated = [independent[0]]
    for layout in independent[1:]:
        rotated.append(P.align_to(rotated[-1], layout, scale=True))
    assert _movement(layouts) < 0.5 * _movement(rotated)


@pytest.mark.slow  # over 2 s: out of the fast lane
@pytest.mark.parametrize("n_pairs,n_epochs", [(0, 2), (1, 3), (2, 2), (20, 1)])
def test_aligned_umap_of_few_points_or_one_epoch(n_pairs, n_epochs):
    rng = np.random.default_rng(0)
    epochs = [(rng.normal(size=(n_pairs, 6)), rng.normal(size=(n_pairs, 6))) for _ in range(n_epochs)]
    layouts = P.aligned_umap_project(epochs)
    assert len(layouts) == n_epochs
    assert all(layout.shape == (2 * n_pairs, 2) and np.isfinite(layout).all() for layout in layouts)


@pytest.mark.slow  # UMAP's first compile (numba) lands here: out of the fast lane
def test_aligned_umap_of_identical_points_is_finite():
    image = np.ones((10, 5))
    assert all(np.isfinite(layout).all() for layout in P.aligned_umap_project([(image, image)] * 2))


def test_aligned_umap_needs_the_same_points_at_every_epoch():
    from gapviz.errors import GapvizError

    rng = np.random.default_rng(0)
    good, short = (
        (rng.normal(size=(10, 4)), rng.normal(size=(10, 4))),
        (rng.normal(size=(10, 4)), rng.normal(size=(9, 4))),
    )
    with pytest.raises(GapvizError, match=r"same points at every epoch: epoch 1 has image \(10, 4\), text \(9, 4\)"):
        P.aligned_umap_project([good, short])
    with pytest.raises(GapvizError, match="at least one epoch"):
        P.aligned_umap_project([])
