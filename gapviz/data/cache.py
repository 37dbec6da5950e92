"""Decoded-image cache: decode each image file once, keep the pixels as a .npy memory map.

``decode_listing`` turns an ``ImageListing`` (image files + captions, from ``coco`` or
``csv_pairs``) into ``PairData``. Images are decoded like open_clip's preprocessing (RGB, resize
the shorter side to ``image_size`` with bicubic, centre crop) and stored under
``<home>/cache/images/<key>.npy``, where the key hashes the ordered resolved paths, their sizes
and mtimes, and ``image_size``: changing any file, the selection or the size makes a new entry.
Files are written to a temp name and renamed, so a killed process never leaves a partial entry,
and later loads return a read-only memory map without decoding.

Unreadable images (missing, truncated, not an image) raise ``DataError`` naming the file, or with
``skip_broken`` are dropped with their captions and counted in ``PairData.skipped``; the
sidecar ``<key>.json`` remembers them so a cache hit behaves the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from gapviz.data import DataError, PairData
from gapviz.fsio import FILE_MODE, atomic_write_text, private_dir

CACHE_VERSION = 1
"""Bump when decoding changes, so old entries are not reused."""
DECODE_THREADS = 8
"""Upper bound on decoding threads (PIL releases the GIL while decoding and resizing)."""
PROGRESS_EVERY = 64
"""Report progress at least this many images apart (decoding runs in batches of this size or more)."""


@dataclass
class ImageListing:
    """Image files and their captions, before decoding.

    ``keys`` are stable image ids (COCO id, relative path) used for hash splits; caption j
    belongs to image ``caption_image[j]``; ``splits`` holds the Karpathy split of each image
    (None for sources without splits); ``source`` is the file the listing came from.
    """

    paths: list[Path]
    keys: list[str]
    captions: list[str]
    caption_image: np.ndarray
    source: Path
    splits: list[str] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, images: Sequence[int] | np.ndarray) -> "ImageListing":
        """The listing of the given images (in that order), with their captions re-indexed."""
        images = np.asarray(images, dtype=np.int64)
        new_index = np.full(len(self.paths), -1, dtype=np.int64)
        new_index[images] = np.arange(len(images))
        keep = np.flatnonzero(new_index[self.caption_image] >= 0)
        # Group captions by their image's new position, keeping file order within an image.
        keep = keep[np.argsort(new_index[self.caption_image[keep]], kind="stable")]
        return ImageListing(
            paths=[self.paths[i] for i in images],
            keys=[self.keys[i] for i in images],
            captions=[self.captions[j] for j in keep],
            caption_image=new_index[self.caption_image[keep]],
            source=self.source,
            splits=None if self.splits is None else [self.splits[i] for i in images],
        )


def cache_dir(home: Path) -> Path:
    return Path(home) / "cache" / "images"


def cache_key(paths: Sequence[Path], image_size: int) -> str:
    """Hash of the ordered paths, their sizes and mtimes (missing files hash as such) and the size."""
    digest = hashlib.blake2b(f"gapviz-images v{CACHE_VERSION} size={image_size}\n".encode(), digest_size=16)
    for path in paths:
        try:
            st = os.stat(path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        digest.update(f"{path}\0{stamp}\n".encode())
    return digest.hexdigest()


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file; ValueError for a FIFO, device, socket or folder.

    The open is non-blocking and the check is made on the opened descriptor, so a FIFO never blocks
    and a file swapped for one after a first check is refused too.
    """
    if not stat.S_ISREG(os.stat(Path(path).resolve()).st_mode):
        raise ValueError("not a regular file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def decode_image(path: Path, image_size: int) -> np.ndarray:
    """One image file as uint8 (image_size, image_size, 3) (``decode_stream`` of the opened regular file)."""
    return decode_stream(_open_regular(path), image_size)


def decode_stream(file: BinaryIO, image_size: int) -> np.ndarray:
    """One encoded image as uint8 (image_size, image_size, 3): RGB, shorter side resized (bicubic), centre crop.

    Mirrors open_clip's eval transform (torchvision Resize + CenterCrop on a PIL image); large
    JPEGs are first reduced by the decoder (``draft``) to no less than twice the target size.
    Shared by the image cache (files) and the shard stream (bytes of a tar member).
    """
    with Image.open(file) as source:
        source.draft("RGB", (2 * image_size, 2 * image_size))
        im: Image.Image = source.convert("RGB")
        w, h = im.size
        if w <= h:
            new_w, new_h = image_size, int(image_size * h / w)
        else:
            new_w, new_h = int(image_size * w / h), image_size
        if (new_w, new_h) != (w, h):
            im = im.resize((new_w, new_h), Image.Resampling.BICUBIC)
        top = int(round((new_h - image_size) / 2.0))
        left = int(round((new_w - image_size) / 2.0))
        im = im.crop((left, top, left + image_size, top + image_size))
        array = np.asarray(im, dtype=np.uint8)
    if array.shape != (image_size, image_size, 3):
        raise ValueError(f"decoded to shape {array.shape}")
    return array


def load_images(
    paths: Sequence[Path],
    image_size: int,
    home: Path,
    skip_broken: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decoded images of ``paths`` (read-only memmap) and the indices of the paths kept.

    Decodes only on a cache miss. Without ``skip_broken`` an unreadable image raises DataError
    naming it; with it, unreadable images are left out of the array and of the kept indices.
    """
    paths = [Path(p).resolve() for p in paths]  # ".." may leave the image root; the file must exist
    n = len(paths)
    folder = cache_dir(home)
    key = cache_key(paths, image_size)
    array_path, meta_path = folder / f"{key}.npy", folder / f"{key}.json"
    if array_path.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            images = np.load(array_path, mmap_mode="r")
            broken = {int(i): str(msg) for i, msg in meta["broken"].items()}
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            pass  # an unreadable entry is rebuilt below
        else:
            if images.shape == (n - len(broken), image_size, image_size, 3):
                _check_broken(paths, broken, skip_broken)
                if progress is not None:
                    progress(n, n)
                return images, _kept(n, broken)
    if not skip_broken:
        missing = [p for p in paths if not p.is_file()]
        if missing:
            more = f" (and {len(missing) - 1} more missing)" if len(missing) > 1 else ""
            what = "not a regular file" if missing[0].exists() else "image file not found"
            raise DataError(f"{missing[0]}: {what}{more}")
    private_dir(folder, root=Path(home))
    stem = f".{key}.{os.getpid()}.{uuid.uuid4().hex}"
    full, compact = folder / f"{stem}.tmp.npy", folder / f"{stem}.compact.tmp.npy"
    try:
        broken = _decode_all(paths, image_size, full, skip_broken, progress)
        _check_broken(paths, broken, skip_broken)
        ready = full
        if broken:
            _compact(full, compact, broken)
            ready = compact
        atomic_write_text(meta_path, json.dumps({"n": n, "image_size": image_size, "broken": broken}))
        os.chmod(ready, FILE_MODE)  # np.save creates it under the umask: make it owner-only whatever that is
        os.replace(ready, array_path)
    finally:
        for tmp in (full, compact):
            tmp.unlink(missing_ok=True)
    return np.load(array_path, mmap_mode="r"), _kept(n, broken)


def decode_listing(
    listing: ImageListing,
    image_size: int,
    home: Path,
    skip_broken: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> PairData:
    """PairData of a listing, images from the decoded-image cache; broken images drop their captions."""
    images, kept = load_images(listing.paths, image_size, home, skip_broken, progress)
    if len(kept) == 0:
        raise DataError(f"{listing.source}: none of its {len(listing)} selected images could be read")
    new_index = np.full(len(listing), -1, dtype=np.int64)
    new_index[kept] = np.arange(len(kept))
    keep = np.flatnonzero(new_index[listing.caption_image] >= 0)
    return PairData(
        images=images,
        captions=[listing.captions[j] for j in keep],
        caption_image=new_index[listing.caption_image[keep]],
        mismatched=np.zeros(len(keep), dtype=bool),
        skipped=len(listing) - len(kept),
    )


def _kept(n: int, broken: dict[int, str]) -> np.ndarray:
    keep = np.ones(n, dtype=bool)
    keep[list(broken)] = False
    return np.flatnonzero(keep)


def _check_broken(paths: Sequence[Path], broken: dict[int, str], skip_broken: bool) -> None:
    if broken and not skip_broken:
        first = min(broken)
        more = f" (and {len(broken) - 1} more; data.skip_broken=true skips them)" if len(broken) > 1 else ""
        raise DataError(f"{paths[first]}: {broken[first]}{more}")


def _decode_all(
    paths: Sequence[Path],
    image_size: int,
    tmp: Path,
    skip_broken: bool,
    progress: Callable[[int, int], None] | None,
) -> dict[int, str]:
    """Decode every path into a new .npy at ``tmp``; returns {index: reason} of unreadable ones.

    Without ``skip_broken`` it stops at the first unreadable image.
    """
    n = len(paths)
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, image_size, image_size, 3))
    broken: dict[int, str] = {}

    def work(i: int) -> str | None:
        try:
            out[i] = decode_image(paths[i], image_size)  # noqa: F821 - `del out` runs after the pool is done
        except FileNotFoundError:
            return "image file not found"
        except Exception as error:  # noqa: BLE001 - any decoder failure means "unreadable"
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            return f"cannot read image ({reason})"
        return None

    threads = max(1, min(DECODE_THREADS, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        # Bounded submission keeps memory flat on large sets and lets a failure stop early.
        window = max(PROGRESS_EVERY, threads * 8)
        pending = {}
        for i in range(n):
            pending[i] = pool.submit(work, i)
            if len(pending) >= window or i == n - 1:
                for j in sorted(pending):
                    reason = pending[j].result()
                    if reason is not None:
                        broken[j] = reason
                done = i + 1
                pending.clear()
                if broken and not skip_broken:
                    break
                if progress is not None:
                    progress(done, n)
    out.flush()
    _fsync(tmp)
    del out
    return broken


def _compact(full_path: Path, compact_path: Path, broken: dict[int, str]) -> None:
    """Copy the readable rows of the .npy at ``full_path`` to a new .npy at ``compact_path``."""
    full = np.load(full_path, mmap_mode="r")
    kept = _kept(full.shape[0], broken)
    out = np.lib.format.open_memmap(compact_path, mode="w+", dtype=np.uint8, shape=(len(kept), *full.shape[1:]))
    step = 1024
    for start in range(0, len(kept), step):
        out[start : start + step] = full[kept[start : start + step]]
    out.flush()
    _fsync(compact_path)
    del out, full


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
