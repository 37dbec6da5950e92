"""The one entry point for data: ``load_pairs(cfg, image_size, split, home)`` -> PairData (webdataset: the
eval split only; its training split streams from ``gapviz.data.shards.open_stream``).

Sizes: synthetic splits have exactly ``train_size`` / ``eval_size`` pairs (one caption per
image). For COCO and CSV, sizes count **images**, each with all its captions (COCO's usual
5k-image evaluation has 25k captions); ``train_size=0`` means all training images.

Splits are deterministic by ``cfg.seed`` and disjoint: synthetic scenes come from separate pools
(``synthetic``); COCO (standard) and CSV images are ordered by a seeded hash of their id/path,
the first ``eval_size`` are the eval set and the rest the training set; Karpathy JSONs use their
own split field (train: ``cfg.split``, e.g. ``train`` or ``train+restval``; eval: ``val``, else
``test``), taking images in the same hash order. The eval set never changes with ``train_size``.

Mismatch (Yaras et al.): in the training split a fraction ``cfg.mismatch`` of captions is
replaced by a caption of another image (``apply_mismatch``); eval is never mismatched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from gapviz.config import DataConfig
from gapviz.data import DataError, PairData
from gapviz.data.cache import ImageListing, decode_listing

_MISMATCH_STREAM = 0x6D69
"""Seed-stream tag of the mismatch draw, independent of the synthetic generator's streams."""


def load_pairs(
    cfg: DataConfig,
    image_size: int,
    split: Literal["train", "eval"],
    home: Path,
    progress: Callable[[int, int], None] | None = None,
) -> PairData:
    """Image-caption pairs of a split, images decoded to ``image_size`` (uint8, N x S x S x 3).

    ``progress(done, total)`` is called while images are rendered or decoded. Raises DataError
    for unusable data (the message names the file).
    """
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', not {split!r}")
    if image_size < 4:
        raise ValueError(f"image_size must be at least 4, not {image_size}")
    if cfg.source == "synthetic":
        from gapviz.data import synthetic

        size = cfg.train_size if split == "train" else cfg.eval_size
        data = synthetic.generate(size, split, image_size, cfg.seed, progress)
    elif cfg.source == "webdataset":
        from gapviz.data import shards

        if split == "train":
            raise DataError("data.source=webdataset streams its training split (gapviz.data.shards.open_stream)")
        data = shards.load_eval_shards(cfg, image_size)
    elif cfg.source in ("coco", "csv"):
        listing = read_listing(cfg)
        chosen = select_images(listing, cfg, split)
        data = decode_listing(listing.subset(chosen), image_size, Path(home), cfg.skip_broken, progress)
    else:
        raise DataError(f"data.source: unknown source {cfg.source!r}")
    if split == "train" and cfg.mismatch > 0:
        data = apply_mismatch(data, cfg.mismatch, cfg.seed)
    return data


def check_paths(cfg: DataConfig) -> None:
    """Refuse a missing data file, image folder (coco, csv) or shard (webdataset) with the loader's messages,
    reading none of them."""
    if cfg.source == "webdataset":
        from gapviz.data.shards import resolve_shards

        resolve_shards(cfg.path, "data.path")
        resolve_shards(cfg.eval_shards, "data.eval_shards")
        return
    if cfg.source not in ("coco", "csv"):
        return
    if not cfg.path:
        raise DataError(f"data.path is required for data.source={cfg.source}")
    from gapviz.data.coco import resolve_root

    path = Path(cfg.path).expanduser().resolve()
    if not path.is_file():
        kind = "JSON" if cfg.source == "coco" else "CSV"
        raise DataError(f"{path}: {f'is a folder; expected a {kind} file' if path.is_dir() else 'file not found'}")
    resolve_root(cfg.image_root, path)


def read_listing(cfg: DataConfig) -> ImageListing:
    """The image files and captions named by a COCO or CSV config (not decoded)."""
    if not cfg.path:
        raise DataError(f"data.path is required for data.source={cfg.source}")
    if cfg.source == "coco":
        from gapviz.data.coco import read_coco

        return read_coco(cfg.path, cfg.image_root)
    from gapviz.data.csv_pairs import read_csv_pairs

    return read_csv_pairs(cfg.path, cfg.image_root, cfg.csv_image_key, cfg.csv_caption_key, cfg.csv_separator)


def hash_order(keys: Sequence[str], seed: int) -> np.ndarray:
    """Indices of keys sorted by a seeded hash: a deterministic shuffle that depends only on the keys."""
    ranks = [int.from_bytes(hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=8).digest(), "big") for key in keys]
    return np.asarray(sorted(range(len(keys)), key=ranks.__getitem__), dtype=np.int64)


def select_images(listing: ImageListing, cfg: DataConfig, split: Literal["train", "eval"]) -> np.ndarray:
    """Indices of the listing's images in the split, in hash order, capped at the split's size."""
    if listing.splits is not None:
        return _karpathy_split(listing, cfg, split)
    order = hash_order(listing.keys, cfg.seed)
    n_eval = min(cfg.eval_size, len(order))
    if split == "eval":
        return order[:n_eval]
    train = order[n_eval:]
    if len(train) == 0:
        raise DataError(
            f"{listing.source}: has {len(order)} images; data.eval_size={cfg.eval_size} leaves none to train on"
        )
    return train[: cfg.train_size] if cfg.train_size > 0 else train


def _karpathy_split(listing: ImageListing, cfg: DataConfig, split: str) -> np.ndarray:
    assert listing.splits is not None
    present = sorted(set(listing.splits))
    wanted = {name.strip() for name in cfg.split.split("+") if name.strip()}
    if split == "eval":
        wanted = {"val"} if "val" in present else {"test"}
    elif wanted & {"val", "test"}:
        raise DataError(f"data.split={cfg.split!r}: the training split must not include val or test (eval uses them)")
    members = [i for i, name in enumerate(listing.splits) if name in wanted]
    if not members:
        raise DataError(
            f"{listing.source}: no images in split {'+'.join(sorted(wanted))}; splits present: {', '.join(present)}"
        )
    order = np.asarray(members, dtype=np.int64)[hash_order([listing.keys[i] for i in members], cfg.seed)]
    size = cfg.eval_size if split == "eval" else cfg.train_size
    return order[:size] if size > 0 else order


def apply_mismatch(data: PairData, fraction: float, seed: int) -> PairData:
    """Give round(fraction * N) captions the caption of another image (exact up to +-1).

    Chosen captions are spread over as many images as possible (round-robin over images in a
    seeded order), grouped by image, and each takes the caption ``k`` places on in that cyclic
    order, where ``k`` is the most chosen captions of one image: a derangement that never hands a
    caption to its own image. ``caption_image`` is unchanged (the image the pair is trained
    with); ``mismatched`` marks the replaced captions.
    """
    n = len(data.captions)
    owner = np.asarray(data.caption_image, dtype=np.int64)
    m = int(round(fraction * n))
    mismatched = np.zeros(n, dtype=bool)
    n_images = len(np.unique(owner))
    if m == 1 and n_images >= 2:
        m = 2
    rng = np.random.default_rng([seed, _MISMATCH_STREAM])
    image_rank = rng.permutation(int(owner.max()) + 1 if n else 0)
    # Round-robin order: each image's first caption (images in seeded order), then the seconds...
    jitter = rng.permutation(n)
    by_image = np.lexsort((jitter, image_rank[owner]))
    within = np.empty(n, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(owner[by_image])) + 1]
    counts = np.diff(np.r_[starts, n])
    within[by_image] = np.arange(n) - np.repeat(starts, counts)
    round_robin = np.lexsort((image_rank[owner], within))
    while m >= 2:
        chosen = round_robin[:m]
        chosen = chosen[np.lexsort((within[chosen], image_rank[owner[chosen]]))]
        k = int(np.bincount(owner[chosen]).max())
        if m >= 2 * k:
            break
        m -= 1
    if m < 2:
        data.mismatched = mismatched
        return data
    donors = np.roll(chosen, -k)
    captions = list(data.captions)
    for target, donor in zip(chosen.tolist(), donors.tolist(), strict=False):
        captions[target] = data.captions[donor]
    mismatched[chosen] = True
    return PairData(
        images=data.images,
        captions=captions,
        caption_image=data.caption_image,
        labels=data.labels,
        class_prompts=data.class_prompts,
        mismatched=mismatched,
        skipped=data.skipped,
    )
