"""UMAP layouts for Explore, computed once in a separate process and cached on disk.

The web process never runs UMAP itself: numba would compile its kernels there (up to a minute,
blocking every session). A child process (``python -m gapviz.app.projection_cache IN OUT``) runs
gapviz.science.projection.umap_project and writes the layout; the result is kept under
``$GAPVIZ_HOME/cache/projections/<sha1 of the embeddings>-umap.npy``, so the same embeddings never
pay twice, whichever session or restart asks. A run's own UMAP layouts come from its workers.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from gapviz.errors import GapvizError
from gapviz.fsio import atomic_write_bytes

CACHE_VERSION = 1
"""Bump when the layout changes (umap_project's settings), so old entries are not reused."""
UMAP_MAX_PAIRS = 20_000
"""Bigger sets get PCA only: UMAP of 40,000+ points takes minutes on two cores."""
TIMEOUT_S = 900.0


class ProjectionError(GapvizError):
    """The UMAP child process failed or timed out; the message says how."""


def cache_path(home: Path, image: np.ndarray, text: np.ndarray, method: str = "umap") -> Path:
    """Where the ``method`` layout of exactly these embeddings is kept."""
    digest = hashlib.sha1(f"v{CACHE_VERSION}:{method}:{image.shape}:{text.shape}".encode())
    for arr in (image, text):
        digest.update(np.ascontiguousarray(arr, dtype=np.float32).tobytes())
    return Path(home) / "cache" / "projections" / f"{digest.hexdigest()}-{method}.npy"


def cached_layout(home: Path, image: np.ndarray, text: np.ndarray) -> np.ndarray | None:
    """The cached UMAP layout of these embeddings, or None."""
    path = cache_path(home, image, text)
    return np.load(path, allow_pickle=False) if path.is_file() else None


def umap_layout(home: Path, image: np.ndarray, text: np.ndarray, timeout: float = TIMEOUT_S) -> np.ndarray:
    """The UMAP layout (N + M, 2) of these embeddings: from the cache, else from a child process."""
    found = cached_layout(home, image, text)
    if found is not None:
        return found
    out = cache_path(home, image, text)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as folder:
        source = Path(folder) / "embeddings.npz"
        np.savez(source, image=np.asarray(image, dtype=np.float32), text=np.asarray(text, dtype=np.float32))
        argv = [sys.executable, "-m", "gapviz.app.projection_cache", str(source), str(out)]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ProjectionError(f"UMAP took longer than {timeout:.0f} s; use PCA") from None
    if done.returncode != 0 or not out.is_file():
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ProjectionError(f"UMAP failed in its process: {detail}")
    return np.load(out, allow_pickle=False)


def main(argv: list[str] | None = None) -> int:
    """Child entry: read IN (.npz with image, text), write the UMAP layout to OUT (.npy) atomically."""
    source, dest = (argv if argv is not None else sys.argv[1:])[:2]
    from gapviz.science.projection import umap_project

    with np.load(source, allow_pickle=False) as data:
        layout = umap_project(data["image"], data["text"]).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, layout)
    atomic_write_bytes(Path(dest), buffer.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
