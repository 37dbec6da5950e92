"""Explore's "file on this machine" source (AppTest): an allowed .npy opens memory-mapped from ?path=, a file outside
the allowed folders or a `..` escape is refused with one line shown as text, and a big set's scatter is binary."""

from __future__ import annotations

import json

import numpy as np
import pytest
from app_fixtures import APP_SCRIPT, texts

from gapviz.app.shared.analysis import from_path
from gapviz.data.embedding_access import registry_dir


def _pairs(path, n: int = 300, d: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(n, d)).astype(np.float32)
    arr = np.stack([base + 1.0, base - 1.0 + 0.3 * rng.normal(size=(n, d)).astype(np.float32)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, arr)
    return arr


def _open(path, timeout: float = 60):
    """The app opened on ?source=file&path= (Explore is the first page: no other view is drawn first)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP_SCRIPT, default_timeout=timeout)
    at.query_params.update(source="file", path=str(path))
    return at.run()


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


@pytest.mark.slow  # an AppTest of the whole page, about 4 s
def test_an_allowed_npy_opens_from_the_url_path_memory_mapped(home):
    path = registry_dir(home) / "pairs.npy"
    _pairs(path)
    assert isinstance(from_path(path).image, np.memmap)  # mapped, not read into memory
    at = _open(path, timeout=120)
    assert not at.exception and not _errors(at), _errors(at)
    assert "file pairs.npy** · 300 images · 300 captions · dimension 16" in texts(at)
    assert at.query_params["path"] == str(path)


def test_files_outside_the_allowed_folders_are_refused_as_text(home, tmp_path):
    outside = tmp_path / "elsewhere" / "secret*_[x](y).npy"
    _pairs(outside, n=20)
    escape = registry_dir(home) / ".." / ".." / "elsewhere" / outside.name
    registry_dir(home).mkdir(parents=True)
    for given in (outside, escape):
        at = _open(given)
        assert not at.exception
        assert len(at.error) == 1 and "is outside the folders Explore may open" in at.error[0].value
        assert "\\*\\_\\[x\\]\\(y\\)" in at.error[0].value  # the path is escaped: shown as text, never markup
        assert not at.get("plotly_chart")


@pytest.mark.slow  # a 150,000-pair file through the page, about 8 s
def test_a_big_set_is_drawn_whole_by_the_component_from_bytes(home):
    path = registry_dir(home) / "big.npy"
    _pairs(path, n=150_000, d=8)
    at = _open(path, timeout=240)
    assert not at.exception and not _errors(at), _errors(at)
    assert not at.get("plotly_chart")  # the bundled component, not st.plotly_chart
    (component,) = at.get("component_instance")
    sent = {arg.key: arg.bytes for arg in component.proto.special_args}
    assert len(sent["xy"]) == 2 * 4 * 300_000  # float32 (x, y) of every one of the 300,000 points, as bytes
    assert sent["rows"] == b""  # every row drawn: a point's index is its row
    args = json.loads(component.proto.json_args)
    assert "xy" not in args and args["n_image_drawn"] == 150_000
    page = texts(at)
    assert "every O(N·D) metric on all 150,000 pairs" in page and "retrieval on 10,000 of 150,000 pairs" in page


def test_the_component_selection_reads_as_a_plotly_selection():
    from gapviz.app.explore.big_scatter import event_selection
    from gapviz.app.shared.scatter import is_click, selected_rows

    click = event_selection({"rows": [7], "mode": "click", "seq": 1})
    lasso = event_selection({"rows": [3, 9, 3], "mode": "lasso", "seq": 2})
    assert is_click(click) and selected_rows(click).tolist() == [7]
    assert not is_click(lasso) and selected_rows(lasso).tolist() == [3, 9]
    assert selected_rows(event_selection(None)).tolist() == []


def test_registered_links_open_and_links_planted_in_a_listed_folder_are_followed(home, tmp_path, monkeypatch):
    from gapviz.data.embedding_access import EmbeddingAccessError, register, resolve_allowed

    outside = tmp_path / "private" / "mine.npy"
    _pairs(outside, n=4)
    link = register(outside, home)  # what `gapviz explore FILE` does
    assert link.parent == registry_dir(home) and resolve_allowed(str(link), home) == outside.resolve()
    shared = tmp_path / "shared"
    _pairs(shared / "ok.npy", n=4)
    (shared / "planted.npy").symlink_to(outside)
    monkeypatch.setenv("GAPVIZ_EMBEDDINGS_DIRS", str(shared))
    assert resolve_allowed(str(shared / "ok.npy"), home) == (shared / "ok.npy").resolve()
    with pytest.raises(EmbeddingAccessError, match="outside the folders"):
        resolve_allowed(str(shared / "planted.npy"), home)


@pytest.mark.slow  # the exact PCA imports torch (metrics.l2_normalize): about 5 s cold
def test_chunked_neighbours_and_pca_match_the_exact_ones(monkeypatch):
    from gapviz.app.explore import selection
    from gapviz.app.shared.analysis import analyse
    from gapviz.science import projection
    from gapviz.science.neighbours import point_neighbours

    rng = np.random.default_rng(3)
    image, text = rng.normal(size=(60, 8)).astype(np.float32) + 1, rng.normal(size=(60, 8)).astype(np.float32)
    result = analyse("k", "t", image, text, None)
    monkeypatch.setattr(selection, "SEARCH_CHUNK", 7)
    for row in (5, 60 + 17):
        found, exact = selection.neighbours(result, row, 5), point_neighbours(image, text, row, 5)
        for a, b in zip(found, exact, strict=True):
            assert a.indices.tolist() == b.indices.tolist() and np.allclose(a.similarities, b.similarities, atol=1e-6)
    chunked = projection._pca_chunked(image, text, fit_rows=120)  # every row fits the axes: the exact PCA
    assert np.allclose(np.abs(chunked), np.abs(projection._pca_coords(projection._joint(image, text))), atol=1e-5)
