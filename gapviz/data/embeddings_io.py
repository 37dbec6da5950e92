"""Load user-provided embeddings for ``gapviz analyze`` and the app's upload.

Two formats: a .npy array of shape (2, N, D) (image rows, text rows, paired by index), or a
.npz with arrays ``image`` (N, D) and ``text`` (M, D) and optionally ``text_image_index`` (M,),
``captions`` (M strings), ``images`` (uint8 N x H x W x 3) and other 1-D per-image columns.
Files are recognised by their content, never unpickled, and every problem is one line naming
the file.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from gapviz.errors import GapvizError
from gapviz.science.checks import DegenerateEmbeddingsError, check_rows

NPY_MAGIC = b"\x93NUMPY"
LIMIT_ENV = "GAPVIZ_MAX_EMBEDDINGS_BYTES"
"""Environment variable with the size limit (bytes, or 2G / 500M); default: half of available memory."""
NPZ_MAGIC = b"PK\x03\x04"


class EmbeddingsError(GapvizError):
    """Embeddings that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, eq=False)
class Embeddings:
    """Image rows, text rows and, when captions outnumber or reorder images, caption → image; optionally
    a class label per image and one text embedding per class (then zero-shot accuracy is measured)."""

    image: np.ndarray
    text: np.ndarray
    text_image_index: np.ndarray | None = None
    labels: np.ndarray | None = None
    class_text: np.ndarray | None = None
    captions: list[str] | None = None
    """One string per text row (optional ``captions`` member of a .npz)."""
    images: np.ndarray | None = None
    """uint8 (N, H, W, 3) pictures of the image rows (optional ``images`` member)."""
    metadata: dict[str, np.ndarray] = field(default_factory=dict)
    """Any other 1-D member of length N: one value per image (a class, a score) to colour by."""


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable on Linux; 4 GiB when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def parse_size(text: str) -> int:
    """``"2G"``, ``"512M"``, ``"100k"`` or a plain byte count as bytes; EmbeddingsError otherwise."""
    value = str(text).strip().upper().removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(value[-1:], 1)
    number = value[:-1] if scale > 1 else value
    try:
        size = int(float(number) * scale)
    except ValueError:
        raise EmbeddingsError(f"size limit must be a byte count such as 2G or 500M, got {text!r}") from None
    if size <= 0:
        raise EmbeddingsError(f"size limit must be positive, got {text!r}")
    return size


def default_limit() -> int:
    """The most bytes an embeddings file may declare: $GAPVIZ_MAX_EMBEDDINGS_BYTES, else half of available memory."""
    configured = os.environ.get(LIMIT_ENV, "").strip()
    return parse_size(configured) if configured else available_memory() // 2


def human_size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def _open(source: str | os.PathLike | IO[bytes]) -> tuple[IO[bytes], str, bool]:
    """A seekable binary file for ``source``, its name, and whether we opened it (and must close it)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise EmbeddingsError(f"{path}: file not found")
        return open(path, "rb"), str(path), True
    name = str(getattr(source, "name", None) or "<upload>")
    if not hasattr(source, "seek"):
        data = source.read()
        if not isinstance(data, bytes):
            raise EmbeddingsError(f"{name}: open the file in binary mode")
        return io.BytesIO(data), name, False
    source.seek(0)
    head = source.read(0)
    if not isinstance(head, bytes):
        raise EmbeddingsError(f"{name}: open the file in binary mode")
    return source, name, False


def npy_header(stream: IO[bytes], name: str, member: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype from a .npy header, leaving ``stream`` at the first data byte."""
    try:
        version = np.lib.format.read_magic(stream)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(stream)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise EmbeddingsError(f"{name}: {member} has no readable .npy header ({' '.join(str(exc).split())})") from exc
    if dtype.hasobject:
        raise EmbeddingsError(f"{name}: {member} holds Python objects (dtype {dtype}); only numeric arrays are read")
    return tuple(int(v) for v in shape), bool(fortran), dtype


def _declared(stream: IO[bytes], name: str, member: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a .npy header, without reading the data."""
    shape, _, dtype = npy_header(stream, name, member)
    return shape, dtype


def check_size(declared: Sequence[tuple[str, tuple[int, ...], np.dtype]], name: str, limit: int) -> None:
    """Refuse before allocating when the declared arrays, as float32 or wider, exceed ``limit`` bytes."""
    total = sum(int(np.prod(shape, dtype=object)) * max(dtype.itemsize, 4) for _, shape, dtype in declared)
    if total > limit:
        shapes = ", ".join(f"{member} {shape} {dtype}" for member, shape, dtype in declared)
        raise EmbeddingsError(
            f"{name}: the arrays would take {human_size(total)} in memory ({shapes}), above the limit of "
            f"{human_size(limit)} (set {LIMIT_ENV} or --max-bytes to change it)"
        )


def _float_array(arr: np.ndarray, what: str, name: str, rows: bool = True) -> np.ndarray:
    """``arr`` as a 2-D non-empty float array; ``rows`` also refuses NaN/inf and zero rows (whole-array check)."""
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise EmbeddingsError(f"{name}: {what} must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32)
    if arr.ndim != 2:
        raise EmbeddingsError(f"{name}: {what} must have shape (rows, dim), got {arr.shape}")
    if arr.size == 0:
        raise EmbeddingsError(f"{name}: {what} is empty (shape {arr.shape})")
    if not rows:
        return arr
    try:
        check_rows(arr, what)
    except DegenerateEmbeddingsError as err:
        raise EmbeddingsError(f"{name}: {err}") from None
    return arr


def _index_array(arr: np.ndarray, n_image: int, n_text: int, name: str) -> np.ndarray:
    if not np.issubdtype(arr.dtype, np.integer):
        raise EmbeddingsError(f"{name}: text_image_index must be integers, got dtype {arr.dtype}")
    if arr.shape != (n_text,):
        raise EmbeddingsError(
            f"{name}: text_image_index must have shape ({n_text},) for {n_text} text rows, got {arr.shape}"
        )
    if arr.min() < 0 or arr.max() >= n_image:
        raise EmbeddingsError(
            f"{name}: text_image_index out of range: values must lie in [0, {n_image}), "
            f"found {int(arr.min())}..{int(arr.max())}"
        )
    return arr.astype(np.int64)


def validate(image: np.ndarray, text: np.ndarray, index: np.ndarray | None, name: str, rows: bool = True) -> Embeddings:
    """Embeddings after the shape, dtype and pairing checks (and the row checks unless ``rows`` is False)."""
    image = _float_array(image, "image", name, rows)
    text = _float_array(text, "text", name, rows)
    if image.shape[1] != text.shape[1]:
        raise EmbeddingsError(f"{name}: image dim {image.shape[1]} does not match text dim {text.shape[1]}")
    if index is not None:
        index = _index_array(index, len(image), len(text), name)
    elif len(image) != len(text):
        raise EmbeddingsError(
            f"{name}: {len(image)} image rows but {len(text)} text rows; add a text_image_index array to pair them"
        )
    return Embeddings(image=image, text=text, text_image_index=index)


def with_classes(emb: Embeddings, labels: Any, class_text: Any, name: str) -> Embeddings:
    """Embeddings with validated ``labels`` (N,) and ``class_text`` (C, D); both or neither."""
    if labels is None and class_text is None:
        return emb
    if labels is None or class_text is None:
        raise EmbeddingsError(f"{name}: labels and class_text come together (one label per image, one row per class)")
    class_text = _float_array(class_text, "class_text", name)
    if class_text.shape[1] != emb.image.shape[1]:
        raise EmbeddingsError(
            f"{name}: class_text dim {class_text.shape[1]} does not match image dim {emb.image.shape[1]}"
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (len(emb.image),):
        raise EmbeddingsError(
            f"{name}: labels must be {len(emb.image)} integers (one per image), got {labels.dtype} {labels.shape}"
        )
    if labels.min() < 0 or labels.max() >= len(class_text):
        raise EmbeddingsError(
            f"{name}: labels must lie in [0, {len(class_text)}) for {len(class_text)} class_text rows"
        )
    return replace(emb, labels=labels.astype(np.int64), class_text=class_text)


def check_shapes(shapes: dict[str, tuple[int, ...]], name: str) -> None:
    """Refuse, from the headers alone, members whose shapes disagree (before any member is decompressed)."""
    image, text = shapes["image"], shapes["text"]
    for what, shape in (("image", image), ("text", text)):
        if len(shape) != 2:
            raise EmbeddingsError(f"{name}: {what} must have shape (rows, dim), got {shape}")
    if image[1] != text[1]:
        raise EmbeddingsError(f"{name}: image dim {image[1]} does not match text dim {text[1]}")
    index = shapes.get("text_image_index")
    if index is None and image[0] != text[0]:
        raise EmbeddingsError(
            f"{name}: {image[0]} image rows but {text[0]} text rows; add a text_image_index array to pair them"
        )
    if index is not None and index != (text[0],):
        raise EmbeddingsError(
            f"{name}: text_image_index must have shape ({text[0]},) for {text[0]} text rows, got {index}"
        )
    labels, class_text = shapes.get("labels"), shapes.get("class_text")
    if labels is not None and labels != (image[0],):
        raise EmbeddingsError(f"{name}: labels must be {image[0]} integers (one per image), got shape {labels}")
    if class_text is not None and (len(class_text) != 2 or class_text[1] != image[1]):
        raise EmbeddingsError(f"{name}: class_text must have shape (classes, {image[1]}), got {class_text}")
    captions, images = shapes.get("captions"), shapes.get("images")
    if captions is not None and captions != (text[0],):
        raise EmbeddingsError(f"{name}: captions must be {text[0]} strings (one per text row), got shape {captions}")
    if images is not None and (len(images) != 4 or images[0] != image[0] or images[3] != 3):
        raise EmbeddingsError(f"{name}: images must be uint8 of shape ({image[0]}, H, W, 3), got {images}")


def _from_npy(stream: IO[bytes], name: str, limit: int) -> Embeddings:
    shape, dtype = _declared(stream, name, "the array")
    if len(shape) != 3 or shape[0] != 2:
        raise EmbeddingsError(f"{name}: a .npy must have shape (2, N, D) (image, text), got {shape}")
    check_size([("array", shape, dtype)], name, limit)
    stream.seek(0)
    arr = np.load(stream, allow_pickle=False)
    return validate(arr[0], arr[1], None, name)


def _from_npz(stream: IO[bytes], name: str, limit: int) -> Embeddings:
    with zipfile.ZipFile(stream) as archive:
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
        missing = [key for key in ("image", "text") if key not in members]
        if missing:
            raise EmbeddingsError(
                f"{name}: missing array(s) {', '.join(missing)}; found {', '.join(members) or 'none'}"
            )
        declared = npz_declared(archive, name)
        check_size(declared, name, limit)
        check_shapes({key: shape for key, shape, _ in declared}, name)
        arrays = {}
        for key, info in members.items():
            with archive.open(info) as member:
                arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
    emb = validate(arrays.pop("image"), arrays.pop("text"), arrays.pop("text_image_index", None), name)
    emb = with_classes(emb, arrays.pop("labels", None), arrays.pop("class_text", None), name)
    return with_extras(emb, arrays, name)


def npz_declared(archive: zipfile.ZipFile, name: str) -> list[tuple[str, tuple[int, ...], np.dtype]]:
    """(member, shape, dtype) of every array of an open .npz, from the headers alone."""
    declared = []
    for info in archive.infolist():
        key = info.filename.removesuffix(".npy")
        with archive.open(info) as member:
            declared.append((key, *_declared(member, name, key)))
    return declared


def with_extras(emb: Embeddings, extras: dict[str, np.ndarray], name: str) -> Embeddings:
    """Attach the optional captions, images and per-image metadata members, checking their shapes."""
    n, m = len(emb.image), len(emb.text)
    captions = extras.pop("captions", None)
    if captions is not None and (captions.shape != (m,) or captions.dtype.kind not in "US"):
        raise EmbeddingsError(
            f"{name}: captions must be {m} strings (one per text row), got {captions.dtype} {captions.shape}"
        )
    images = extras.pop("images", None)
    if images is not None and (
        images.dtype != np.uint8 or images.ndim != 4 or images.shape[0] != n or images.shape[3] != 3
    ):
        raise EmbeddingsError(
            f"{name}: images must be uint8 of shape ({n}, H, W, 3), got {images.dtype} {images.shape}"
        )
    metadata = {key: value for key, value in extras.items() if value.shape == (n,) and value.dtype.kind in "biufUS"}
    if emb.labels is not None:
        metadata.setdefault("labels", emb.labels)
    return replace(
        emb, captions=None if captions is None else [str(c) for c in captions], images=images, metadata=metadata
    )


def load_embeddings(path_or_fileobj: str | os.PathLike | IO[bytes] | Any, max_bytes: int | None = None) -> Embeddings:
    """Embeddings from a .npy (2, N, D) or a .npz (image, text[, text_image_index][, labels, class_text]).

    The headers are read first: arrays that would take more than ``max_bytes`` (default: default_limit())
    are refused before anything is allocated. Raises EmbeddingsError for a missing file, another format,
    a wrong shape, mismatched dimensions, NaN/inf or zero rows, an out-of-range index or empty arrays.
    """
    limit = default_limit() if max_bytes is None else int(max_bytes)
    stream, name, owned = _open(path_or_fileobj)
    try:
        magic = stream.read(len(NPY_MAGIC))
        stream.seek(0)
        if magic.startswith(NPY_MAGIC):
            return _from_npy(stream, name, limit)
        if magic.startswith(NPZ_MAGIC):
            return _from_npz(stream, name, limit)
    except EmbeddingsError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise EmbeddingsError(f"{name}: cannot read the array data ({detail})") from exc
    finally:
        if owned:
            stream.close()
    raise EmbeddingsError(f"{name}: not a .npy or .npz file")
