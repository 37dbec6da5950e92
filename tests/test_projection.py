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


@pytest.mark.parametrize("n_image,n_text", [(0, 0), (0, 1), (1, 1), (2, 1), (2, 2), (3, 4)])
def test_tiny_inputs(n_image, n_text):
    rng = np.random.default_rng(0)
    image, text = rng.normal(size=(n_image, 6)), rng.normal(size=(n_text, 6))
    n = n_image + n_text
    assert P.pca_project(image, text).shape == (n, 2)
    layout = P.umap_project(image, text)
    assert layout.shape == (n, 2) and np.isfinite(layout).all()
    assert P.umap_project(image, text, init=layout).shape == (n, 2)


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
