"""Points picked in the Explore scatter, turned into pairs, metrics, tables and neighbours.

No Streamlit here: the page hands in the joint rows of a selection (image rows first, then
captions, as the projections store them) and shows the frames these functions return. Tables
carry thumbnails as PNG data URIs (st.column_config.ImageColumn shows them) and captions as
plain text cells, never markup.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gapviz import format as fmt
from gapviz.app.shared import frames
from gapviz.app.shared.analysis import Analysis, metric_sample, pair_metrics
from gapviz.science import catalog
from gapviz.science.neighbours import Neighbours, nearest, point_neighbours

MIN_SELECTED_PAIRS = 2
"""Fewer pairs have no spread: the metrics need two at least."""
TABLE_ROWS = 200
"""Selected pairs listed at most (with thumbnails)."""
TABLE_METRICS = catalog.in_view("selection")
"""Metrics of a selection's table, from the metric catalog."""
SEARCH_CHUNK = 32_768
"""Rows compared with a query at a time when a modality has more (neighbours of a memory-mapped set, chunk by chunk)."""
MEMO_POINTS = 32
"""Points whose neighbours a source keeps (each search of a million rows reads them all once)."""


def selected_pairs(analysis: Analysis, rows: np.ndarray) -> np.ndarray:
    """Sorted image indices of the pairs touched by the selection (an image, or any of its captions)."""
    rows = np.asarray(rows, dtype=np.int64)
    images = rows[rows < analysis.n_image]
    captions = rows[(rows >= analysis.n_image) & (rows < analysis.n_image + analysis.n_text)] - analysis.n_image
    partners = analysis.index[captions]
    return np.unique(np.concatenate([images, partners[partners >= 0]]))


def subset_metrics(analysis: Analysis, pairs: np.ndarray) -> tuple[dict[str, float], str]:
    """compute_all on the given pairs (each image with all its captions); a note when sampled."""
    if len(pairs) < MIN_SELECTED_PAIRS:
        raise ValueError(f"select at least {MIN_SELECTED_PAIRS} pairs (got {len(pairs)})")
    captions, index = frames.pair_subset(analysis.index, pairs)
    return pair_metrics(analysis.image[pairs], analysis.text[captions], index)


def versus_rest(analysis: Analysis, pairs: np.ndarray) -> dict[str, Any]:
    """selection − rest of the bootstrapped metrics with 95% intervals (independent resamples: the two
    sets share no pair), each side on a seeded sample above METRICS_MAX_PAIRS; {} when the rest has < 2."""
    from gapviz.science.difference import difference_intervals

    rest = np.setdiff1d(np.arange(analysis.n_image), pairs)
    sides = []
    for images in (rest, np.asarray(pairs)):
        captions, index = frames.pair_subset(analysis.index, images)
        if len(images) < MIN_SELECTED_PAIRS or not len(captions):
            return {}
        sides.append(metric_sample(analysis.image[images], analysis.text[captions], index)[:3])
    return difference_intervals(sides[0], sides[1], paired=False)


def metric_table(
    whole: dict[str, Any],
    selection: dict[str, Any] | None,
    names: tuple[str, ...] = TABLE_METRICS,
    rest: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Rows: metrics; columns: the whole set and (when given) the selection, selection − whole and
    (with ``rest``, from versus_rest) selection − rest, then the ends of each 95% interval (NaN where a
    metric has none). Numbers: the CSV."""
    from gapviz.charts import metric_title

    shown = [n for n in names if n in whole]
    table = pd.DataFrame({"metric": [metric_title(n) for n in shown], "whole set": [whole[n] for n in shown]})
    sides = [("whole set", whole)]
    if selection is not None:
        table["selection"] = [selection.get(n, float("nan")) for n in shown]
        table["selection − whole"] = table["selection"] - table["whole set"]
        sides.append(("selection", selection))
    if rest:
        table["selection − rest"] = [rest.get(n, float("nan")) for n in shown]
        sides.append(("selection − rest", rest))
    for label, values in sides:
        ends = [fmt.interval_ends(values.get(f"{n}_ci95")) for n in shown]
        table[f"{label} lo"], table[f"{label} hi"] = [e[0] for e in ends], [e[1] for e in ends]
    return table


def metric_display(table: pd.DataFrame, significant: int | None = None) -> pd.DataFrame:
    """metric_table as text: ``value [lo, hi]`` for the whole set and the selection, and the differences
    (``significant`` digits, else 4 decimals)."""

    def cells(label: str) -> list[str]:
        return fmt.interval_cells(table[label], table[f"{label} lo"], table[f"{label} hi"], significant=significant)

    shown = pd.DataFrame({"metric": table["metric"]})
    for label in ("whole set", "selection"):
        if label in table.columns:
            shown[f"{label} [95% CI]"] = cells(label)
    if "selection − whole" in table.columns:
        shown["selection − whole"] = [fmt.with_interval(v, None, 4, significant) for v in table["selection − whole"]]
    if "selection − rest" in table.columns:
        shown["selection − rest [95% CI]"] = cells("selection − rest")
        shown["differs from the rest"] = [
            fmt.excludes_zero(lo, hi)
            for lo, hi in zip(table["selection − rest lo"], table["selection − rest hi"], strict=True)
        ]
    return shown


def _thumb(analysis: Analysis, image: int) -> str:
    return frames.thumbnail_uri(analysis.images[image]) if analysis.images is not None and image >= 0 else ""


def pairs_frame(
    analysis: Analysis, pairs: np.ndarray, limit: int = TABLE_ROWS, thumbnails: bool = True
) -> pd.DataFrame:
    """The first ``limit`` selected pairs: thumbnail, image index, class and its captions."""
    shown = np.asarray(pairs, dtype=np.int64)[:limit]
    names = frames.class_names_of(analysis.labels, analysis.class_names)
    captions: dict[int, list[str]] = {int(i): [] for i in shown}
    if analysis.captions is not None:
        for j in np.flatnonzero(np.isin(analysis.index, shown)).tolist():
            captions[int(analysis.index[j])].append(analysis.captions[j])
    frame = pd.DataFrame({"pair": shown})
    if thumbnails:
        frame.insert(0, "image", [_thumb(analysis, int(i)) for i in shown])
    if names is not None:
        frame["class"] = [names[int(i)] for i in shown]
    frame["captions"] = [" | ".join(captions[int(i)]) for i in shown]
    return frame


def point_card(analysis: Analysis, row: int) -> dict[str, Any]:
    """What to show for one point: its modality, pair, thumbnail, own caption and partner caption."""
    if row < analysis.n_image:
        caption = analysis.first_captions[row]
        return {"modality": "image", "pair": row, "image": _thumb(analysis, row), "caption": "", "partner": caption}
    j = row - analysis.n_image
    pair = int(analysis.index[j])
    caption = analysis.captions[j] if analysis.captions is not None else ""
    partner = analysis.first_captions[pair] if pair >= 0 else ""
    return {"modality": "text", "pair": pair, "image": _thumb(analysis, pair), "caption": caption, "partner": partner}


def _chunked_nearest(query: np.ndarray, pool: np.ndarray, k: int, exclude: int | None) -> Neighbours:
    """science.neighbours.nearest over ``pool`` SEARCH_CHUNK rows at a time, the best k of every chunk merged."""
    indices, sims = [], []
    for start in range(0, len(pool), SEARCH_CHUNK):
        block = np.asarray(pool[start : start + SEARCH_CHUNK], dtype=np.float32)
        own = exclude - start if exclude is not None and 0 <= exclude - start < len(block) else None
        found, similarity = nearest(query, block, k, exclude=own)
        indices.append(found + start)
        sims.append(similarity)
    index, sim = np.concatenate(indices), np.concatenate(sims)
    order = np.lexsort((index, -sim))[:k]
    return Neighbours("", index[order], sim[order])


def neighbours(analysis: Analysis, row: int, k: int = 8) -> tuple[Neighbours, Neighbours]:
    """The point's k nearest images and captions in the full space: at once for small sets, chunk by chunk over
    every row of a large (memory-mapped) one; kept with the source for MEMO_POINTS points."""
    key = ("neighbours", int(row), k)
    if key in analysis.memo:
        return analysis.memo[key]
    if max(analysis.n_image, analysis.n_text) <= SEARCH_CHUNK:
        found = point_neighbours(analysis.image, analysis.text, int(row), k)
    else:
        is_image = row < analysis.n_image
        query = np.asarray(analysis.image[row] if is_image else analysis.text[row - analysis.n_image], np.float32)
        own = row if is_image else row - analysis.n_image
        found = (
            _chunked_nearest(query, analysis.image, k, own if is_image else None),
            _chunked_nearest(query, analysis.text, k, None if is_image else own),
        )
    memos = [m for m in analysis.memo if m[0] == "neighbours"]
    for old in memos[: max(0, len(memos) - MEMO_POINTS + 1)]:
        analysis.memo.pop(old)
    analysis.memo[key] = found
    return found


def neighbour_frames(analysis: Analysis, row: int, k: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The point's k nearest images and k nearest captions in the full space, with cosine similarity."""
    images, texts = neighbours(analysis, row, k)
    image_frame = pd.DataFrame(
        {
            "image": [_thumb(analysis, int(i)) for i in images.indices],
            "pair": images.indices,
            "caption": [analysis.first_captions[int(i)] for i in images.indices],
            "cosine": images.similarities,
        }
    )
    captions = analysis.captions or [""] * analysis.n_text
    text_frame = pd.DataFrame(
        {
            "caption": [captions[int(j)] for j in texts.indices],
            "its image": analysis.index[texts.indices],
            "cosine": texts.similarities,
        }
    )
    return image_frame, text_frame


def neighbour_rows(analysis: Analysis, row: int, k: int = 8) -> tuple[list[int], list[int]]:
    """Joint rows of the point's k nearest images and k nearest captions (what neighbour_frames lists)."""
    images, texts = neighbours(analysis, row, k)
    return [int(i) for i in images.indices], [analysis.n_image + int(j) for j in texts.indices]
