"""UMAP for Explore in a child process, cached on disk: computed once, reused by the page."""

from __future__ import annotations

import io
import json
import os
import time

import numpy as np
import pytest
from app_fixtures import open_page

from gapviz.app.explore import projection_cache


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


@pytest.mark.slow  # over 2 s: out of the fast lane
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
    # UMAP's axes mean nothing for the centroids: no gap arrow there, and its toggle is off
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert not spec["layout"].get("annotations") and at.toggle(key="explore_arrow").disabled


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_aligned_umap_runs_in_a_child_process_once_then_comes_from_the_cache(home, monkeypatch):
    epochs = [_pairs(40, seed=0)] * 2 + [_pairs(40, seed=1)]
    layouts = projection_cache.aligned_umap_layouts(home, epochs)
    assert [layout.shape for layout in layouts] == [(80, 2)] * 3 and all(np.isfinite(x).all() for x in layouts)
    path = projection_cache.aligned_cache_path(home, epochs)
    assert path.is_file() and path.name.endswith("-aligned-umap.npy")
    assert path != projection_cache.aligned_cache_path(home, epochs[::-1])  # the order of the epochs counts
    # the same epochs again: read from the cache, no process started
    monkeypatch.setattr(projection_cache.subprocess, "run", lambda *a, **k: pytest.fail("started a process"))
    again = projection_cache.aligned_umap_layouts(home, epochs)
    assert all(np.array_equal(a, b) for a, b in zip(again, layouts, strict=True))


def test_aligned_umap_checks_the_shapes_before_starting_a_process(home, monkeypatch):
    from gapviz.errors import GapvizError

    monkeypatch.setattr(projection_cache.subprocess, "run", lambda *a, **k: pytest.fail("started a process"))
    image, text = _pairs(10)
    with pytest.raises(GapvizError, match="same points at every epoch"):
        projection_cache.aligned_umap_layouts(home, [(image, text), (image[:5], text)])


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_a_failing_child_is_a_one_line_projection_error_remembered_for_a_while(home, monkeypatch):
    epochs = [(np.full((6, 4), np.nan, dtype=np.float32), np.ones((6, 4), dtype=np.float32))] * 2
    with pytest.raises(projection_cache.ProjectionError, match="^aligned UMAP failed in its process: ") as caught:
        projection_cache.aligned_umap_layouts(home, epochs)
    assert "\n" not in str(caught.value)
    out = projection_cache.aligned_cache_path(home, epochs)
    assert not out.exists()
    # a rerun soon after gets the same error without a new process; later, a new try
    spawned = []
    real_run = projection_cache.subprocess.run
    monkeypatch.setattr(projection_cache.subprocess, "run", lambda *a, **k: spawned.append(1) or real_run(*a, **k))
    with pytest.raises(projection_cache.ProjectionError, match=r"\(tried again in 10 min\)$") as again:
        projection_cache.aligned_umap_layouts(home, epochs)
    assert str(caught.value) in str(again.value) and spawned == []
    stale = time.time() - projection_cache.RETRY_AFTER_S - 1
    os.utime(projection_cache.failure_path(out), (stale, stale))
    with pytest.raises(projection_cache.ProjectionError, match="failed in its process"):
        projection_cache.aligned_umap_layouts(home, epochs)
    assert spawned == [1]
    # "Try again" forgets it at once
    projection_cache.forget_failure(out)
    with pytest.raises(projection_cache.ProjectionError, match="failed in its process"):
        projection_cache.aligned_umap_layouts(home, epochs)
    assert spawned == [1, 1]


def test_a_failure_of_the_machine_is_not_remembered():
    assert projection_cache.machine_failure(1, "OSError: [Errno 28] No space left on device")
    assert projection_cache.machine_failure(1, "MemoryError") and projection_cache.machine_failure(-9, "")
    assert not projection_cache.machine_failure(1, "ValueError: Input contains NaN")


def test_a_full_disk_is_not_remembered_and_the_page_offers_to_try_again(home):
    image, text = _pairs(20)
    (home / "cache").mkdir(parents=True, exist_ok=True)
    (home / "cache" / "projections").write_text("not a folder")  # the child's input cannot be written here
    with pytest.raises(projection_cache.ProjectionError, match="UMAP could not start") as caught:
        projection_cache.umap_layout(home, image, text)
    assert caught.value.transient
    buffer = io.BytesIO()
    np.savez(buffer, image=image, text=text)
    at = open_page("explore", timeout=120)
    at.radio(key="explore_source").set_value("upload").run()
    at.file_uploader(key="explore_upload").set_value(("pairs.npz", buffer.getvalue(), "application/octet-stream")).run()
    at.toggle(key="explore_umap").set_value(True).run()
    assert not at.exception and any("UMAP could not start" in e.value for e in at.error)
    assert at.button(key="explore_umap_retry").label == "Try again"
    at.button(key="explore_umap_retry").click().run()
    assert not at.exception and any("UMAP could not start" in e.value for e in at.error)  # asked again, not remembered


def test_a_timeout_is_not_remembered(home):
    image, text = _pairs(10)
    epochs = [(image, text), (image, text)]
    with pytest.raises(projection_cache.ProjectionError, match="took longer than 0 s") as caught:
        projection_cache.aligned_umap_layouts(home, epochs, timeout=0.05)
    assert caught.value.timed_out
    assert not projection_cache.failure_path(projection_cache.aligned_cache_path(home, epochs)).exists()
