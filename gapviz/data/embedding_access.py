"""Which embedding files on this machine the app may open by path: the access boundary of Explore's path field.

Allowed: a file whose real path (symlinks and ``..`` resolved) lies under ``$GAPVIZ_HOME/embeddings`` or under a
folder listed in ``$GAPVIZ_EMBEDDINGS_DIRS`` (``os.pathsep``-separated), or a *registered* file: a symlink directly
in ``$GAPVIZ_HOME/embeddings`` that this user owns, in that folder only this user can write (``gapviz explore FILE``
makes one for a file elsewhere). Any other user of the machine can reach the app on 127.0.0.1, so a path in a URL
opens only what its owner put in reach; everything else is refused with one line naming the path.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from gapviz.data.embedding_files import SUFFIXES
from gapviz.errors import GapvizError

EMBEDDINGS_DIR = "embeddings"
"""The folder under $GAPVIZ_HOME that Explore may always open files from (and where registrations live)."""
DIRS_ENV = "GAPVIZ_EMBEDDINGS_DIRS"
"""More folders Explore may open files from, separated by os.pathsep."""
MAX_PATH_CHARS = 4096


class EmbeddingAccessError(GapvizError):
    """A path Explore may not open (outside the allowed folders, missing, or not an embeddings file)."""


def registry_dir(home: str | Path) -> Path:
    """$GAPVIZ_HOME/embeddings: always allowed, and where `gapviz explore` registers files from elsewhere."""
    return Path(home) / EMBEDDINGS_DIR


def allowed_roots(home: str | Path) -> list[Path]:
    """The folders Explore may open files from, resolved: the registry folder, then $GAPVIZ_EMBEDDINGS_DIRS."""
    listed = [registry_dir(home)] + [Path(p).expanduser() for p in os.environ.get(DIRS_ENV, "").split(os.pathsep) if p]
    return [p.resolve() for p in listed]


def _registered(candidate: Path, home: str | Path) -> bool:
    """A symlink of this user directly in the registry folder, which no one else can write."""
    folder = registry_dir(home)
    if candidate.parent != folder.absolute():
        return False
    try:
        link, where = os.lstat(candidate), os.stat(folder)
    except OSError:
        return False
    private = not where.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    return stat.S_ISLNK(link.st_mode) and link.st_uid == os.getuid() and where.st_uid == os.getuid() and private


def resolve_allowed(path_text: str, home: str | Path) -> Path:
    """The real path of an allowed embeddings file, or EmbeddingAccessError (one line) saying why not."""
    text = str(path_text).strip()
    if not text or len(text) > MAX_PATH_CHARS or "\x00" in text:
        raise EmbeddingAccessError(f"give the path of an embeddings file (at most {MAX_PATH_CHARS} characters)")
    candidate = Path(os.path.abspath(Path(text).expanduser()))
    real = candidate.resolve()
    inside = any(real.is_relative_to(root) for root in allowed_roots(home))
    if not (inside or _registered(candidate, home)):
        roots = ", ".join(str(r) for r in allowed_roots(home))
        raise EmbeddingAccessError(
            f"{text!r} is outside the folders Explore may open ({roots}; more through ${DIRS_ENV}, "
            "or `gapviz explore FILE`)"
        )
    if real.suffix.lower() not in SUFFIXES:
        raise EmbeddingAccessError(f"{text!r} is not an embeddings file ({', '.join(SUFFIXES)})")
    if not real.is_file():
        raise EmbeddingAccessError(f"{text!r}: no such file")
    return real


def register(path: str | Path, home: str | Path) -> Path:
    """A path Explore may open for ``path``: itself when allowed, else a symlink made in the registry folder."""
    real = Path(path).expanduser().resolve()
    if not real.is_file() or real.suffix.lower() not in SUFFIXES:
        raise EmbeddingAccessError(f"{str(path)!r} is not an embeddings file ({', '.join(SUFFIXES)})")
    if any(real.is_relative_to(root) for root in allowed_roots(home)):
        return real
    folder = registry_dir(home)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    digest = hashlib.sha1(str(real).encode()).hexdigest()[:10]
    link = folder / f"{real.stem[:60]}-{digest}{real.suffix.lower()}"
    if not (link.is_symlink() and link.resolve() == real):
        link.unlink(missing_ok=True)
        link.symlink_to(real)
    return link
