"""open_clip-style CSV of image-caption pairs: one row per pair, an image column and a caption column.

Image paths are relative to ``image_root`` (default: the CSV's folder) or absolute. Rows that
share an image path become one image with several captions; ``loader`` splits by a hash of the
path as written (normalised), so moving the folder keeps the split.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from gapviz.data import DataError
from gapviz.data.cache import ImageListing
from gapviz.data.coco import resolve_root


def read_csv_pairs(
    path: str | Path,
    image_root: str | Path = "",
    image_key: str = "filepath",
    caption_key: str = "caption",
    separator: str = ",",
) -> ImageListing:
    """List the images (deduplicated) and captions of a CSV (nothing is decoded).

    Errors name the file, the line and what was expected, never the file's contents (the path may
    be any file the user can read, e.g. /etc/passwd).
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise DataError(f"{path}: {'is a folder; expected a CSV file' if path.is_dir() else 'file not found'}")
    if not (isinstance(separator, str) and len(separator) == 1):
        raise DataError(f"{path}: the separator must be a single character (data.csv_separator)")
    root = resolve_root(image_root, path)
    index: dict[str, int] = {}
    paths: list[Path] = []
    captions: list[str] = []
    owner: list[int] = []
    line = 0
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=separator)
            image_col, caption_col = _header_columns(path, next(reader, None), image_key, caption_key, separator)
            width = max(image_col, caption_col) + 1
            for row in reader:
                line = reader.line_num
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) < width:
                    raise DataError(f"{path}: line {line} has {len(row)} fields, expected at least {width}")
                name = row[image_col].strip()
                if not name:
                    raise DataError(f"{path}: line {line} has an empty {image_key!r}")
                key = os.path.normpath(name)
                if key not in index:
                    index[key] = len(paths)
                    paths.append(root / key)
                captions.append(row[caption_col].strip())
                owner.append(index[key])
    except csv.Error as error:  # its messages name the rule broken, never the text
        raise DataError(f"{path}: malformed CSV near line {line + 1} ({error})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text near line {line + 1}; expected a UTF-8 CSV file") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or type(error).__name__})") from None
    if not captions:
        raise DataError(f"{path}: no rows after the header")
    return ImageListing(paths, list(index), captions, np.asarray(owner, dtype=np.int64), source=path)


def _header_columns(
    path: Path, header: list[str] | None, image_key: str, caption_key: str, separator: str
) -> tuple[int, int]:
    """Positions of the image and caption columns; the error says what is missing, not what is there."""
    expected = f"a header row with {image_key!r} and {caption_key!r} separated by {separator!r}"
    if header is None:
        raise DataError(f"{path}: empty file; expected {expected}")
    names = [name.strip() for name in header]
    missing = [key for key in (image_key, caption_key) if key not in names]
    if missing:
        hint = " (is data.csv_separator right? a tab is \\t)" if len(names) == 1 else ""
        raise DataError(
            f"{path}: the first line has no column {' or '.join(map(repr, missing))} among its {len(names)} "
            f"field(s); expected {expected}{hint}"
        )
    return names.index(image_key), names.index(caption_key)
