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
    """List the images (deduplicated) and captions of a CSV (nothing is decoded)."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    root = resolve_root(image_root, path)
    index: dict[str, int] = {}
    paths: list[Path] = []
    captions: list[str] = []
    owner: list[int] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=separator)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: empty file; expected a header row with {image_key!r} and {caption_key!r}")
            header = [name.strip() for name in header]
            missing = [key for key in (image_key, caption_key) if key not in header]
            if missing:
                raise DataError(
                    f"{path}: missing column(s) {', '.join(map(repr, missing))} "
                    f"(separator {separator!r}); found {', '.join(map(repr, header))}"
                )
            image_col, caption_col = header.index(image_key), header.index(caption_key)
            width = max(image_col, caption_col) + 1
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                line = reader.line_num
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
    except csv.Error as error:
        raise DataError(f"{path}: malformed CSV near line {reader.line_num} ({error})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read ({error})") from None
    if not captions:
        raise DataError(f"{path}: no rows after the header")
    return ImageListing(paths, list(index), captions, np.asarray(owner, dtype=np.int64), source=path)
