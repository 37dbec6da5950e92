"""Training batches: gathered as uint8 on a background thread one step ahead, normalised on the device.

The training thread only copies a ready batch to the device (``non_blocking``, from pinned memory when the
device is CUDA) and normalises it there, so a GPU step does not wait on the CPU's gather and float conversion.
On the CPU, pinning is skipped: there is no copy to overlap, the batch is already where the model runs.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Callable, Generic, TypeVar

import numpy as np
import torch

from gapviz.data import PairData
from gapviz.data.shards import ShardBatch
from gapviz.training.model import ModelBundle

PREFETCH_DEPTH = 2
"""Batches the background thread may hold ready (bounded: host memory stays two batches)."""
_PUT_POLL_S = 0.05

T = TypeVar("T")


@dataclass(frozen=True)
class StepBatch:
    """One optimiser step's micro-batches: uint8 images (B, H, W, 3) and caption tokens, on host or device."""

    images: tuple[torch.Tensor, ...]
    tokens: tuple[torch.Tensor, ...]
    position: int = 0
    """Samples a shard stream had read this epoch through this batch (what a mid-epoch checkpoint records)."""


def micro_batches(chosen: np.ndarray, grad_accum: int) -> list[np.ndarray]:
    """The sorted rows of a full batch split into ``grad_accum`` micro-batches (empty ones dropped)."""
    return [rows for rows in np.array_split(np.sort(chosen), grad_accum) if len(rows)]


def gather_rows(array: np.ndarray, index: np.ndarray, pin: bool) -> torch.Tensor:
    """Rows ``index`` of ``array`` (the uint8 image cache, the tokens) in one new tensor, pinned when ``pin``.

    numpy's copy, not torch indexing: a torch op on this thread would start a second OpenMP team on the cores
    the training thread's team uses; numpy's copy is one thread and releases the GIL."""
    out = torch.empty(
        (len(index), *array.shape[1:]), dtype=torch.from_numpy(np.empty(0, array.dtype)).dtype, pin_memory=pin
    )
    np.take(array, index, axis=0, out=out.numpy(), mode="clip")
    return out


def host_batch(data: PairData, tokens: torch.Tensor, chosen: np.ndarray, grad_accum: int, pin: bool) -> StepBatch:
    """The pairs ``chosen`` as ``grad_accum`` uint8 micro-batches and their tokens, in host memory."""
    parts = micro_batches(chosen, grad_accum)
    images = tuple(gather_rows(data.images, data.caption_image[rows], pin) for rows in parts)
    texts = tuple(gather_rows(tokens.numpy(), rows, pin) for rows in parts)
    return StepBatch(images, texts)


def stream_batch(batch: ShardBatch, tokenizer: Callable[..., torch.Tensor], grad_accum: int, pin: bool) -> StepBatch:
    """A shard stream's decoded batch as ``grad_accum`` uint8 micro-batches and their tokens, in host memory."""
    parts = micro_batches(np.arange(len(batch.captions)), grad_accum)
    tokens = tokenizer(batch.captions).numpy()
    images = tuple(gather_rows(batch.images, rows, pin) for rows in parts)
    return StepBatch(images, tuple(gather_rows(tokens, rows, pin) for rows in parts), batch.position)


def to_device(batch: StepBatch, device: torch.device) -> StepBatch:
    """The batch on ``device``: an asynchronous copy from pinned memory on CUDA, the same tensors on the CPU."""
    return StepBatch(
        tuple(t.to(device, non_blocking=True) for t in batch.images),
        tuple(t.to(device, non_blocking=True) for t in batch.tokens),
        batch.position,
    )


def normalise(images: torch.Tensor, bundle: ModelBundle) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) normalised by the model's mean and std, on the images' device.

    Whole-batch operations: normalising a few images at a time keeps the passes in cache (2.5 times faster on
    an idle 2-core machine) but makes many short parallel regions, measured several times slower under load."""
    device = images.device
    mean = torch.tensor(bundle.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(bundle.std, device=device).view(1, 3, 1, 1)
    return images.permute(0, 3, 1, 2).float().div_(255.0).sub_(mean).div_(std)


def images_to_tensor(images: np.ndarray, bundle: ModelBundle, device: torch.device) -> torch.Tensor:
    """uint8 (B, H, W, 3) array -> normalised float (B, 3, H, W) on ``device`` (evaluation's batches)."""
    array = np.ascontiguousarray(images)
    if not array.flags.writeable:  # a slice of the read-only image cache: torch warns on non-writable arrays
        array = array.copy()
    return normalise(torch.from_numpy(array).to(device, non_blocking=True), bundle)


@dataclass(frozen=True)
class _Failure:
    error: BaseException


class Prefetcher(Generic[T]):
    """``produce(0)``, ``produce(1)``, … ``produce(count - 1)`` made on a background thread, at most ``depth``
    ahead of the consumer; ``depth=0`` makes each item on the caller's thread when asked (no thread).

    Iterate it (or call ``next``) inside ``with``: leaving the block stops and joins the thread, so a stop, an
    error or the end of the epoch leaves no thread behind. An exception in ``produce`` is raised in the consumer
    with the worker's traceback. ``wait_s`` is how long the last item kept the consumer waiting."""

    def __init__(self, produce: Callable[[int], T], count: int, depth: int = PREFETCH_DEPTH):
        self._produce, self._count, self._next = produce, count, 0
        self._stop = threading.Event()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._thread = threading.Thread(target=self._run, name="gapviz-prefetch", daemon=True) if depth else None
        self.wait_s = 0.0
        if self._thread is not None:
            self._thread.start()

    def _run(self) -> None:
        try:
            for index in range(self._count):
                if self._stop.is_set() or not self._put(self._produce(index)):
                    return
        except BaseException as error:  # noqa: BLE001 - re-raised in the consumer
            self._put(_Failure(error))

    def _put(self, item: object) -> bool:
        """Queue ``item``, giving up when the consumer has closed the prefetcher."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_PUT_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Prefetcher[T]:
        return self

    def __next__(self) -> T:
        if self._next >= self._count:
            raise StopIteration
        started = time.perf_counter()
        if self._thread is None:
            item: object = self._produce(self._next)
        else:
            item = self._queue.get()
        self.wait_s = time.perf_counter() - started
        self._next += 1
        if isinstance(item, _Failure):
            self.close()
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the worker and wait for it (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
