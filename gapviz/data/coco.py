"""COCO captions: the standard annotation JSON or the Karpathy split JSON, plus an image folder.

Standard (``captions_train2017.json``)::

    {"images": [{"id": 1, "file_name": "a.jpg", ...}], "annotations": [{"image_id": 1, "caption": "..."}]}

Karpathy (``dataset_coco.json``)::

    {"images": [{"filepath": "val2014", "filename": "b.jpg", "split": "val", "sentences": [{"raw": "..."}]}]}

Image paths are ``image_root / file_name`` (standard) or ``image_root / filepath / filename``
(Karpathy); ``image_root`` defaults to the JSON's folder. Every caption is kept and mapped to its
image. The standard format has no split: ``loader`` splits it by a hash of the image id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from gapviz.data import DataError
from gapviz.data.cache import ImageListing

FORMAT_HINT = (
    "expected a COCO captions JSON ({'images': [{'id', 'file_name'}], 'annotations': [{'image_id', 'caption'}]}) "
    "or a Karpathy split JSON ({'images': [{'filename', 'split', 'sentences': [{'raw'}]}]})"
)


def read_coco(path: str | Path, image_root: str | Path = "") -> ImageListing:
    """List the images and captions of a COCO captions or Karpathy JSON (nothing is decoded)."""
    path = Path(path).expanduser().resolve()
    data = read_json(path)
    root = resolve_root(image_root, path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{path}: {FORMAT_HINT}")
    images = data["images"]
    if images and isinstance(images[0], dict) and "sentences" in images[0]:
        return _karpathy(path, root, images)
    if not isinstance(data.get("annotations"), list):
        raise DataError(f"{path}: no 'annotations' list; {FORMAT_HINT}")
    return _standard(path, root, images, data["annotations"])


def read_json(path: Path) -> Any:
    """The JSON value of ``path`` (a byte-order mark is allowed); errors say where, never what the text is."""
    if not path.is_file():
        raise DataError(f"{path}: {'is a folder; expected a JSON file' if path.is_dir() else 'file not found'}")
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte {error.start}); expected a JSON file") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply; {FORMAT_HINT}") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or type(error).__name__})") from None


def _is_id(value: Any) -> bool:
    """COCO ids are integers (some exports use strings); lists, objects, floats and booleans are not."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def resolve_root(image_root: str | Path, data_file: Path) -> Path:
    """The image folder: ``image_root`` resolved, or the data file's folder; must exist."""
    root = Path(image_root).expanduser().resolve() if str(image_root) else data_file.parent
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found (data.image_root)")
    return root


def _standard(path: Path, root: Path, images: list, annotations: list) -> ImageListing:
    index: dict[Any, int] = {}
    paths: list[Path] = []
    keys: list[str] = []
    for n, entry in enumerate(images):
        if not isinstance(entry, dict) or not _is_id(entry.get("id")) or not isinstance(entry.get("file_name"), str):
            raise DataError(f"{path}: images[{n}] needs an integer 'id' and a text 'file_name'")
        if entry["id"] in index:
            raise DataError(f"{path}: images[{n}] repeats the id of images[{index[entry['id']]}]")
        index[entry["id"]] = len(paths)
        paths.append(root / entry["file_name"])
        keys.append(str(entry["id"]))
    captions: list[str] = []
    owner: list[int] = []
    for n, entry in enumerate(annotations):
        if not (isinstance(entry, dict) and _is_id(entry.get("image_id")) and isinstance(entry.get("caption"), str)):
            raise DataError(f"{path}: annotations[{n}] needs an integer 'image_id' and a text 'caption'")
        if entry["image_id"] not in index:
            raise DataError(f"{path}: annotations[{n}] refers to an image_id that no entry of 'images' has")
        captions.append(entry["caption"].strip())
        owner.append(index[entry["image_id"]])
    listing = ImageListing(paths, keys, captions, np.asarray(owner, dtype=np.int64), source=path)
    return _drop_uncaptioned(listing)


def _karpathy(path: Path, root: Path, images: list) -> ImageListing:
    paths: list[Path] = []
    keys: list[str] = []
    splits: list[str] = []
    captions: list[str] = []
    owner: list[int] = []
    for n, entry in enumerate(images):
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            raise DataError(f"{path}: images[{n}] needs a text 'filename'")
        if not isinstance(entry.get("filepath") or "", str):
            raise DataError(f"{path}: images[{n}] has a 'filepath' that is not text")
        sentences = entry.get("sentences")
        if not isinstance(sentences, list):
            raise DataError(f"{path}: images[{n}] needs a 'sentences' list")
        relative = Path(entry.get("filepath") or "") / entry["filename"]
        for m, sentence in enumerate(sentences):
            raw = sentence.get("raw") if isinstance(sentence, dict) else None
            if not isinstance(raw, str):
                raise DataError(f"{path}: images[{n}].sentences[{m}] needs a text 'raw'")
            captions.append(raw.strip())
            owner.append(len(paths))
        paths.append(root / relative)
        keys.append(str(entry.get("cocoid", entry.get("imgid", relative.as_posix()))))
        splits.append(str(entry.get("split", "train")))
    listing = ImageListing(paths, keys, captions, np.asarray(owner, dtype=np.int64), source=path, splits=splits)
    return _drop_uncaptioned(listing)


def _drop_uncaptioned(listing: ImageListing) -> ImageListing:
    captioned = np.zeros(len(listing), dtype=bool)
    captioned[listing.caption_image] = True
    if captioned.all():
        return listing
    return listing.subset(np.flatnonzero(captioned))
