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
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from gapviz.errors import GapvizError

NPY_MAGIC = b"\x93NUMPY"
NPZ_MAGIC = b"PK\x03\x04"


class EmbeddingsError(GapvizError):
    """Embeddings that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, eq=False)
class Embeddings:
    """Image rows, text rows and, when captions outnumber or reorder images, caption → image."""

    image: np.ndarray
    text: np.ndarray
    text_image_index: np.ndarray | None = None
    captions: list[str] | None = None
    """One string per text row (optional ``captions`` member of a .npz)."""
    images: np.ndarray | None = None
    """uint8 (N, H, W, 3) pictures of the image rows (optional ``images`` member)."""
    metadata: dict[str, np.ndarray] = field(default_factory=dict)
    """Any other 1-D member of length N: one value per image (a class, a score) to colour by."""


def _read_bytes(source: str | os.PathLike | IO[bytes]) -> tuple[bytes, str]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise EmbeddingsError(f"{path}: file not found")
        return path.read_bytes(), str(path)
    name = str(getattr(source, "name", None) or "<upload>")
    if hasattr(source, "seek"):
        source.seek(0)
    data = source.read()
    if not isinstance(data, bytes):
        raise EmbeddingsError(f"{name}: open the file in binary mode")
    return data, name


def _float_array(arr: np.ndarray, what: str, name: str) -> np.ndarray:
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise EmbeddingsError(f"{name}: {what} must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32)
    if arr.ndim != 2:
        raise EmbeddingsError(f"{name}: {what} must have shape (rows, dim), got {arr.shape}")
    if arr.size == 0:
        raise EmbeddingsError(f"{name}: {what} is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise EmbeddingsError(f"{name}: {what} contains NaN or inf values")
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


def _validate(image: np.ndarray, text: np.ndarray, index: np.ndarray | None, name: str) -> Embeddings:
    image = _float_array(image, "image", name)
    text = _float_array(text, "text", name)
    if image.shape[1] != text.shape[1]:
        raise EmbeddingsError(f"{name}: image dim {image.shape[1]} does not match text dim {text.shape[1]}")
    if index is not None:
        index = _index_array(index, len(image), len(text), name)
    elif len(image) != len(text):
        raise EmbeddingsError(
            f"{name}: {len(image)} image rows but {len(text)} text rows; add a text_image_index array to pair them"
        )
    return Embeddings(image=image, text=text, text_image_index=index)


def _from_npy(data: bytes, name: str) -> Embeddings:
    arr = np.load(io.BytesIO(data), allow_pickle=False)
    if arr.ndim != 3 or arr.shape[0] != 2:
        raise EmbeddingsError(f"{name}: a .npy must have shape (2, N, D) (image, text), got {arr.shape}")
    return _validate(arr[0], arr[1], None, name)


def _from_npz(data: bytes, name: str) -> Embeddings:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        missing = [key for key in ("image", "text") if key not in archive.files]
        if missing:
            raise EmbeddingsError(
                f"{name}: missing array(s) {', '.join(missing)}; found {', '.join(archive.files) or 'none'}"
            )
        image, text = archive["image"], archive["text"]
        index = archive["text_image_index"] if "text_image_index" in archive.files else None
        extras = {key: archive[key] for key in archive.files if key not in ("image", "text", "text_image_index")}
    emb = _validate(image, text, index, name)
    return _with_extras(emb, extras, name)


def _with_extras(emb: Embeddings, extras: dict[str, np.ndarray], name: str) -> Embeddings:
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
    return Embeddings(
        emb.image,
        emb.text,
        emb.text_image_index,
        captions=None if captions is None else [str(c) for c in captions],
        images=images,
        metadata=metadata,
    )


def load_embeddings(path_or_fileobj: str | os.PathLike | IO[bytes] | Any) -> Embeddings:
    """Embeddings from a .npy (2, N, D) or a .npz (image, text[, text_image_index]) path or binary file.

    Raises EmbeddingsError for a missing file, another format, a wrong shape, mismatched
    dimensions, NaN/inf, an out-of-range index or empty arrays.
    """
    data, name = _read_bytes(path_or_fileobj)
    try:
        if data.startswith(NPY_MAGIC):
            return _from_npy(data, name)
        if data.startswith(NPZ_MAGIC):
            return _from_npz(data, name)
    except EmbeddingsError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        detail = " ".join(str(exc).split())
        raise EmbeddingsError(f"{name}: cannot read the array data ({detail})") from exc
    raise EmbeddingsError(f"{name}: not a .npy or .npz file")
