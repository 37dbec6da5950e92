"""The notebook entry: ``gapviz.analyze(image, text)`` returns every metric with its interval as a typed result.

    import gapviz
    result = gapviz.analyze(image, text)             # numpy arrays or torch tensors, (N, D) and (M, D)
    result["gap_distance_unbiased"], result.interval("gap_distance_unbiased")
    result.to_dict()                                 # the same object as `gapviz analyze FILE --json`
    result.sizes                                     # pairs each subsampled metric used (retrieval_n, ...)
    gapviz.analyze(image, text, fix="centre").after  # a fix fitted on half the images, measured on the other half

The CLI's ``analyze`` calls this module, so the two cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gapviz.science import catalog


def _json_ready(value: Any) -> Any:
    """NaN becomes None (inside [lo, hi] intervals too), so the result is strict JSON."""
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


@dataclass(frozen=True)
class Analysis:
    """Every metric of one set of embeddings: values, 95% intervals, flags and the subsample sizes used."""

    values: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    flags: dict[str, bool]
    sizes: dict[str, float]
    raw: dict[str, Any]
    """compute_all's result, in its order (what to_dict prints)."""

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Analysis:
        """Sort compute_all's keys into values, intervals, flags and sizes by the catalog."""
        from gapviz.science.chunked import RETRIEVAL_N

        flags = {k: bool(raw[k]) for k in catalog.FLAG_NAMES if k in raw}
        sizes = {k: float(raw[k]) for k in (RETRIEVAL_N, *catalog.SIZE_KEYS) if k in raw}
        intervals = {k[: -len("_ci95")]: (float(v[0]), float(v[1])) for k, v in raw.items() if k.endswith("_ci95")}
        values = {
            k: float(v)
            for k, v in raw.items()
            if k not in flags and k not in sizes and not k.endswith("_ci95") and isinstance(v, (int, float))
        }
        return cls(values=values, intervals=intervals, flags=flags, sizes=sizes, raw=dict(raw))

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    def interval(self, key: str) -> tuple[float, float]:
        """The 95% interval of a metric ((nan, nan) when it has none)."""
        return self.intervals.get(key, (float("nan"), float("nan")))

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON dict, equal to ``gapviz analyze FILE --json`` on the same arrays and options."""
        return {k: _json_ready(v) for k, v in self.raw.items()}


@dataclass(frozen=True)
class FixedAnalysis:
    """Before and after a training-free fix, both measured on the held-out images the fix was not fitted on."""

    fix: str
    split: dict[str, Any]
    before: Analysis
    after: Analysis

    def to_dict(self) -> dict[str, Any]:
        """Equal to ``gapviz analyze FILE --fix … --json``."""
        return {"fix": self.fix, "split": self.split, "before": self.before.to_dict(), "after": self.after.to_dict()}


def analyze(
    image: Any,
    text: Any,
    *,
    text_image_index: Any | None = None,
    resamples: int = 1000,
    seed: int = 0,
    fix: str | None = None,
    labels: Any | None = None,
    class_text: Any | None = None,
) -> Analysis | FixedAnalysis:
    """Every gap metric of paired embeddings with 95% intervals (``resamples`` bootstrap draws, seeded).

    ``fix`` ("centre", "standardise", "ablate:K") fits on a seeded half of the images and measures before
    and after on the other half. ``labels`` (one class per image) with ``class_text`` (one row per class) add
    zero-shot accuracy. Raises GapvizError subclasses with one-line messages for bad input.

    Above gapviz.science.chunked.SUBSAMPLE_PAIRS pairs with one caption per image (a memory-mapped file from
    gapviz.data.embedding_files), the sums run in chunks on every pair and retrieval and the O(N²) metrics on a
    seeded subsample (``sizes``); ``fix`` reads both halves into memory.
    """
    from gapviz.science.fixes import held_out_fix, parse_fix
    from gapviz.science.metrics import compute_all, zero_shot_accuracy

    options: dict[str, Any] = {"modality_probe": True, "n_resamples": resamples, "seed": seed}
    if fix is None:
        raw = compute_all(image, text, text_image_index, labels=labels, **options)
        if labels is not None and class_text is not None:
            raw["zero_shot"] = zero_shot_accuracy(image, class_text, labels)
        return Analysis.of(raw)
    parsed = parse_fix(fix)
    held = held_out_fix(parsed, image, text, text_image_index, seed=seed)
    measured = np.asarray(labels)[held.split.measured] if labels is not None else None
    before = compute_all(held.image_before, held.text_before, held.text_image_index, labels=measured, **options)
    after = compute_all(held.image, held.text, held.text_image_index, labels=measured, **options)
    if measured is not None and class_text is not None:
        before["zero_shot"] = zero_shot_accuracy(held.image_before, class_text, measured)
        after["zero_shot"] = zero_shot_accuracy(held.image, held.text_map(class_text), measured)
    return FixedAnalysis(parsed.label, held.split.as_dict(), Analysis.of(before), Analysis.of(after))
