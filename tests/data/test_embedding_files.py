"""open_embedding_file: every format round-trips, mapped arrays are views, bad files are one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from gapviz.data import embedding_files
from gapviz.data.embedding_files import open_embedding_file
from gapviz.data.embeddings_io import EmbeddingsError, load_embeddings

N, D = 50, 6


@pytest.fixture(scope="module")
def pairs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.normal(size=(N, D)).astype(np.float32), rng.normal(size=(N, D)).astype(np.float32)


def _fixed(a: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(a.ravel()), a.shape[1])


def _table(image: np.ndarray, text: Any, **extra: Any) -> pa.Table:
    text = text if isinstance(text, pa.Array) else _fixed(text)
    return pa.table({"image_embedding": _fixed(image), "text_embedding": text, **extra})


def _write(path: Path, image: np.ndarray, text: np.ndarray) -> Path:
    """``image``, ``text`` and captions in the format ``path``'s name says."""
    captions = [f"a photo {i}" for i in range(len(image))]
    kind = path.name
    if kind.endswith(".npy"):
        np.save(path, np.stack([image, text]))
    elif kind.endswith(".npz"):
        np.savez(path, image=image, text=text, captions=np.array(captions))
    elif kind == "list.parquet":
        pq.write_table(_table(image, pa.array([list(r) for r in text], pa.list_(pa.float32())), caption=captions), path)
    elif kind.endswith(".parquet"):
        pq.write_table(_table(image, text, caption=captions), path, row_group_size=20)
    elif kind == "stream.arrow":
        table = _table(image, text, caption=captions)
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    elif kind == "batches.arrow":
        feather.write_feather(_table(image, text, caption=captions), path, compression="uncompressed", chunksize=20)
    elif kind.endswith(".arrow"):
        feather.write_feather(_table(image, text, caption=captions), path, compression="uncompressed")
    else:  # .feather: pyarrow's default, lz4-compressed
        feather.write_feather(_table(image, text, caption=captions), path)
    return path


FORMATS = ["a.npy", "a.npz", "a.parquet", "list.parquet", "a.arrow", "batches.arrow", "stream.arrow", "a.feather"]


@pytest.mark.parametrize("kind", FORMATS)
def test_every_format_round_trips(tmp_path: Path, pairs: tuple[np.ndarray, np.ndarray], kind: str) -> None:
    image, text = pairs
    emb = open_embedding_file(_write(tmp_path / kind, image, text))
    np.testing.assert_array_equal(emb.image, image)
    np.testing.assert_array_equal(emb.text, text)
    assert not emb.image.flags.writeable and not emb.text.flags.writeable
    if not kind.endswith(".npy"):
        assert emb.captions == [f"a photo {i}" for i in range(N)]
    if kind.endswith((".npy", ".npz")):
        loaded = load_embeddings(tmp_path / kind)
        np.testing.assert_array_equal(emb.image, loaded.image)
        assert emb.captions == loaded.captions


@pytest.mark.parametrize("kind", ["a.npy", "a.npz"])
def test_numpy_files_are_memory_mapped(tmp_path: Path, pairs: tuple[np.ndarray, np.ndarray], kind: str) -> None:
    emb = open_embedding_file(_write(tmp_path / kind, *pairs))
    assert isinstance(emb.image, np.memmap) and isinstance(emb.text, np.memmap)


def test_one_batch_arrow_is_a_view_of_the_mapped_file(tmp_path: Path, pairs: tuple[np.ndarray, np.ndarray]) -> None:
    emb = open_embedding_file(_write(tmp_path / "a.arrow", *pairs))
    assert not emb.image.flags.owndata and not emb.image.flags.writeable


def test_large_decoded_vectors_go_to_a_scratch_map(
    tmp_path: Path, pairs: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedding_files, "DECODE_RAM_BYTES", 64)
    monkeypatch.setattr(embedding_files, "BATCH_ROWS", 16)
    monkeypatch.setenv(embedding_files.SCRATCH_ENV, str(tmp_path))
    emb = open_embedding_file(_write(tmp_path / "a.parquet", *pairs), extras=False)
    assert isinstance(emb.image, np.memmap)
    np.testing.assert_array_equal(emb.text, pairs[1])
    assert emb.captions is None
    assert [p.name for p in tmp_path.iterdir()] == ["a.parquet"]  # the scratch file is unlinked


def test_named_columns_and_image_paths(tmp_path: Path, pairs: tuple[np.ndarray, np.ndarray]) -> None:
    image, text = pairs
    paths = [f"img/{i}.jpg" for i in range(N)]
    table = pa.table({"v_img": _fixed(image), "v_txt": _fixed(text), "image_path": paths})
    pq.write_table(table, tmp_path / "named.parquet")
    emb = open_embedding_file(tmp_path / "named.parquet", image_column="v_img", text_column="v_txt")
    np.testing.assert_array_equal(emb.text, text)
    assert list(emb.metadata["image_path"][:2]) == paths[:2]


def _bad_nan(tmp_path: Path, image: np.ndarray, text: np.ndarray) -> Path:
    text = text.copy()
    text[37, 2] = np.nan
    return _write(tmp_path / "nan.parquet", image, text)


def _bad_ragged(tmp_path: Path, image: np.ndarray, text: np.ndarray) -> Path:
    rows = [list(r) for r in text]
    rows[41] = rows[41][:4]
    pq.write_table(_table(image, pa.array(rows, pa.list_(pa.float32()))), tmp_path / "ragged.parquet")
    return tmp_path / "ragged.parquet"


def _bad_missing(tmp_path: Path, image: np.ndarray, text: np.ndarray) -> Path:
    pq.write_table(pa.table({"image_embedding": _fixed(image), "other": _fixed(text)}), tmp_path / "missing.parquet")
    return tmp_path / "missing.parquet"


def _bad_truncated(tmp_path: Path, image: np.ndarray, text: np.ndarray) -> Path:
    path = _write(tmp_path / "whole.npy", image, text)
    (tmp_path / "cut.npy").write_bytes(path.read_bytes()[:-40])
    return tmp_path / "cut.npy"


def _bad_zero_rows(tmp_path: Path, image: np.ndarray, text: np.ndarray) -> Path:
    pq.write_table(_table(image[:0], text[:0]), tmp_path / "empty.parquet")
    return tmp_path / "empty.parquet"


def _bad_dtype(tmp_path: Path, image: np.ndarray, text: np.ndarray) -> Path:
    np.save(tmp_path / "ints.npy", np.stack([image, text]).astype(np.int32))
    return tmp_path / "ints.npy"


def _bad_zero_vector(tmp_path: Path, image: np.ndarray, text: np.ndarray) -> Path:
    image = image.copy()
    image[12] = 0.0
    return _write(tmp_path / "zero.npz", image, text)


def _bad_truncated_parquet(tmp_path: Path, image: np.ndarray, text: np.ndarray) -> Path:
    path = _write(tmp_path / "whole.parquet", image, text)
    (tmp_path / "cut.parquet").write_bytes(path.read_bytes()[:-30])
    return tmp_path / "cut.parquet"


BAD = {
    "nan": (_bad_nan, "1 text row(s) contain NaN or inf (rows 37)"),
    "ragged": (_bad_ragged, "is ragged: row 41 has 4 values"),
    "missing": (_bad_missing, "no text vector column (looked for text_embedding"),
    "truncated npy": (_bad_truncated, "truncated"),
    "zero rows": (_bad_zero_rows, "no rows"),
    "dtype": (_bad_dtype, "dtype int32; vectors must be floats"),
    "zero vector": (_bad_zero_vector, "1 image row(s) are zero vectors"),
    "truncated parquet": (_bad_truncated_parquet, "cannot read the file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_are_one_line_errors(tmp_path: Path, pairs: tuple[np.ndarray, np.ndarray], case: str) -> None:
    make, expected = BAD[case]
    path = make(tmp_path, *pairs)
    with pytest.raises(EmbeddingsError) as err:
        open_embedding_file(path)
    message = str(err.value)
    assert expected in message and str(path) in message and "\n" not in message
    if case == "missing":
        assert "columns: image_embedding, other" in message


def test_nan_check_names_the_row_across_chunks(
    tmp_path: Path, pairs: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedding_files, "CHECK_ROWS", 8)
    image = pairs[0].copy()
    image[45, 0] = np.inf
    with pytest.raises(EmbeddingsError, match=r"image row\(s\) contain NaN or inf \(rows 45\)"):
        open_embedding_file(_write(tmp_path / "a.npy", image, pairs[1]))


def test_compressed_npz_loads_when_it_fits_and_is_refused_when_not(
    tmp_path: Path, pairs: tuple[np.ndarray, np.ndarray]
) -> None:
    np.savez_compressed(tmp_path / "c.npz", image=pairs[0], text=pairs[1])
    np.testing.assert_array_equal(open_embedding_file(tmp_path / "c.npz").text, pairs[1])
    with pytest.raises(EmbeddingsError, match=r"cannot be memory-mapped: save it with np.savez"):
        open_embedding_file(tmp_path / "c.npz", max_bytes=1000)


def test_decoded_size_is_refused_before_allocating(tmp_path: Path, pairs: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(EmbeddingsError, match="above the limit"):
        open_embedding_file(_write(tmp_path / "a.parquet", *pairs), max_bytes=1000)
