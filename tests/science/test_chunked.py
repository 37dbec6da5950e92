"""compute_all's chunked path (gapviz.science.chunked) against the in-memory path it replaces at scale."""

from __future__ import annotations

import numpy as np
import pytest

from gapviz.science import chunked
from gapviz.science.checks import DegenerateEmbeddingsError
from gapviz.science.estimators import gap_null95
from gapviz.science.metrics import compute_all, prepare


def _pairs(n: int, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = (rng.normal(size=(n, d)) + 0.4).astype(np.float32)
    return image, (image + 1.5 * rng.normal(size=(n, d)) - 0.4).astype(np.float32)


def _close(a: object, b: object) -> bool:
    return bool(np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-5, atol=1e-7, equal_nan=True))


@pytest.mark.slow
def test_chunked_path_equals_the_in_memory_path_when_nothing_is_subsampled(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the subsample and the groups as large as the data, only the null differs (its normal limit, compared
    with the permutation null below)."""
    image, text = _pairs(300)
    expected = compute_all(image, text, n_resamples=50)
    monkeypatch.setattr(chunked, "STREAM_MIN_PAIRS", 0)
    monkeypatch.setattr(chunked, "CHUNK_ROWS", 97)
    got = compute_all(image, text, n_resamples=50)
    assert got.pop(chunked.RETRIEVAL_N) == 300
    assert list(got) == list(expected)
    assert [k for k in got if not _close(got[k], expected[k])] == ["gap_null95"]


def test_grouped_bootstrap_does_not_depend_on_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    image, text = _pairs(600)
    monkeypatch.setattr(chunked, "BOOTSTRAP_GROUPS", 50)
    small = chunked.stream_pairs(image, text, seed=3, subsample=100, chunk_rows=64)
    whole = chunked.stream_pairs(image, text, seed=3, subsample=100, chunk_rows=600)
    assert len(small.sums.x) == 50 and small.sums.units.sum() == 600
    np.testing.assert_allclose(small.sums.x, whole.sums.x, rtol=1e-5, atol=1e-6)  # float32 sums per chunk
    np.testing.assert_array_equal(small.x_sub, whole.x_sub)
    x, y, _ = prepare(image, text)
    np.testing.assert_allclose(small.gap, x.mean(axis=0) - y.mean(axis=0), atol=1e-6)


@pytest.mark.slow
def test_grouped_bootstrap_intervals_stay_near_the_row_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented difference: resampling 200 random groups of 10 pairs instead of 2,000 pairs moves the
    percentile intervals of the resampled metrics by a small part of their width."""
    image, text = _pairs(2000, seed=5)
    rows = compute_all(image, text, n_resamples=400, modality_probe=False)
    monkeypatch.setattr(chunked, "STREAM_MIN_PAIRS", 0)
    monkeypatch.setattr(chunked, "BOOTSTRAP_GROUPS", 200)
    groups = compute_all(image, text, n_resamples=400, modality_probe=False)
    for key in ("cone_image", "cone_text", "pair_cosine", "relative_gap", "mean_pair_distance", "alignment"):
        (lo, hi), (glo, ghi) = rows[f"{key}_ci95"], groups[f"{key}_ci95"]
        assert groups[key] == pytest.approx(rows[key], rel=1e-5)
        assert abs(glo - lo) < 0.25 * (hi - lo) and abs(ghi - hi) < 0.25 * (hi - lo), key


def test_gaussian_null_matches_the_permutation_null() -> None:
    image, text = _pairs(4000, seed=2)
    x, y, idx = prepare(image, text)
    from gapviz.science.estimators import PairSums

    exact = gap_null95(PairSums.of(x, y, idx), y, 400, seed=0)
    streamed = chunked.stream_pairs(image, text, subsample=4000)
    assert chunked.gaussian_null95(streamed, 4000, 400, seed=0) == pytest.approx(exact, rel=0.08)


def test_bad_rows_are_named_by_their_row_in_the_whole_input() -> None:
    image, text = _pairs(300)
    text[250, 1] = np.nan
    with pytest.raises(DegenerateEmbeddingsError, match=r"text row\(s\) contain NaN or inf \(rows 250\)"):
        chunked.stream_pairs(image, text, chunk_rows=64)


def test_only_one_caption_per_image_above_the_threshold_streams() -> None:
    n = chunked.STREAM_MIN_PAIRS + 1
    assert chunked.streams(n, n, None) and chunked.streams(n, n, np.arange(n))
    assert not chunked.streams(n - 1, n - 1, None)
    assert not chunked.streams(n, n, np.arange(n)[::-1])
