"""UMAP for Explore in a child process, cached on disk: computed once, reused by the page."""

from __future__ import annotations

import io
import time

import numpy as np
from app_fixtures import open_page

from gapviz.app import projection_cache


def _pairs(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 8)).astype(np.float32)
    return base + 1.0, base - 1.0 + 0.2 * rng.normal(size=(n, 8)).astype(np.float32)


def test_cache_keys_follow_the_embeddings(tmp_path):
    image, text = _pairs()
    path = projection_cache.cache_path(tmp_path, image, text)
    assert path == projection_cache.cache_path(tmp_path, image.copy(), text.copy())
    assert path != projection_cache.cache_path(tmp_path, image, text[::-1])
    assert path.parent == tmp_path / "cache" / "projections"


def test_umap_runs_once_in_a_child_process_and_the_page_reuses_it(home):
    image, text = _pairs()
    started = time.perf_counter()
    layout = projection_cache.umap_layout(home, image, text)
    first = time.perf_counter() - started
    assert layout.shape == (120, 2) and np.isfinite(layout).all()
    assert projection_cache.cache_path(home, image, text).is_file()
    started = time.perf_counter()
    again = projection_cache.umap_layout(home, image, text)
    assert np.array_equal(again, layout) and time.perf_counter() - started < min(1.0, first)
    # the page finds the cached layout for the same upload and offers it without a toggle
    buffer = io.BytesIO()
    np.savez(buffer, image=image, text=text)
    at = open_page("explore", timeout=120)
    at.radio(key="explore_source").set_value("upload").run()
    at.file_uploader(key="explore_upload").set_value(("pairs.npz", buffer.getvalue(), "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="explore_method").options == ["pca", "umap"]
    at.selectbox(key="explore_method").set_value("umap").run()
    assert at.query_params["method"] == "umap"
