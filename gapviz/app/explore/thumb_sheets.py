"""Image thumbnails tiled into JPEG sheets on disk, so a browser can fetch any one image of 100,000.

A source's images (uint8 N×H×W×3, already at most 64 px: analysis.THUMBNAIL_PIXELS) are laid out
row-major, ``columns`` to a row, ``per_sheet`` to a sheet of at most SHEET_MAX_PX pixels a side.
Sheet k holds images k·per_sheet … (k+1)·per_sheet − 1. A set is written once under
``<root>/<key>/`` and reused: the key is a keyed digest of the images (a per-home secret salt), so
the folder name also works as an unguessable URL (the sheets are served without the app's token,
as Streamlit serves its own media files). No Streamlit here.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gapviz.errors import GapvizError
from gapviz.fsio import atomic_write_bytes, atomic_write_json, atomic_write_text

SHEETS_VERSION = 1
"""Bump when the layout or encoding changes, so old sets are not reused."""
SHEET_MAX_PX = 2048
JPEG_QUALITY = 85
MANIFEST = "sheets.json"
SETS_KEPT = 24
"""Sets kept under one root; older ones (by last write) are removed when a new set is written."""
SALT_FILE = ".salt"


@dataclass(frozen=True)
class SheetSet:
    """Where a set of sheets lives and how images map onto them."""

    key: str
    count: int
    height: int
    width: int
    columns: int
    per_sheet: int

    @property
    def sheets(self) -> int:
        return -(-self.count // self.per_sheet)

    def cell(self, image: int) -> tuple[int, int, int]:
        """(sheet, column, row) of image ``image``."""
        sheet, slot = divmod(int(image), self.per_sheet)
        return sheet, slot % self.columns, slot // self.columns


def geometry(count: int, height: int, width: int) -> tuple[int, int]:
    """(columns, per_sheet) for ``count`` images of height × width pixels."""
    if count <= 0 or height <= 0 or width <= 0 or max(height, width) > SHEET_MAX_PX:
        raise GapvizError(f"cannot tile {count} images of {height}×{width} pixels")
    columns = SHEET_MAX_PX // width
    rows = SHEET_MAX_PX // height
    return columns, columns * rows


def tile(images: np.ndarray, columns: int) -> np.ndarray:
    """One sheet: ``images`` (k, h, w, 3) row-major on a grid ``columns`` wide, unused cells black."""
    k, h, w = images.shape[:3]
    rows = -(-k // columns)
    grid = np.zeros((rows * columns, h, w, 3), dtype=np.uint8)
    grid[:k] = images
    return grid.reshape(rows, columns, h, w, 3).transpose(0, 2, 1, 3, 4).reshape(rows * h, columns * w, 3)


def _rgb(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) from grey (N, H, W), grey-with-channel or RGBA input."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
        raise GapvizError(f"images must be N×H×W×3 (or grey N×H×W), got shape {arr.shape}")
    arr = arr[..., :3] if arr.shape[-1] == 4 else np.repeat(arr, 3 // arr.shape[-1], axis=-1)
    return arr.astype(np.uint8, copy=False)


def salt(root: Path) -> str:
    """This home's secret salt for sheet keys (created once, readable by the owner only)."""
    path = Path(root) / SALT_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, secrets.token_hex(16))  # created 0600
    return path.read_text().strip()


def sheet_key(root: Path, images: np.ndarray) -> str:
    """The folder name of these images' sheets: a salted digest of their bytes and shape."""
    digest = hashlib.sha256(f"{salt(root)}:v{SHEETS_VERSION}:{images.shape}".encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()[:40]


def _jpeg(sheet: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(sheet).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def write_sheets(root: Path, images: np.ndarray) -> SheetSet:
    """The sheets of ``images`` under ``root``: read from their manifest when written before."""
    rgb = _rgb(images)
    key = sheet_key(root, rgb)
    folder = Path(root) / key
    manifest = folder / MANIFEST
    if manifest.is_file():
        return SheetSet(**json.loads(manifest.read_text()))
    count, height, width = rgb.shape[:3]
    columns, per_sheet = geometry(count, height, width)
    found = SheetSet(key, count, height, width, columns, per_sheet)
    folder.mkdir(parents=True, exist_ok=True)
    for sheet in range(found.sheets):
        part = rgb[sheet * per_sheet : (sheet + 1) * per_sheet]
        atomic_write_bytes(folder / f"{sheet}.jpg", _jpeg(tile(part, columns)))
    atomic_write_json(manifest, asdict(found))  # last: a set with a manifest is complete
    prune(Path(root), keep=key)
    return found


def prune(root: Path, keep: str, kept: int = SETS_KEPT) -> list[str]:
    """Remove the oldest complete sets beyond ``kept`` (never ``keep``); returns the keys removed."""
    import shutil

    sets = sorted(
        (p for p in root.iterdir() if (p / MANIFEST).is_file() and p.name != keep),
        key=lambda p: (p / MANIFEST).stat().st_mtime,
    )
    removed = sets[: max(0, len(sets) - (kept - 1))]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return [p.name for p in removed]
