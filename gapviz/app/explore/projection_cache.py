"""UMAP layouts for Explore, computed once in a separate process and cached on disk.

The web process never runs UMAP itself: numba would compile its kernels there (up to a minute,
blocking every session). A child process (``python -m gapviz.app.explore.projection_cache IN OUT``) runs
gapviz.science.projection.umap_project and writes the layout; the result is kept under
``$GAPVIZ_HOME/cache/projections/<sha1 of the embeddings>-umap.npy``, so the same embeddings never
pay twice, whichever session or restart asks. A run's own UMAP layouts come from its workers.

The aligned mode (``python -m gapviz.app.explore.projection_cache --aligned IN OUT``) lays out several
epochs of the same points at once with gapviz.science.projection.aligned_umap_project, cached as
one (epochs, N + M, 2) array under a digest of every epoch's arrays (``-aligned-umap.npy``).

A child that fails leaves ``<digest>-<method>.failed`` (its one-line error): for RETRY_AFTER_S the
same embeddings get that error again at once, so a rerun of the page does not start a doomed
process each time; after that, once the file is deleted (forget_failure: the page's "Try again"), they are
tried again. A failure of the machine rather than the data is not remembered: a timeout (the machine's
load), a full disk, memory run out or a child killed by a signal (the kernel's OOM killer).
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from gapviz.errors import GapvizError
from gapviz.fsio import atomic_write_bytes

CACHE_VERSION = 1
"""Bump when the layout changes (umap_project's settings), so old entries are not reused."""
UMAP_MAX_PAIRS = 20_000
"""Bigger sets get PCA only: UMAP of 40,000+ points takes minutes on two cores."""
TIMEOUT_S = 900.0
MACHINE_FAILURES = ("MemoryError", "No space left on device", "Errno 28", "Cannot allocate memory", "Errno 12")
"""Words in a child's last error line that blame the machine (disk, memory), not the embeddings: not remembered."""
RETRY_AFTER_S = 600.0
"""A failed child's error is given again for this long (``<digest>-<method>.failed``) instead of a new process."""
ALIGNED = "--aligned"
"""The child's mode flag: IN holds ``image_0, text_0, image_1, ...``; OUT gets the stacked layouts."""


class ProjectionError(GapvizError):
    """The UMAP child process failed or timed out; the message says how.

    ``transient``: the machine failed (timeout, disk full, out of memory, killed), so the error is not remembered."""

    def __init__(self, message: str, timed_out: bool = False, transient: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out
        self.transient = transient or timed_out


def machine_failure(returncode: int, detail: str) -> bool:
    """Whether a child's exit (its code, its last error line) says the machine failed rather than the data."""
    return returncode < 0 or any(word in detail for word in MACHINE_FAILURES)


def _digest_path(home: Path, method: str, arrays: list[np.ndarray]) -> Path:
    """``<sha1 of the method, the shapes and the float32 bytes of every array>-<method>.npy`` in the cache."""
    shapes = ":".join(str(np.shape(arr)) for arr in arrays)
    digest = hashlib.sha1(f"v{CACHE_VERSION}:{method}:{shapes}".encode())
    for arr in arrays:
        digest.update(np.ascontiguousarray(arr, dtype=np.float32).tobytes())
    return Path(home) / "cache" / "projections" / f"{digest.hexdigest()}-{method}.npy"


def cache_path(home: Path, image: np.ndarray, text: np.ndarray, method: str = "umap") -> Path:
    """Where the ``method`` layout of exactly these embeddings is kept."""
    return _digest_path(home, method, [image, text])


def aligned_cache_path(home: Path, epochs: list[tuple[np.ndarray, np.ndarray]]) -> Path:
    """Where the aligned UMAP layouts of exactly these epochs (in this order) are kept."""
    return _digest_path(home, "aligned-umap", [arr for pair in epochs for arr in pair])


def cached_layout(home: Path, image: np.ndarray, text: np.ndarray) -> np.ndarray | None:
    """The cached UMAP layout of these embeddings, or None."""
    path = cache_path(home, image, text)
    return np.load(path, allow_pickle=False) if path.is_file() else None


def failure_path(out: Path) -> Path:
    """Where a failed child's error for the layout ``out`` is remembered."""
    return out.with_suffix(".failed")


def _recent_failure(out: Path) -> tuple[str, float] | None:
    """(error, seconds until a retry) of the layout ``out`` if it failed less than RETRY_AFTER_S ago."""
    path = failure_path(out)
    try:
        left = RETRY_AFTER_S - (time.time() - path.stat().st_mtime)
        return (path.read_text(encoding="utf-8").strip(), left) if left > 0 else None
    except OSError:
        return None


def forget_failure(out: Path) -> None:
    """Drop the remembered failure of the layout ``out``: the next request starts a fresh child."""
    try:
        failure_path(out).unlink(missing_ok=True)
    except OSError:
        pass  # an unreadable cache folder remembers nothing


def _remember_failure(out: Path, error: ProjectionError) -> None:
    """Keep a failure's one-line error beside the cache; a failure of the machine is not kept (transient)."""
    if error.transient:
        return
    try:
        atomic_write_bytes(failure_path(out), str(error).encode("utf-8"))
    except OSError:
        pass  # an unwritable cache only means the next rerun tries again


def _run_child(mode: list[str], arrays: dict[str, np.ndarray], out: Path, timeout: float, what: str) -> np.ndarray:
    """Write ``arrays`` to a temporary .npz, run the child on it, return what it wrote to ``out``."""
    remembered = _recent_failure(out)
    if remembered is not None:
        message, left = remembered
        raise ProjectionError(f"{message} (tried again in {max(1, round(left / 60))} min)")
    try:
        layout = _spawn_child(mode, arrays, out, timeout, what)
    except ProjectionError as error:
        _remember_failure(out, error)
        raise
    except (OSError, MemoryError) as error:  # writing the child's input here: the disk or memory, not the data
        raise ProjectionError(f"{what} could not start: {error}", transient=True) from error
    forget_failure(out)
    return layout


def _spawn_child(mode: list[str], arrays: dict[str, np.ndarray], out: Path, timeout: float, what: str) -> np.ndarray:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as folder:
        source = Path(folder) / "embeddings.npz"
        members: dict[str, Any] = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
        np.savez(source, **members)
        argv = [sys.executable, "-m", "gapviz.app.explore.projection_cache", *mode, str(source), str(out)]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ProjectionError(f"{what} took longer than {timeout:.0f} s; use PCA", timed_out=True) from None
    if done.returncode != 0 or not out.is_file():
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        transient = machine_failure(done.returncode, detail)
        raise ProjectionError(f"{what} failed in its process: {detail}", transient=transient)
    return np.load(out, allow_pickle=False)


def umap_layout(home: Path, image: np.ndarray, text: np.ndarray, timeout: float = TIMEOUT_S) -> np.ndarray:
    """The UMAP layout (N + M, 2) of these embeddings: from the cache, else from a child process."""
    found = cached_layout(home, image, text)
    if found is not None:
        return found
    return _run_child([], {"image": image, "text": text}, cache_path(home, image, text), timeout, "UMAP")


def aligned_umap_layouts(
    home: Path, epochs: list[tuple[np.ndarray, np.ndarray]], timeout: float = TIMEOUT_S
) -> list[np.ndarray]:
    """One (N + M, 2) layout per epoch by umap.AlignedUMAP: from the cache, else from a child process.

    The shapes are checked here, before a process starts (a GapvizError naming the odd epoch).
    """
    from gapviz.science.projection import check_same_points

    check_same_points(epochs)
    out = aligned_cache_path(home, epochs)
    if out.is_file():
        return list(np.load(out, allow_pickle=False))
    arrays: dict[str, np.ndarray] = {}
    for e, (image, text) in enumerate(epochs):
        arrays[f"image_{e}"], arrays[f"text_{e}"] = image, text
    return list(_run_child([ALIGNED], arrays, out, timeout, "aligned UMAP"))


def cache_umap_kernels() -> int:
    """Turn on numba's disk cache for umap's kernels in this process; returns how many were turned on.

    umap compiles its kernels without ``cache=True``, and every child is a fresh process: compiling
    is most of a small fit (≈ 15 s of 20 s on two cores). With the cache on, the next child loads
    them instead (≈ 4 s). The cache lives where numba keeps gapviz's own cached kernels (beside the
    installed sources, else the user's cache folder), never in $GAPVIZ_HOME: its index is a pickle.
    Kernels built inside a call (AlignedUMAP's optimiser step) still compile every time. Should numba
    or umap change these internals, nothing is turned on and the child compiles as before.
    """
    try:
        import umap  # noqa: F401  (imports umap.umap_, layouts, spectral, distances, aligned_umap)
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher
    except ImportError:
        return 0
    turned_on = 0
    for name, module in list(sys.modules.items()):
        if name != "umap" and not name.startswith("umap."):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher) and isinstance(getattr(value, "_cache", None), NullCache):
                value.enable_caching()
                turned_on += 1
    return turned_on


def _layouts(source: str, aligned: bool) -> np.ndarray:
    """The child's work: the layout of IN's image and text, or the stacked aligned layouts of its epochs."""
    from gapviz.science.projection import aligned_umap_project, umap_project

    with np.load(source, allow_pickle=False) as data:
        if not aligned:
            return umap_project(data["image"], data["text"]).astype(np.float32)
        epochs = [(data[f"image_{e}"], data[f"text_{e}"]) for e in range(len(data.files) // 2)]
    return np.stack(aligned_umap_project(epochs)).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    """Child entry: ``[--aligned] IN OUT``: read IN (.npz), write the UMAP layout(s) to OUT (.npy) atomically."""
    args = list(argv if argv is not None else sys.argv[1:])
    aligned = bool(args) and args[0] == ALIGNED
    source, dest = args[int(aligned) :][:2]
    cache_umap_kernels()
    layout = _layouts(source, aligned)
    buffer = io.BytesIO()
    np.save(buffer, layout)
    atomic_write_bytes(Path(dest), buffer.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
