"""Pure data preparation for the pages: arrays and records in, tidy data frames out.

No Streamlit and no torch here, so the web process can import it on every page and tests can
check it directly. Numbers come from gapviz's own functions upstream; these helpers only
reshape them (sampling, flattening, binning) for the chart builders in gapviz.charts.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from gapviz.science import catalog

MAX_SCATTER_PAIRS = 5000
"""Pairs drawn in one scatter (10,000 points); bigger sets are sampled, with a note."""
MAX_PAIR_LINES = 400
"""Lines between pairs drawn at most (more is clutter, not information)."""
MAX_THUMBNAILS = 400
"""Images that get a hover thumbnail at most (each is a small PNG data URI)."""
THUMBNAIL_SIZE = 48
HISTOGRAM_MAX_ROWS = 1500
"""Rows per modality used for the pairwise-cosine histogram (the rest is sampled away)."""
CURVE_METRICS = catalog.in_view("curve")
"""Per-epoch metrics drawn as curves (Live, Compare), from the metric catalog."""


# ---- embedding scatter -----------------------------------------------------------------
def pair_index(n_image: int, n_text: int, text_image_index: np.ndarray | None) -> np.ndarray:
    """Caption j -> its image; identity when absent and counts match, else -1 (unknown)."""
    if text_image_index is None:
        return np.arange(n_text) if n_text == n_image else np.full(n_text, -1, dtype=np.int64)
    return np.asarray(text_image_index, dtype=np.int64)


def sample_images(n_image: int, max_pairs: int = MAX_SCATTER_PAIRS, seed: int = 0) -> np.ndarray:
    """Sorted indices of the images kept in a scatter: all of them up to ``max_pairs``."""
    if n_image <= max_pairs:
        return np.arange(n_image)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_image, size=max_pairs, replace=False))


def thumbnail_uri(image: np.ndarray, size: int = THUMBNAIL_SIZE) -> str:
    """A uint8 (H, W, 3) image as a small PNG data URI for a chart tooltip."""
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(image.astype(np.uint8)))
    if max(picture.size) != size:
        picture = picture.resize(
            (size, size), Image.Resampling.NEAREST if max(picture.size) < size else Image.Resampling.BILINEAR
        )
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def first_captions(n_image: int, idx: np.ndarray, captions: Sequence[str] | None) -> list[str]:
    """The first caption of every image ("" for an image without one, or without captions)."""
    out = [""] * n_image
    if captions is None:
        return out
    paired = np.flatnonzero(idx >= 0)
    images, first = np.unique(idx[paired], return_index=True)
    for image, j in zip(images.tolist(), paired[first].tolist(), strict=True):
        out[image] = captions[j]
    return out


def pair_subset(idx: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Captions whose image is in sorted ``kept``, and their image as a position in ``kept``."""
    captions = np.flatnonzero(np.isin(idx, kept))
    return captions, np.searchsorted(kept, idx[captions]).astype(np.int64)


def class_names_of(labels: np.ndarray | None, class_names: Sequence[str] | None) -> list[str] | None:
    """Readable class of every label (the number itself when no name is known)."""
    if labels is None:
        return None
    names = list(class_names or [])
    return [names[v] if 0 <= v < len(names) else str(v) for v in np.asarray(labels, dtype=np.int64).tolist()]


def _modality_rows(
    coords: np.ndarray, rows: np.ndarray, modality: str, pair: np.ndarray, captions: list[str]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": coords[rows, 0],
            "y": coords[rows, 1],
            "modality": modality,
            "pair": pair,
            "row": rows,
            "caption": captions,
        }
    )


def _thumbnail_columns(
    images: np.ndarray, kept: np.ndarray, text_pairs: np.ndarray, limit: int
) -> tuple[list[str], list[str]]:
    """Data-URI thumbnails of the first ``limit`` kept images, for image rows and for caption rows."""
    thumbs = [thumbnail_uri(images[i]) if rank < limit else "" for rank, i in enumerate(kept)]
    ranks = np.searchsorted(kept, text_pairs)
    return thumbs, [thumbs[r] if i >= 0 and r < limit else "" for r, i in zip(ranks, text_pairs, strict=True)]


def pair_line_frame(
    coords: np.ndarray, n_image: int, idx: np.ndarray, captions: np.ndarray, max_lines: int
) -> pd.DataFrame:
    """One line per (caption, image) pair of the given caption rows, the first ``max_lines`` of them."""
    drawn = captions[idx[captions] >= 0][:max_lines]
    ends = coords[idx[drawn]]
    starts = coords[n_image + drawn]
    return pd.DataFrame({"x": starts[:, 0], "y": starts[:, 1], "x2": ends[:, 0], "y2": ends[:, 1]})


def scatter_frames(
    coords: np.ndarray,
    n_image: int,
    text_image_index: np.ndarray | None = None,
    captions: Sequence[str] | None = None,
    *,
    images: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    max_pairs: int = MAX_SCATTER_PAIRS,
    max_lines: int = MAX_PAIR_LINES,
    max_thumbnails: int = MAX_THUMBNAILS,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """Points, pair lines and the gap arrow of one 2-D projection, plus a note on sampling.

    ``coords`` is (N + M, 2), image rows first (the RunStore layout); ``row`` in the points is
    that row. Images beyond ``max_pairs`` are sampled away together with their captions, so
    pairs stay whole. The arrow runs from the text centroid to the image centroid of all points.
    """
    coords = np.asarray(coords, dtype=np.float64)
    n_text = len(coords) - n_image
    idx = pair_index(n_image, n_text, text_image_index)
    kept = sample_images(n_image, max_pairs, seed)
    keep_text = np.flatnonzero(np.isin(idx, kept) | (idx < 0))
    notes = []
    if len(kept) < n_image:
        notes.append(
            f"showing {len(kept):,} of {n_image:,} images (random sample) and their {len(keep_text):,} captions"
        )
    firsts = first_captions(n_image, idx, captions)
    image_rows = _modality_rows(coords, kept, "image", kept, [firsts[i] for i in kept])
    text_captions = [captions[j] for j in keep_text.tolist()] if captions is not None else [""] * len(keep_text)
    text_rows = _modality_rows(coords, n_image + keep_text, "text", idx[keep_text], text_captions)
    names = class_names_of(labels, class_names)
    if names is not None:
        image_rows["label"] = [names[i] for i in kept]
        text_rows["label"] = [names[i] if i >= 0 else "" for i in idx[keep_text]]
    if images is not None and max_thumbnails > 0:
        image_rows["image"], text_rows["image"] = _thumbnail_columns(images, kept, idx[keep_text], max_thumbnails)
        if len(kept) > max_thumbnails:
            notes.append(f"hover thumbnails for the first {max_thumbnails} images")
    if len(keep_text) > max_lines:
        notes.append(f"lines for {max_lines} of {len(keep_text):,} pairs")
    points = pd.concat([image_rows, text_rows], ignore_index=True)
    lines = pair_line_frame(coords, n_image, idx, keep_text, max_lines)
    return points, lines, gap_arrow_frame(coords, n_image), "; ".join(notes)


def gap_arrow_frame(coords: np.ndarray, n_image: int) -> pd.DataFrame:
    """One row: text centroid (x, y) -> image centroid (x2, y2), its 2-D length and heading."""
    coords = np.asarray(coords, dtype=np.float64)
    image_c = coords[:n_image].mean(axis=0)
    text_c = coords[n_image:].mean(axis=0)
    dx, dy = image_c - text_c
    # Vega's angle is clockwise from "up" in screen space, where y grows downwards.
    angle = (math.degrees(math.atan2(dx, dy)) + 360.0) % 360.0
    return pd.DataFrame(
        {
            "x": [text_c[0]],
            "y": [text_c[1]],
            "x2": [image_c[0]],
            "y2": [image_c[1]],
            "gap": [float(np.hypot(dx, dy))],
            "angle": [angle],
        }
    )


def axis_domains(
    coord_sets: Iterable[np.ndarray], pad: float = 0.05
) -> tuple[tuple[float, float], tuple[float, float]]:
    """x and y ranges covering every projection given (all epochs: axes that stay still)."""
    stacked = [np.asarray(c, dtype=np.float64) for c in coord_sets if c is not None and len(c)]
    if not stacked:
        return (-1.0, 1.0), (-1.0, 1.0)
    lo = np.min([c.min(axis=0) for c in stacked], axis=0)
    hi = np.max([c.max(axis=0) for c in stacked], axis=0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad * span, hi + pad * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


# ---- cone histogram ----------------------------------------------------------------------
def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def cosine_histogram_frame(
    image: np.ndarray, text: np.ndarray, bins: int = 60, max_rows: int = HISTOGRAM_MAX_ROWS, seed: int = 0
) -> pd.DataFrame:
    """Densities of cos(a_i, a_j), i ≠ j, within each modality (rows sampled above ``max_rows``)."""
    rng = np.random.default_rng(seed)
    edges = np.linspace(-1.0, 1.0, bins + 1)
    frames = []
    for name, arr in (("image", image), ("text", text)):
        if len(arr) > max_rows:  # sampled before normalising: a memory-mapped set is never copied whole
            arr = arr[rng.choice(len(arr), max_rows, replace=False)]
        arr = _unit(arr)
        if len(arr) < 2:
            continue
        sims = arr @ arr.T
        values = sims[np.triu_indices(len(arr), k=1)]
        density, _ = np.histogram(np.clip(values, -1.0, 1.0), bins=edges, density=True)
        frames.append(pd.DataFrame({"modality": name, "lo": edges[:-1], "hi": edges[1:], "density": density}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["modality", "lo", "hi", "density"])


# ---- per-epoch curves ----------------------------------------------------------------------
def _interval(row: Mapping[str, Any], name: str) -> tuple[float, float]:
    """The row's ``<name>_ci95`` as (lo, hi), NaN when absent or malformed."""
    ci = row.get(f"{name}_ci95")
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(v, (int, float)) for v in ci):
        return float(ci[0]), float(ci[1])
    return math.nan, math.nan


def curves_frame(
    rows: Sequence[Mapping[str, Any]], series: str, metrics: Sequence[str] = CURVE_METRICS
) -> pd.DataFrame:
    """Long format (epoch, metric, value, series, lo, hi) of one run's epoch rows; lo/hi = the 95% interval or NaN.

    Without any interval the lo/hi columns are left out (no band is drawn)."""
    records = [
        {
            "epoch": int(row["epoch"]),
            "metric": name,
            "value": float(row[name]),
            "series": series,
            **dict(zip(("lo", "hi"), _interval(row, name), strict=True)),
        }
        for row in rows
        for name in metrics
        if isinstance(row.get(name), (int, float))
        and not isinstance(row.get(name), bool)
        and math.isfinite(float(row[name]))
    ]
    frame = pd.DataFrame.from_records(records, columns=["epoch", "metric", "value", "series", "lo", "hi"])
    return frame if frame[["lo", "hi"]].notna().any().any() else frame.drop(columns=["lo", "hi"])


def spectrum_frame(spectrum: Sequence[tuple[int, float, float]]) -> pd.DataFrame:
    """Bars of the gap spectrum: (dimension, difference c_X − c_Y, share of ‖c_X − c_Y‖²), largest first."""
    return pd.DataFrame.from_records(list(spectrum), columns=["dimension", "difference", "share"])


# ---- configs --------------------------------------------------------------------------
def config_diff(flat: Mapping[str, Mapping[str, Any]], ignore: Sequence[str] = ("name",)) -> pd.DataFrame:
    """Rows: the settings (dotted paths of ``flat``, run -> flattened config) whose values differ between runs;
    columns: the runs."""
    keys = sorted({k for f in flat.values() for k in f} - set(ignore))
    differing = [k for k in keys if len({repr(f.get(k)) for f in flat.values()}) > 1]
    table = pd.DataFrame({run: [_cell(f.get(k)) for k in differing] for run, f in flat.items()}, index=differing)
    table.index.name = "setting"
    return table


def _cell(value: Any) -> str:
    return "—" if value is None else str(value)


# ---- progress ---------------------------------------------------------------------------
def eta_seconds(global_step: int, total_steps: int, samples_per_s: float, batch_size: int) -> float | None:
    """Seconds left at the current speed (None when unknown)."""
    if samples_per_s <= 0 or batch_size <= 0 or total_steps <= 0:
        return None
    steps_left = max(0, total_steps - global_step)
    return steps_left * batch_size / samples_per_s


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


# ---- sweeps -----------------------------------------------------------------------------
def parse_list(text: str) -> list[str]:
    """``"0.01, 0.03  0.1"`` -> ``["0.01", "0.03", "0.1"]`` (commas or spaces)."""
    return [item for item in text.replace(",", " ").split() if item]


def parse_seeds(text: str) -> list[int]:
    """Seeds as ``"0, 1, 2"`` or a range ``"0-4"``; raises ValueError with a readable message."""
    seeds: list[int] = []
    for item in parse_list(text):
        if "-" in item.strip("-"):
            start, stop = item.split("-", 1)
            first, last = int(start), int(stop)
            if last < first:
                raise ValueError(f"seed range {item!r} runs backwards")
            seeds.extend(range(first, last + 1))
        else:
            seeds.append(int(item))
    if any(s < 0 for s in seeds):
        raise ValueError("seeds must be non-negative integers")
    return list(dict.fromkeys(seeds))


# ---- live progress ------------------------------------------------------------------------
SPEED_HALF_LIFE_STEPS = 50.0
"""Optimiser steps after which an old speed reading weighs half as much in Live's smoothed speed and ETA."""


def smoothed_speed(
    previous: tuple[int, float] | None, step: Mapping[str, Any], half_life: float = SPEED_HALF_LIFE_STEPS
) -> tuple[int, float] | None:
    """(global step, seconds per sample): an EMA over optimiser steps of each step's own time per sample.

    Why: one step's speed jumps (58 ↔ 1,570 samples/s), so ETA swung by minutes. Time per sample is averaged
    (what an ETA sums), weighted by the steps since the last reading. Eval pauses never enter: a step's speed
    is timed over that step only, and step 1 of an epoch (the warm-up after an evaluation) is skipped once an
    estimate exists; a repeated or earlier step (a resume) keeps or restarts the estimate.
    """
    speed = float(step.get("samples_per_s") or 0.0)
    global_step = int(step.get("global_step") or 0)
    if not math.isfinite(speed) or speed <= 0:
        return previous
    if previous is None or global_step < previous[0]:
        return global_step, 1.0 / speed
    if global_step == previous[0] or int(step.get("step") or 0) <= 1:
        return previous
    weight = 1.0 - 0.5 ** ((global_step - previous[0]) / half_life)
    return global_step, previous[1] + weight * (1.0 / speed - previous[1])


def samples_per_second(smoothed: tuple[int, float] | None) -> float | None:
    """The smoothed speed in samples per second (None before the first reading)."""
    return 1.0 / smoothed[1] if smoothed and smoothed[1] > 0 else None


LAST_VALUE_KEYS = {"loss": "train_loss", "tau": "tau", "samples_per_s": "samples_per_s", "lr": "lr"}
"""A step's figure -> the epoch metric that holds the same figure when no step is known (a finished run)."""


def last_values(step: Mapping[str, Any] | None, epoch_metrics: Mapping[str, Any] | None) -> dict[str, float | None]:
    """Train loss, τ, samples/s and learning rate: the last step's, else the last epoch's (never blank
    when the run recorded them)."""
    out: dict[str, float | None] = {}
    for key, metric in LAST_VALUE_KEYS.items():
        for value in ((step or {}).get(key), (epoch_metrics or {}).get(metric)):
            if isinstance(value, (int, float)) and math.isfinite(value):
                out[key] = float(value)
                break
        else:
            out[key] = None
    return out


# ---- waiting for data ---------------------------------------------------------------------
def smoothed_data_wait(
    previous: tuple[int, float] | None, step: Mapping[str, Any], half_life: float = SPEED_HALF_LIFE_STEPS
) -> tuple[int, float] | None:
    """(global step, seconds per step waited for data): an EMA over the same steps and with the same weights as
    :func:`smoothed_speed`, so the two give the share of step time spent waiting (:func:`data_wait_share`)."""
    wait = step.get("data_wait_s")
    global_step = int(step.get("global_step") or 0)
    if not isinstance(wait, (int, float)) or not math.isfinite(wait) or wait < 0:
        return previous
    if previous is None or global_step < previous[0]:
        return global_step, float(wait)
    if global_step == previous[0] or int(step.get("step") or 0) <= 1:
        return previous
    weight = 1.0 - 0.5 ** ((global_step - previous[0]) / half_life)
    return global_step, previous[1] + weight * (float(wait) - previous[1])


def data_wait_share(
    wait: tuple[int, float] | None,
    speed: tuple[int, float] | None,
    samples_per_step: int,
    epoch_metrics: Mapping[str, Any] | None = None,
) -> float | None:
    """Share of a step spent waiting for its batch: the smoothed wait over the smoothed step time, else the
    last epoch's ``data_wait_share`` (a finished run), else None."""
    if wait is not None and speed is not None and speed[1] > 0 and samples_per_step > 0:
        return min(1.0, wait[1] / (speed[1] * samples_per_step))
    recorded = (epoch_metrics or {}).get("data_wait_share")
    return float(recorded) if isinstance(recorded, (int, float)) and math.isfinite(recorded) else None
