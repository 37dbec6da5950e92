"""Image-caption data sets: built-in synthetic scenes, COCO captions and open_clip-style CSV."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gapviz.errors import GapvizError


@dataclass
class PairData:
    """Decoded images and their captions, ready for training or evaluation.

    ``images`` is uint8 (N, H, W, 3), possibly a read-only memory map of the decoded-image cache.
    Caption j describes image ``caption_image[j]``; with mismatched pairs it was swapped for the
    caption of another image and ``mismatched[j]`` is True (training splits only).
    """

    images: np.ndarray
    captions: list[str]
    caption_image: np.ndarray
    labels: np.ndarray | None = None
    """Class id per image, for zero-shot evaluation (None when the data has no labels)."""
    class_prompts: list[str] | None = None
    """One text prompt per class id, e.g. "a photo of a red circle"."""
    mismatched: np.ndarray | None = None
    skipped: int = 0
    """Images skipped as unreadable (only with data.skip_broken)."""

    def __len__(self) -> int:
        return len(self.captions)

    @property
    def num_images(self) -> int:
        return int(self.images.shape[0])


class DataError(GapvizError):
    """Unusable data: a missing or malformed file, or a broken image; the message names the file."""
