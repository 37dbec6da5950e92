"""Training-free fixes of the gap, applied to embeddings so every metric can be compared before and after.

- ``centre``: subtract each modality's mean, renormalise (the first step of C3, Zhang et al., ICLR 2024);
- ``standardise``: z-score each coordinate per modality, renormalise (I0T's post-hoc variant, An et al., ACL 2025);
- ``ablate:K``: zero the K coordinates with the largest |c_X − c_Y|, renormalise (Schrodi et al., ICLR 2025).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gapviz.errors import GapvizError

FIX_CHOICES = ("centre", "standardise", "ablate:K")


class FixError(GapvizError):
    """A --fix value that is not one of FIX_CHOICES."""


@dataclass(frozen=True)
class Fix:
    """One parsed fix: its kind and, for ablate, how many coordinates to zero."""

    kind: str
    k: int = 0

    @property
    def label(self) -> str:
        """How the fix is written on the command line: centre, standardise, ablate:K."""
        return f"ablate:{self.k}" if self.kind == "ablate" else self.kind


def parse_fix(text: str) -> Fix:
    """``centre`` (or center), ``standardise`` (or standardize), ``ablate:K`` with K ≥ 1; FixError otherwise."""
    value = text.strip().lower()
    if value in ("centre", "center"):
        return Fix("centre")
    if value in ("standardise", "standardize"):
        return Fix("standardise")
    if value.startswith("ablate:") and value[7:].isdigit() and int(value[7:]) >= 1:
        return Fix("ablate", int(value[7:]))
    raise FixError(f"--fix must be one of {', '.join(FIX_CHOICES)} (K a positive integer), got {text!r}")


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


Transform = Callable[[np.ndarray], np.ndarray]


def _affine(mean: np.ndarray, scale: np.ndarray) -> Transform:
    return lambda rows: _unit((_unit(np.asarray(rows, dtype=np.float64)) - mean) / scale)


def fit_fix(fix: Fix, image: np.ndarray, text: np.ndarray) -> tuple[Transform, Transform]:
    """The image-side and text-side maps of ``fix``, with statistics taken from these embeddings.

    The text map also applies to other text embeddings of the same model (zero-shot class prompts).
    """
    x, y = _unit(np.asarray(image, dtype=np.float64)), _unit(np.asarray(text, dtype=np.float64))
    ones = np.ones(x.shape[1])
    if fix.kind == "centre":
        return _affine(x.mean(axis=0), ones), _affine(y.mean(axis=0), ones)
    if fix.kind == "standardise":

        def sd(a: np.ndarray) -> np.ndarray:
            s = a.std(axis=0)
            return np.where(s > 0, s, 1.0)

        return _affine(x.mean(axis=0), sd(x)), _affine(y.mean(axis=0), sd(y))
    if fix.kind == "ablate":
        if fix.k >= x.shape[1]:
            raise FixError(f"ablate:{fix.k} would zero every one of the {x.shape[1]} coordinates")
        keep = np.ones(x.shape[1])
        keep[np.argsort(-np.abs(x.mean(axis=0) - y.mean(axis=0)), kind="stable")[: fix.k]] = 0.0

        def ablate(rows: np.ndarray) -> np.ndarray:
            return _unit(_unit(np.asarray(rows, dtype=np.float64)) * keep)

        return ablate, ablate
    raise FixError(f"unknown fix {fix.kind!r}")


def apply_fix(fix: Fix, image: np.ndarray, text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fixed, renormalised (image, text) rows (float64)."""
    image_map, text_map = fit_fix(fix, image, text)
    return image_map(image), text_map(text)
