"""Open an embeddings file on disk without reading it into memory: .npy, uncompressed .npz, Parquet, Arrow/Feather.

- ``.npy`` of shape (2, N, D) and every member of an uncompressed ``.npz`` (np.savez) are memory-mapped
  (np.memmap, read-only): the pages stay in the file and the kernel reads them as they are touched.
- A compressed ``.npz`` (np.savez_compressed) cannot be mapped: it is loaded with load_embeddings when its
  arrays fit the limit, and refused otherwise with a line saying to save with np.savez or as .npy.
- Arrow IPC files (``.arrow``, ``.feather`` v2, and the IPC stream files Hugging Face datasets write) are
  memory-mapped through pyarrow; a vector column held in one uncompressed record batch is a zero-copy view.
- Parquet is compressed and encoded, so it is decoded, record batch by record batch, into one preallocated
  float32 array per modality (no second copy). Arrays above DECODE_RAM_BYTES are decoded into an unlinked
  scratch file in $GAPVIZ_SCRATCH_DIR (default: the temp folder) and memory-mapped, so they take disk, not RAM.
  Arrow files of several record batches are gathered the same way.

Vector columns are fixed_size_list or list of floats, found by the names below unless named. Every problem
is one line naming the file; NaN/inf and zero rows are found in chunks, naming the first rows.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gapviz.data.embeddings_io import (
    NPY_MAGIC,
    NPZ_MAGIC,
    Embeddings,
    EmbeddingsError,
    check_shapes,
    check_size,
    default_limit,
    human_size,
    load_embeddings,
    npy_header,
    npz_declared,
    validate,
    with_classes,
    with_extras,
)
from gapviz.science.checks import DegenerateEmbeddingsError, unit_rows

SUFFIXES = (".npy", ".npz", ".parquet", ".arrow", ".feather")
IMAGE_COLUMNS = ("image_embedding", "image_embeddings", "image_embeds", "img_emb", "image_emb", "image_features")
"""Column names tried for the image vectors (gapviz, Hugging Face CLIP outputs, clip-retrieval), in order."""
TEXT_COLUMNS = ("text_embedding", "text_embeddings", "text_embeds", "text_emb", "txt_emb", "text_features")
CAPTION_COLUMNS = ("caption", "captions", "text", "sentence")
IMAGE_PATH_COLUMNS = ("image_path", "file_name", "filepath", "path", "url")
CHECK_ROWS = 1 << 15
"""Rows per chunk when checking vectors for NaN/inf and zero rows."""
BATCH_ROWS = 1 << 15
"""Rows per record batch when decoding Parquet."""
DECODE_RAM_BYTES = 512 << 20
"""Decoded vectors up to this size stay in RAM; larger ones go to a memory-mapped scratch file."""
SCRATCH_ENV = "GAPVIZ_SCRATCH_DIR"
PARQUET_MAGIC = b"PAR1"
ARROW_MAGIC = b"ARROW1"
ARROW_STREAM_MAGIC = b"\xff\xff\xff\xff"


@dataclass(frozen=True)
class _Columns:
    """The columns chosen for each role (None: absent)."""

    image: str
    text: str
    caption: str | None
    image_path: str | None


def open_embedding_file(
    path: str | os.PathLike,
    *,
    max_bytes: int | None = None,
    image_column: str | None = None,
    text_column: str | None = None,
    caption_column: str | None = None,
    image_path_column: str | None = None,
    extras: bool = True,
    check: bool = True,
) -> Embeddings:
    """Embeddings of a .npy, .npz, Parquet or Arrow/Feather file, memory-mapped where the format allows.

    ``max_bytes`` bounds the arrays, checked from the headers before anything is allocated. Its default,
    default_limit(), applies to what is copied (decoded vectors, captions, a compressed .npz); memory-mapped
    .npy/.npz arrays are bounded by the file itself unless ``max_bytes`` is given. The column names pick
    Parquet/Arrow columns (default: the first of IMAGE_COLUMNS, TEXT_COLUMNS, ... present). Without
    ``extras`` captions, image paths and other columns are skipped (what `gapviz analyze` needs). Without
    ``check`` the NaN/inf and zero-row pass is left to the caller (compute_all makes it while it measures).
    """
    file = Path(path)
    name = str(file)
    if not file.is_file():
        raise EmbeddingsError(f"{name}: file not found")
    limit = default_limit() if max_bytes is None else int(max_bytes)
    with open(file, "rb") as stream:
        magic = stream.read(8)
    requested = (image_column, text_column, caption_column, image_path_column)
    try:
        if magic.startswith(NPY_MAGIC):
            emb = _open_npy(file, name, max_bytes)
        elif magic.startswith(NPZ_MAGIC):
            emb = _open_npz(file, name, limit, extras, max_bytes)
        elif magic.startswith(PARQUET_MAGIC):
            emb = _open_table(file, name, limit, extras, requested, _parquet_source)
        elif magic.startswith(ARROW_MAGIC) or magic.startswith(ARROW_STREAM_MAGIC):
            emb = _open_table(file, name, limit, extras, requested, _arrow_source)
        else:
            raise EmbeddingsError(f"{name}: not a .npy, .npz, Parquet or Arrow/Feather file")
    except EmbeddingsError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, struct.error) as exc:
        raise EmbeddingsError(f"{name}: cannot read the file ({' '.join(str(exc).split())[:200]})") from exc
    except Exception as exc:  # pyarrow's ArrowException family, without importing pyarrow for .npy files
        if type(exc).__module__.startswith("pyarrow"):
            raise EmbeddingsError(f"{name}: cannot read the file ({' '.join(str(exc).split())[:200]})") from exc
        raise
    if check:
        check_vectors(emb.image, "image", name)
        check_vectors(emb.text, "text", name)
    return emb


def check_vectors(arr: np.ndarray, what: str, name: str) -> None:
    """Refuse NaN/inf and zero rows, CHECK_ROWS rows at a time (a mapped file is never read whole into RAM)."""
    for start in range(0, len(arr), CHECK_ROWS):
        try:
            unit_rows(np.asarray(arr[start : start + CHECK_ROWS]), what, first_row=start)
        except DegenerateEmbeddingsError as err:
            raise EmbeddingsError(f"{name}: {err}") from None


def _float_dtype(dtype: np.dtype, what: str, name: str) -> None:
    if dtype.kind != "f":
        raise EmbeddingsError(f"{name}: {what} has dtype {dtype}; vectors must be floats (float16, float32 or float64)")


def _mapped(path: Path, offset: int, shape: tuple[int, ...], fortran: bool, dtype: np.dtype, what: str) -> np.ndarray:
    """A read-only np.memmap of ``shape`` at byte ``offset``; EmbeddingsError when the file ends before the data."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = path.stat().st_size
    if offset + nbytes > size:
        raise EmbeddingsError(
            f"{path}: {what} is truncated: its header declares {nbytes} bytes of data, the file holds {size - offset}"
        )
    if nbytes == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def _no_rows(shape: tuple[int, ...], name: str) -> None:
    if 0 in shape:
        raise EmbeddingsError(f"{name}: no vectors to measure (shape {shape}: zero rows or zero dimensions)")


def _open_npy(path: Path, name: str, mapped_limit: int | None) -> Embeddings:
    with open(path, "rb") as stream:
        shape, fortran, dtype = npy_header(stream, name, "the array")
        offset = stream.tell()
    if len(shape) != 3 or shape[0] != 2:
        raise EmbeddingsError(f"{name}: a .npy must have shape (2, N, D) (image, text), got {shape}")
    if mapped_limit is not None:
        check_size([("array", shape, dtype)], name, mapped_limit)
    _no_rows(shape, name)
    _float_dtype(dtype, "the array", name)
    arr = _mapped(path, offset, shape, fortran, dtype, "the array")
    return validate(arr[0], arr[1], None, name, rows=False)


def _member_offset(stream: Any, info: zipfile.ZipInfo, name: str) -> int:
    """Where a stored zip member's bytes start: after its local header, file name and extra field."""
    stream.seek(info.header_offset)
    local = stream.read(30)
    if len(local) < 30 or not local.startswith(NPZ_MAGIC):
        raise EmbeddingsError(f"{name}: {info.filename} has no readable zip entry (the file may be truncated)")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    return info.header_offset + 30 + name_len + extra_len


def _npz_members(path: Path, name: str) -> dict[str, np.ndarray]:
    """Every member of an uncompressed .npz, memory-mapped."""
    members: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as stream:
        for info in archive.infolist():
            key = info.filename.removesuffix(".npy")
            stream.seek(_member_offset(stream, info, name))
            shape, fortran, dtype = npy_header(stream, name, key)
            members[key] = _mapped(path, stream.tell(), shape, fortran, dtype, key)
    return members


def _open_npz(path: Path, name: str, limit: int, extras: bool, mapped_limit: int | None) -> Embeddings:
    with zipfile.ZipFile(path) as archive:
        packed = [i.filename for i in archive.infolist() if i.compress_type != zipfile.ZIP_STORED]
        declared = npz_declared(archive, name)
    if mapped_limit is not None and not packed:
        check_size(declared, name, mapped_limit)
    if packed:
        try:
            check_size(declared, name, limit)
        except EmbeddingsError as err:
            raise EmbeddingsError(
                f"{err}; a compressed .npz (np.savez_compressed) cannot be memory-mapped: save it with np.savez "
                "or as a .npy of shape (2, N, D)"
            ) from None
        return load_embeddings(path, max_bytes=limit)
    arrays = _npz_members(path, name)
    missing = [key for key in ("image", "text") if key not in arrays]
    if missing:
        raise EmbeddingsError(f"{name}: missing array(s) {', '.join(missing)}; found {', '.join(arrays) or 'none'}")
    check_shapes({key: arr.shape for key, arr in arrays.items()}, name)
    for key in ("image", "text"):
        _no_rows(arrays[key].shape, name)
        _float_dtype(arrays[key].dtype, key, name)
    emb = validate(arrays.pop("image"), arrays.pop("text"), _loaded(arrays.pop("text_image_index", None)), name, False)
    emb = with_classes(emb, _loaded(arrays.pop("labels", None)), _loaded(arrays.pop("class_text", None)), name)
    return with_extras(emb, arrays, name) if extras else emb


def _loaded(arr: np.ndarray | None) -> np.ndarray | None:
    """A small member (index, labels, class rows) read into memory: they are N integers at most."""
    return None if arr is None else np.array(arr)


Batches = Iterator[Any]
Source = Callable[[Path, list[str]], tuple[Any, int, Callable[[list[str]], Batches]]]


def _parquet_source(path: Path, _: list[str]) -> tuple[Any, int, Callable[[list[str]], Batches]]:
    """Parquet's schema, row count and a reader of record batches of the named columns."""
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(path, memory_map=True)
    return (
        reader.schema_arrow,
        int(reader.metadata.num_rows),
        lambda columns: reader.iter_batches(batch_size=BATCH_ROWS, columns=columns),
    )


def _arrow_source(path: Path, _: list[str]) -> tuple[Any, int, Callable[[list[str]], Batches]]:
    """An Arrow IPC file or stream, memory-mapped: its schema, row count and a reader of its record batches."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    source = pa.memory_map(str(path))
    try:
        reader = ipc.open_file(source)
    except pa.ArrowInvalid:
        source.seek(0)
        stream = ipc.open_stream(source)
        batches = list(stream)  # zero-copy: each batch's buffers point into the mapped file
        return stream.schema, sum(b.num_rows for b in batches), lambda columns: (b.select(columns) for b in batches)
    count = range(reader.num_record_batches)
    counter = getattr(reader, "count_rows", None)  # where pyarrow lacks it, each batch is read for its length
    rows = counter() if counter else sum(reader.get_batch(i).num_rows for i in count)
    return (
        reader.schema,
        int(rows),
        lambda columns: (reader.get_batch(i).select(columns) for i in count),
    )


def _pick(names: list[str], explicit: str | None, candidates: tuple[str, ...], role: str, name: str) -> str | None:
    """The column for ``role``: the one named (which must exist) or the first candidate present."""
    if explicit is not None:
        if explicit not in names:
            raise EmbeddingsError(f"{name}: no column {explicit!r} for the {role}; columns: {', '.join(names)}")
        return explicit
    return next((c for c in candidates if c in names), None)


def _columns(names: list[str], requested: tuple[str | None, ...], name: str) -> _Columns:
    image = _pick(names, requested[0], IMAGE_COLUMNS, "image vectors", name)
    text = _pick(names, requested[1], TEXT_COLUMNS, "text vectors", name)
    for found, role, candidates in ((image, "image", IMAGE_COLUMNS), (text, "text", TEXT_COLUMNS)):
        if found is None:
            raise EmbeddingsError(
                f"{name}: no {role} vector column (looked for {', '.join(candidates)}; name it with "
                f"--{role}-column); columns: {', '.join(names)}"
            )
    return _Columns(
        image=str(image),
        text=str(text),
        caption=_pick(names, requested[2], CAPTION_COLUMNS, "captions", name),
        image_path=_pick(names, requested[3], IMAGE_PATH_COLUMNS, "image paths", name),
    )


def _vector_type(schema: Any, column: str, name: str) -> int | None:
    """The fixed dimension of a vector column (None for a variable list); EmbeddingsError for other types."""
    import pyarrow as pa

    kind = schema.field(column).type
    is_list = pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    if not is_list or not pa.types.is_floating(kind.value_type):
        raise EmbeddingsError(f"{name}: column {column!r} holds {kind}; vectors must be lists of floats")
    return int(kind.list_size) if pa.types.is_fixed_size_list(kind) else None


def _block(array: Any, dim: int | None, first_row: int, column: str, name: str) -> np.ndarray:
    """One record batch's vectors as an (n, D) view of the Arrow buffer (no copy), after the null and length checks."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if array.null_count:
        row = first_row + int(np.flatnonzero(~np.asarray(array.is_valid()))[0])
        raise EmbeddingsError(f"{name}: column {column!r} has a missing vector at row {row}")
    lengths = np.asarray(pc.list_value_length(array)) if not pa.types.is_fixed_size_list(array.type) else None
    if dim is None:
        dim = int(lengths[0]) if lengths is not None and len(lengths) else 0
    if lengths is not None and len(lengths) and (lengths != dim).any():
        row = int(np.flatnonzero(lengths != dim)[0])
        raise EmbeddingsError(
            f"{name}: column {column!r} is ragged: row {first_row + row} has {int(lengths[row])} values, "
            f"the rows before it {dim}"
        )
    values = array.flatten()
    if values.null_count:
        raise EmbeddingsError(f"{name}: column {column!r} has missing values inside vectors near row {first_row}")
    return values.to_numpy(zero_copy_only=False).reshape(len(array), dim)


def _scratch_dir() -> str:
    return os.environ.get(SCRATCH_ENV, "").strip() or tempfile.gettempdir()


def _allocate(rows: int, dim: int, name: str) -> np.ndarray:
    """An uninitialised float32 (rows, dim) array: in RAM up to DECODE_RAM_BYTES, else in an unlinked scratch file."""
    nbytes = rows * dim * 4
    if nbytes <= DECODE_RAM_BYTES:
        return np.empty((rows, dim), dtype=np.float32)
    folder = _scratch_dir()
    free = shutil.disk_usage(folder).free
    if nbytes > free // 2:
        raise EmbeddingsError(
            f"{name}: decoding needs {human_size(nbytes)} of scratch space in {folder}, which has {human_size(free)} "
            f"free (set {SCRATCH_ENV} to a folder with room, or convert the file to .npy)"
        )
    with tempfile.TemporaryFile(dir=folder) as scratch:
        scratch.truncate(nbytes)
        return np.memmap(scratch, dtype=np.float32, mode="r+", shape=(rows, dim))


def _gather(
    read: Callable[[list[str]], Batches], column: str, rows: int, dim: int | None, name: str, limit: int
) -> np.ndarray:
    """A vector column as one (rows, D) float32 array: a zero-copy view for one batch, else filled batch by batch."""
    out: np.ndarray | None = None
    start = 0
    for batch in read([column]):
        block = _block(batch.column(0), dim, start, column, name)
        if out is None and len(block) == rows and block.dtype == np.float32:
            return block
        dim = block.shape[1] if dim is None else dim
        if out is None:
            check_size([(column, (rows, dim), np.dtype(np.float32))], name, limit)
            out = _allocate(rows, dim, name)
        if block.shape[1] != dim:
            raise EmbeddingsError(f"{name}: column {column!r} is ragged: row {start} has {block.shape[1]} values")
        out[start : start + len(block)] = block
        start += len(block)
    if out is None:
        raise EmbeddingsError(f"{name}: column {column!r} has no rows")
    out.flags.writeable = False
    return out


def _strings(read: Callable[[list[str]], Batches], column: str, limit: int, name: str) -> list[str]:
    """A text column as Python strings, refusing more than ``limit`` bytes of text."""
    out: list[str] = []
    total = 0
    for batch in read([column]):
        array = batch.column(0)
        total += int(array.nbytes)
        if total > limit:
            raise EmbeddingsError(f"{name}: column {column!r} holds more than {human_size(limit)} of text")
        out.extend("" if v is None else str(v) for v in array.to_pylist())
    return out


def _open_table(
    path: Path, name: str, limit: int, extras: bool, requested: tuple[str | None, ...], source: Source
) -> Embeddings:
    """Embeddings of a Parquet or Arrow file: the two vector columns, then (with ``extras``) captions and paths."""
    schema, rows, read = source(path, [])
    names = list(schema.names)
    columns = _columns(names, requested, name)
    if rows == 0:
        raise EmbeddingsError(f"{name}: no rows")
    dims = {c: _vector_type(schema, c, name) for c in (columns.image, columns.text)}
    fixed = [(c, (rows, d), np.dtype(np.float32)) for c, d in dims.items() if d is not None]
    check_size(fixed, name, limit)
    image = _gather(read, columns.image, rows, dims[columns.image], name, limit)
    text = _gather(read, columns.text, rows, dims[columns.text], name, limit)
    emb = validate(image, text, None, name, rows=False)
    if not extras:
        return emb
    captions = _strings(read, columns.caption, limit, name) if columns.caption else None
    metadata = {}
    if columns.image_path:
        metadata["image_path"] = np.asarray(_strings(read, columns.image_path, limit, name), dtype=str)
    return replace(emb, captions=captions, metadata=metadata)
