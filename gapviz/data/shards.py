"""Streaming webdataset shards (img2dataset's output) for data that does not fit the decoded-image cache.

A shard is a tar file of samples ``{key}.jpg|jpeg|png|webp`` with ``{key}.txt`` (or ``{key}.json`` holding a
"caption"), read with the ``webdataset`` package. ``data.path`` (training) and ``data.eval_shards`` name the
shards as a brace pattern (``shards/{00000..00099}.tar``), a folder (its ``*.tar``, sorted) or one ``.tar``;
only local files are opened (never webdataset's ``pipe:`` or URL openers).

Order: each rank reads every ``world``-th shard (whole shards); per epoch its shards are shuffled by
(seed, epoch) and its samples pass a shuffle buffer seeded the same way, so the order is a function of
seed, epoch and rank. ``ShardStream.batches(epoch, n, start)`` skips the first ``start`` samples (read, not
decoded): resuming mid-epoch continues with exactly the samples an uninterrupted run would have seen.

Sizes: the samples of a shard come from img2dataset's ``{shard}_stats.json`` ("successes") when present,
else from the tar's member names, counted once and remembered under ``<home>/cache/shards``.

Broken data: an unreadable tar always fails, naming the shard (and the last key read). A sample without a
caption or image, or an image that does not decode, fails naming shard and key; with ``data.skip_broken`` it
is skipped and counted instead, and an epoch whose stream runs short reads its shards once more.
"""

from __future__ import annotations

import io
import json
import logging
import random
import tarfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import BinaryIO

import numpy as np
from braceexpand import braceexpand
from PIL import Image

from gapviz.config import DataConfig
from gapviz.data import DataError, PairData
from gapviz.data.cache import DECODE_THREADS, _open_regular, cache_key, decode_stream
from gapviz.fsio import atomic_write_text, private_dir

IMAGE_SUFFIXES = ("jpg", "jpeg", "png", "webp")
MAX_SHARDS = 100_000
"""Most shards one path may name (a brace pattern is expanded lazily up to this)."""
SHUFFLE_INITIAL = 100
"""Samples the shuffle buffer holds before it yields the first (webdataset's default)."""
_LOG = logging.getLogger(__name__)


def resolve_shards(spec: str, field_path: str) -> list[Path]:
    """The shard files ``spec`` names (brace pattern, folder or one .tar); DataError naming the field and shard."""
    text = spec.strip()
    if not text:
        raise DataError(f"{field_path}: is required for data.source=webdataset")
    path = Path(text).expanduser()
    if "{" in text:
        paths = [Path(name).expanduser() for name in islice(braceexpand(text), MAX_SHARDS + 1)]
    elif path.is_dir():
        paths = sorted(islice(path.glob("*.tar"), MAX_SHARDS + 1))
        if not paths:
            raise DataError(f"{field_path}: {path} holds no .tar shards")
    else:
        paths = [path]
    if len(paths) > MAX_SHARDS:
        raise DataError(f"{field_path}: names more than {MAX_SHARDS} shards")
    missing = [shard for shard in paths if not shard.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        what = "not a regular file" if missing[0].exists() else "not found"
        raise DataError(f"{field_path}: shard {missing[0]}: {what}{more}")
    return [shard.resolve() for shard in paths]


def shard_sizes(paths: Sequence[Path], home: Path, skip_broken: bool) -> list[int]:
    """Usable samples per shard (img2dataset's stats, else counted once and remembered under ``home``)."""
    remembered = Path(home) / "cache" / "shards" / f"{cache_key(paths, 0)}.json"
    try:
        sizes = json.loads(remembered.read_text())
        if isinstance(sizes, list) and len(sizes) == len(paths) and all(isinstance(n, int) for n in sizes):
            return sizes
    except (OSError, ValueError):
        pass
    sizes = [_declared_size(path) or _count_samples(path, skip_broken) for path in paths]
    private_dir(remembered.parent, root=Path(home))
    atomic_write_text(remembered, json.dumps(sizes))
    return sizes


def _declared_size(path: Path) -> int | None:
    """The "successes" of img2dataset's ``{shard}_stats.json`` beside the shard, if readable."""
    try:
        value = json.loads(path.with_name(f"{path.stem}_stats.json").read_text()).get("successes")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value >= 0 else None


def _count_samples(path: Path, skip_broken: bool) -> int:
    """Keys of the tar with both an image and a caption file, from its member names (no data read)."""
    from webdataset import tariterators  # imports torch: only where shards are read, never on the app's pages

    suffixes: dict[str, set[str]] = {}
    try:
        with _open_regular(path) as file, tarfile.open(fileobj=file, mode="r:*") as tar:
            for member in tar:
                key, suffix = tariterators.base_plus_ext(member.name)
                if member.isreg() and key is not None and not member.name.startswith("__"):
                    suffixes.setdefault(key, set()).add(suffix.lower())
            _check_end(file, tar.offset, path.stat().st_size)
    except (OSError, ValueError, tarfile.TarError) as error:
        raise DataError(f"{path}: unreadable tar ({_reason(error)})") from None
    count = 0
    for key, found in suffixes.items():
        problem = _missing(found)
        if problem is None:
            count += 1
        elif not skip_broken:
            raise DataError(f"{path}: sample {key}: {problem} (data.skip_broken=true skips it)")
    return count


def _check_end(file: BinaryIO, end: int, size: int) -> None:
    """Refuse a tar that tarfile stopped reading early: cut short, or followed by bytes that are no header."""
    if end > size:
        raise ValueError(f"truncated: it ends at byte {size}, inside a member that needs {end}")
    file.seek(end)
    if file.read(1024).strip(b"\0"):
        raise ValueError(f"no valid tar header at byte {end}")


def _missing(suffixes: set[str] | dict) -> str | None:
    """What a sample lacks to be a pair, or None."""
    if not any(s in suffixes for s in IMAGE_SUFFIXES):
        return "no image (.jpg, .jpeg, .png or .webp)"
    if "txt" not in suffixes and "json" not in suffixes:
        return 'no caption (.txt, or .json with a "caption")'
    return None


def _reason(error: BaseException) -> str:
    text = str(error.args[0]) if error.args else ""
    return text.splitlines()[0] if text.strip() else type(error).__name__


def shard_samples(path: Path, size: int = 0) -> Iterator[dict]:
    """The samples of one shard in file order, as webdataset groups them ({"__key__", suffix: bytes, ...});
    fewer than its known ``size`` means tarfile stopped early at a corrupt or truncated part (an error)."""
    from webdataset import tariterators

    last, count = "(none yet)", 0
    with _open_regular(path) as stream:
        try:
            files = tariterators.tar_file_expander([{"url": str(path), "stream": stream}], eof_value=None)
            for sample in tariterators.group_by_keys(files):
                last, count = sample["__key__"], count + 1
                yield sample
        except Exception as error:  # noqa: BLE001 - tarfile, grouping and IO errors all mean a broken shard
            raise DataError(f"{path}: unreadable tar after sample {last} ({_reason(error)})") from None
    if count < size:
        raise DataError(f"{path}: unreadable tar after sample {last} (it ends after {count} of its {size} samples)")


def _caption(sample: dict) -> str:
    """The sample's caption: its .txt, else the "caption" of its .json; ValueError when it has none."""
    if "txt" in sample:
        text = sample["txt"].decode("utf-8", errors="replace").strip()
    else:
        meta = json.loads(sample.get("json") or b"{}")
        text = meta.get("caption") if isinstance(meta, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise ValueError('no caption (.txt, or .json with a "caption")')
    return text.strip()


def decode_sample(sample: dict, image_size: int) -> tuple[np.ndarray, str] | str:
    """(uint8 image, caption) of a sample, or the one-line reason it is unusable, naming shard and key."""
    try:
        problem = _missing(sample)
        if problem is not None:
            raise ValueError(problem)
        caption = _caption(sample)
        data = next(sample[s] for s in IMAGE_SUFFIXES if s in sample)
        return decode_stream(io.BytesIO(data), image_size), caption
    except Exception as error:  # noqa: BLE001 - any decoder or caption failure makes the sample unusable
        reason = _reason(error) if isinstance(error, ValueError) else f"cannot read image ({_reason(error)})"
        return f"{sample.get('__url__', '?')}: sample {sample.get('__key__', '?')}: {reason}"


@dataclass
class DecodedPairs:
    """Decoded pairs taken from a sample stream: images, captions, samples read and samples skipped."""

    images: list[np.ndarray] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    read: int = 0
    skipped: int = 0


def decode_pairs(
    samples: Iterator[dict], count: int, image_size: int, skip_broken: bool, pool: ThreadPoolExecutor
) -> DecodedPairs:
    """Up to ``count`` usable pairs from ``samples`` (fewer only when it ends), decoded on ``pool``'s threads."""
    out = DecodedPairs()
    while len(out.images) < count:
        chunk = list(islice(samples, count - len(out.images)))
        if not chunk:
            break
        out.read += len(chunk)
        for result in pool.map(lambda sample: decode_sample(sample, image_size), chunk):
            if isinstance(result, str):
                if not skip_broken:
                    raise DataError(f"{result} (data.skip_broken=true skips it)")
                out.skipped += 1
            else:
                out.images.append(result[0])
                out.captions.append(result[1])
    return out


@dataclass(frozen=True)
class ShardBatch:
    """One step's pairs from the stream: uint8 images (N, S, S, 3), captions, and samples read so far this epoch."""

    images: np.ndarray
    captions: list[str]
    position: int


@dataclass(frozen=True)
class ShardStream:
    """One rank's training shards and how to read them (see the module doc)."""

    paths: tuple[Path, ...]
    sizes: tuple[int, ...]
    """Usable samples of each shard (``shard_sizes``)."""
    pairs: int
    """Usable pairs per epoch on every rank (the smallest rank's, capped by data.train_size / world)."""
    image_size: int
    seed: int
    shuffle_buffer: int
    skip_broken: bool

    def samples(self, epoch: int) -> Iterator[dict]:
        """The rank's samples of ``epoch``: shards shuffled by (seed, epoch), then through the shuffle buffer."""
        from webdataset import filters

        rng = random.Random(f"gapviz-shards:{self.seed}:{epoch}")
        order = rng.sample(list(zip(self.paths, self.sizes, strict=True)), len(self.paths))
        raw = chain.from_iterable(shard_samples(path, size) for path, size in order)
        if self.shuffle_buffer <= 1:
            return raw
        return iter(filters.shuffle(self.shuffle_buffer, initial=SHUFFLE_INITIAL, rng=rng)(raw))

    def batches(self, epoch: int, size: int, start: int = 0) -> Iterator[ShardBatch]:
        """Batches of ``size`` decoded pairs of ``epoch``, after its first ``start`` samples (read, not decoded)."""
        passes = 2 if self.skip_broken else 1  # skipped samples are made up from a second pass over the shards
        samples = chain.from_iterable(self.samples(epoch) for _ in range(passes))
        position = sum(1 for _ in islice(samples, start))
        skipped = 0
        with ThreadPoolExecutor(max_workers=DECODE_THREADS) as pool:
            while True:
                got = decode_pairs(samples, size, self.image_size, self.skip_broken, pool)
                position, skipped = position + got.read, skipped + got.skipped
                if len(got.images) < size:
                    raise DataError(
                        f"{self.paths[0].parent}: this rank's {len(self.paths)} shards ran out after {position} "
                        f"samples in epoch {epoch} ({skipped} skipped as broken)"
                    )
                if got.skipped:
                    _LOG.warning("epoch %d: %d broken samples skipped so far", epoch, skipped)
                yield ShardBatch(np.stack(got.images), got.captions, position)


def open_stream(cfg: DataConfig, image_size: int, home: Path, rank: int = 0, world: int = 1) -> ShardStream:
    """The training stream of rank ``rank`` of ``world``: every world-th shard of ``data.path``."""
    paths = resolve_shards(cfg.path, "data.path")
    if len(paths) < world:
        raise DataError(f"data.path: {len(paths)} shards cannot feed {world} ranks (each rank reads whole shards)")
    sizes = shard_sizes(paths, home, cfg.skip_broken)
    pairs = min(sum(sizes[r::world]) for r in range(world))
    if cfg.train_size > 0:
        pairs = min(pairs, cfg.train_size // world)
    if pairs < 1:
        raise DataError(f"data.path: the shards {paths[0].parent} hold no usable samples")
    return ShardStream(
        tuple(paths[rank::world]),
        tuple(sizes[rank::world]),
        pairs,
        image_size,
        cfg.seed,
        cfg.shuffle_buffer,
        cfg.skip_broken,
    )


def load_eval_shards(cfg: DataConfig, image_size: int) -> PairData:
    """The first ``data.eval_size`` usable pairs of ``data.eval_shards`` in file order (the fixed eval set)."""
    paths = resolve_shards(cfg.eval_shards, "data.eval_shards")
    samples = chain.from_iterable(shard_samples(path) for path in paths)
    with ThreadPoolExecutor(max_workers=DECODE_THREADS) as pool:
        got = decode_pairs(samples, cfg.eval_size, image_size, cfg.skip_broken, pool)
    if len(got.images) < 2:
        raise DataError(f"data.eval_shards: {len(got.images)} usable pairs; evaluation needs at least 2")
    count = len(got.images)
    return PairData(
        images=np.stack(got.images),
        captions=got.captions,
        caption_image=np.arange(count),
        mismatched=np.zeros(count, dtype=bool),
        skipped=got.skipped,
    )


def write_shards(folder: Path, data: PairData, per_shard: int = 1000) -> list[Path]:
    """Write ``data`` as img2dataset-style shards ``{folder}/{00000..}.tar`` ({key}.jpg + {key}.txt, one per
    caption) with their ``_stats.json``; returns the shard paths (how a PairData becomes stream data)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard, start in enumerate(range(0, len(data), per_shard)):
        path = folder / f"{shard:05d}.tar"
        rows = range(start, min(start + per_shard, len(data)))
        with tarfile.open(path, "w") as tar:
            for row in rows:
                image = io.BytesIO()
                Image.fromarray(np.asarray(data.images[data.caption_image[row]])).save(image, "JPEG", quality=95)
                _add_member(tar, f"{row:09d}.jpg", image.getvalue())
                _add_member(tar, f"{row:09d}.txt", data.captions[row].encode())
        atomic_write_text(folder / f"{shard:05d}_stats.json", json.dumps({"successes": len(rows)}))
        paths.append(path)
    return paths


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
