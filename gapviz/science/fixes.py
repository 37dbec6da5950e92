"""Training-free fixes of the gap, applied to embeddings so every metric can be compared before and after.

- ``centre``: subtract each modality's mean, renormalise (the first step of C3, Zhang et al., ICLR 2024);
- ``standardise``: z-score each coordinate per modality, renormalise (I0T's post-hoc variant, An et al., ACL 2025);
- ``ablate:K``: zero the K coordinates with the largest |c_X − c_Y|, renormalise (Schrodi et al., ICLR 2025).

A fix measured on the rows it was fitted on grades its own homework: centring on every row makes the
modality probe's held-out folds mirror its training folds, and the probe reads below chance.
:func:`held_out_fix` fits on a seeded calibration part of the images (each with all its captions)
and returns the other part, fixed, for measuring; :func:`apply_fix` (fit and apply on the same rows)
is the plain definition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gapviz.errors import GapvizError
from gapviz.science.pairs import pair_index

FIX_CHOICES = ("centre", "standardise", "ablate:K")
FIT_FRACTION = 0.5
"""Share of the images a fix is fitted on by default; the rest are measured."""
MIN_PART_IMAGES = 2
"""Images each part needs at least (a mean and a spread per part)."""


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


@dataclass(frozen=True, eq=False)
class FixSplit:
    """Which images (with all their captions) a fix was fitted on and which it is measured on."""

    fitted: np.ndarray
    """Sorted image indices of the calibration part."""
    measured: np.ndarray
    """Sorted image indices of the held-out part (disjoint from ``fitted``)."""
    fitted_captions: np.ndarray
    """Sorted caption indices whose image is in ``fitted``."""
    measured_captions: np.ndarray
    """Sorted caption indices whose image is in ``measured``."""
    seed: int
    one_caption_each: bool
    """Whether every image has exactly one caption (its own row), so the parts are counted in pairs."""

    @property
    def n_fitted(self) -> int:
        return int(len(self.fitted))

    @property
    def n_measured(self) -> int:
        return int(len(self.measured))

    def describe(self) -> str:
        """One line for the CLI and the app: 'fitted on 250 pairs, measured on the other 250 (seed 0)'."""
        if self.one_caption_each:
            return f"fitted on {self.n_fitted:,} pairs, measured on the other {self.n_measured:,} (seed {self.seed})"
        return (
            f"fitted on {self.n_fitted:,} images and their {len(self.fitted_captions):,} captions, measured on "
            f"the other {self.n_measured:,} images and {len(self.measured_captions):,} captions (seed {self.seed})"
        )

    def as_dict(self) -> dict[str, object]:
        """The split for JSON: counts, seed and the sentence of :meth:`describe`."""
        return {
            "fitted_images": self.n_fitted,
            "measured_images": self.n_measured,
            "fitted_captions": int(len(self.fitted_captions)),
            "measured_captions": int(len(self.measured_captions)),
            "seed": self.seed,
            "text": self.describe(),
        }


def split_images(
    n_image: int, text_image_index: np.ndarray | None, *, fraction: float = FIT_FRACTION, seed: int = 0
) -> FixSplit:
    """A seeded split of the images into a calibration part (``fraction`` of them) and the held-out rest.

    Each image keeps all its captions; ``text_image_index`` None means caption i belongs to image i.
    """
    n_text = n_image if text_image_index is None else len(text_image_index)
    idx = pair_index(n_image, n_text, text_image_index)
    n_fit = int(round(fraction * n_image))
    if min(n_fit, n_image - n_fit) < MIN_PART_IMAGES:
        raise FixError(
            f"{n_image} images are too few to fit a fix on {fraction:.0%} of them and measure it on the rest "
            f"(each part needs at least {MIN_PART_IMAGES})"
        )
    order = np.random.default_rng(seed).permutation(n_image)
    fitted, measured = np.sort(order[:n_fit]), np.sort(order[n_fit:])
    one_each = text_image_index is None or np.array_equal(np.sort(idx), np.arange(n_image))
    return FixSplit(
        fitted=fitted,
        measured=measured,
        fitted_captions=np.flatnonzero(np.isin(idx, fitted)),
        measured_captions=np.flatnonzero(np.isin(idx, measured)),
        seed=seed,
        one_caption_each=bool(one_each),
    )


@dataclass(frozen=True, eq=False)
class HeldOutFix:
    """A fix fitted on the calibration part, and the held-out part before and after it."""

    fix: Fix
    split: FixSplit
    image_map: Transform
    """The image-side map, fitted on the calibration images only."""
    text_map: Transform
    """The text-side map, fitted on the calibration captions only; applies to other text (class prompts)."""
    image_before: np.ndarray
    """Held-out image rows as given."""
    text_before: np.ndarray
    """Held-out caption rows as given."""
    image: np.ndarray
    """Held-out image rows after the fix (float64, unit rows)."""
    text: np.ndarray
    """Held-out caption rows after the fix (float64, unit rows)."""
    text_image_index: np.ndarray | None
    """Held-out caption → held-out image (positions in ``image``); None when the input had none."""


def held_out_fix(
    fix: Fix,
    image: np.ndarray,
    text: np.ndarray,
    text_image_index: np.ndarray | None = None,
    *,
    fraction: float = FIT_FRACTION,
    seed: int = 0,
) -> HeldOutFix:
    """``fix`` fitted on a seeded calibration part of the images and applied to the held-out rest.

    Measuring the held-out part (before and after) keeps the fix from scoring its own fit.
    """
    image, text = np.asarray(image), np.asarray(text)
    split = split_images(len(image), text_image_index, fraction=fraction, seed=seed)
    image_map, text_map = fit_fix(fix, image[split.fitted], text[split.fitted_captions])
    image_before, text_before = image[split.measured], text[split.measured_captions]
    index = None
    if text_image_index is not None:
        caption_images = np.asarray(text_image_index, dtype=np.int64)[split.measured_captions]
        index = np.searchsorted(split.measured, caption_images).astype(np.int64)
    return HeldOutFix(
        fix=fix,
        split=split,
        image_map=image_map,
        text_map=text_map,
        image_before=image_before,
        text_before=text_before,
        image=image_map(image_before),
        text=text_map(text_before),
        text_image_index=index,
    )
