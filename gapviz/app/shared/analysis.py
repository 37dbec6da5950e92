"""What the Explore page shows, computed by gapviz's own functions (metrics, projection, shift).

One :class:`Analysis` holds both modalities' embeddings and everything derived from them. It is
built from an upload, from a saved run's stored evaluation, or by encoding an evaluation set with
a model (gapviz.training.encode.encode_eval_set, imported only then: torch stays out of the web
process until a model is asked for). Large sets get their whole-set metrics on a seeded sample
of pairs (the uniformity terms are N x N), said in a note.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gapviz.app.shared import frames
from gapviz.science import catalog

Progress = Callable[[str, float], None]
METRICS_MAX_PAIRS = 10_000
"""Whole-set metrics of bigger sets are computed on a seeded sample of this many pairs."""
THUMBNAIL_PIXELS = 64
"""Images are kept at most this big for hover panels and tables (100k images: ~1.2 GB otherwise)."""


def _noop(stage: str, fraction: float) -> None:
    pass


@dataclass
class Analysis:
    """Embeddings of one (model, data) choice and what the page derives from them."""

    key: str
    title: str
    image: np.ndarray
    text: np.ndarray
    text_image_index: np.ndarray | None
    metrics: dict[str, Any]
    projections: dict[str, np.ndarray]
    captions: list[str] | None = None
    labels: np.ndarray | None = None
    class_names: list[str] | None = None
    class_text: np.ndarray | None = None
    images: np.ndarray | None = None
    """uint8 (N, h, w, 3) thumbnails of the images, when known."""
    metadata: dict[str, np.ndarray] = field(default_factory=dict)
    """Extra per-image columns (from an upload) to colour by."""
    logit_scale: float | None = None
    notes: list[str] = field(default_factory=list)
    run_id: str = ""
    """The saved run this evaluation comes from ("" for other sources)."""
    memo: dict[Any, Any] = field(default_factory=dict, repr=False)
    """Values derived on demand and kept with the source (a point's nearest neighbours)."""

    @property
    def n_image(self) -> int:
        return int(len(self.image))

    @property
    def n_text(self) -> int:
        return int(len(self.text))

    @cached_property
    def index(self) -> np.ndarray:
        """Caption -> image for every caption (identity when the pairs are one to one)."""
        return frames.pair_index(self.n_image, self.n_text, self.text_image_index)

    @cached_property
    def first_captions(self) -> list[str]:
        return frames.first_captions(self.n_image, self.index, self.captions)


def small_images(images: np.ndarray | None, size: int = THUMBNAIL_PIXELS) -> np.ndarray | None:
    """Images shrunk to at most ``size`` pixels a side (kept as they are when already small)."""
    if images is None or images.shape[1] <= size:
        return None if images is None else np.asarray(images, dtype=np.uint8)
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(np.asarray(im, dtype=np.uint8)).resize((size, size))) for im in images])


def metric_sample(
    image: np.ndarray, text: np.ndarray, index: np.ndarray | None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """(image, text, index, note) of a seeded METRICS_MAX_PAIRS-pair sample; all pairs (and no note) up to that.

    The sample depends on the number of images only, so two sources of the same points get the same one.
    """
    idx = frames.pair_index(len(image), len(text), index)
    kept = frames.sample_images(len(image), METRICS_MAX_PAIRS, seed)
    if len(kept) == len(image):
        return image, text, index, ""
    captions, sub_index = frames.pair_subset(idx, kept)
    note = f"whole-set metrics on a random sample of {len(kept):,} of {len(idx):,} pairs"
    return image[kept], text[captions], sub_index, note


def pair_metrics(image: np.ndarray, text: np.ndarray, index: np.ndarray | None, seed: int = 0) -> tuple[dict, str]:
    """gapviz.science.metrics.compute_all: on every pair where it streams (one caption per image: the O(N·D) metrics
    on all pairs, retrieval and the O(N²) ones on its seeded subsample, each with its n), else on a seeded sample of
    METRICS_MAX_PAIRS pairs above that; with a note saying which."""
    from gapviz.science import chunked
    from gapviz.science import metrics as gap_metrics

    if chunked.streams(len(image), len(text), index):
        values = gap_metrics.compute_all(image, text, index, modality_probe=True, seed=seed)
        sub = int(values.get(chunked.RETRIEVAL_N, 0))
        note = (
            f"every O(N·D) metric on all {len(image):,} pairs; retrieval and the O(N²) ones on a seeded sample "
            f"(retrieval on {sub:,} of {len(image):,} pairs; each metric's n beside it)"
        )
        return values, note
    image, text, index, note = metric_sample(image, text, index, seed)
    return gap_metrics.compute_all(image, text, index, modality_probe=True), note


def difference(first: "Analysis", second: "Analysis", n_resamples: int = 1000) -> dict[str, Any]:
    """second − first of the bootstrapped metrics with 95% intervals (gapviz.science.difference):
    paired when both hold the same points, on a METRICS_MAX_PAIRS sample above that."""
    from gapviz.science.difference import difference_intervals

    sources = [metric_sample(r.image, r.text, r.text_image_index)[:3] for r in (first, second)]
    return difference_intervals(sources[0], sources[1], n_resamples=n_resamples)


def analyse(
    key: str,
    title: str,
    image: np.ndarray,
    text: np.ndarray,
    index: np.ndarray | None,
    *,
    metrics: dict[str, Any] | None = None,
    projections: dict[str, np.ndarray] | None = None,
    progress: Progress = _noop,
    **extra: Any,
) -> Analysis:
    """An Analysis with its PCA layout; the gap metrics follow in :func:`complete_metrics`, after the
    page has drawn the scatter (they cost seconds on large sets, the layout a fraction of one)."""
    from gapviz.science import projection

    coords = dict(projections or {})
    if "pca" not in coords:
        progress("PCA projection", 0.8)
        coords["pca"] = projection.pca_project(image, text)
    progress("done", 1.0)
    return Analysis(key, title, image, text, index, dict(metrics or {}), coords, **extra)


def complete_metrics(result: Analysis) -> tuple[dict[str, Any], str]:
    """Every gap metric (metrics.compute_all, on a sample for large sets) and the loss at the model's
    logit scale, merged under what the source already knew (a run's own evaluation wins)."""
    from gapviz.science import metrics as gap_metrics

    values, note = dict(result.metrics), ""
    if not all(name in values for name in gap_metrics.ALL_KEYS):
        computed, note = pair_metrics(result.image, result.text, result.text_image_index)
        values = {**computed, **values}
    if result.logit_scale and "loss" not in values and result.n_image <= METRICS_MAX_PAIRS:
        values["loss"] = gap_metrics.contrastive_loss(
            result.image, result.text, result.logit_scale, result.text_image_index
        )
    return values, note


def from_upload(data: bytes, name: str, *, progress: Progress = _noop) -> Analysis:
    """Embeddings from a .npy/.npz the way `gapviz analyze` reads them (EmbeddingsError if unusable).

    A .npz may carry ``images`` (uint8 N x H x W x 3), ``captions`` (M strings) and more per-image
    columns (1-D, length N) to colour by.
    """
    import io

    from gapviz.data.embeddings_io import load_embeddings

    progress(f"reading {name}", 0.1)
    buffer = io.BytesIO(data)
    buffer.name = name
    emb = load_embeddings(buffer)
    digest = hashlib.sha1(data).hexdigest()[:16]
    return from_embeddings(emb, f"upload:{digest}", f"uploaded {name}", progress)


def from_embeddings(emb: Any, key: str, title: str, progress: Progress = _noop) -> Analysis:
    """An Analysis of read Embeddings (an upload's or a file's), with zero-shot accuracy when it carries classes."""
    image, text = emb.image, emb.text
    if not isinstance(image, np.memmap):  # a mapped file stays mapped, whatever its dtype
        image, text = np.asarray(image, dtype=np.float32), np.asarray(text, dtype=np.float32)
    classes: dict[str, Any] = {}
    if emb.labels is not None:  # the file carries classes: zero-shot accuracy too (and before/after a fix)
        from gapviz.science.metrics import zero_shot_accuracy

        class_text = np.asarray(emb.class_text, dtype=np.float32)
        classes = {
            "labels": emb.labels,
            "class_text": class_text,
            "metrics": {"zero_shot": zero_shot_accuracy(image, class_text, emb.labels)},
        }
    return analyse(
        key,
        title,
        image,
        text,
        emb.text_image_index,
        progress=progress,
        captions=emb.captions,
        images=small_images(emb.images),
        metadata=dict(emb.metadata),
        **classes,
    )


def from_path(path: Path, *, progress: Progress = _noop) -> Analysis:
    """Embeddings from a file on this machine (already checked against the allowed folders), memory-mapped:
    nothing is copied whole, the layout and the metrics read it in chunks or on a sample."""
    from gapviz.data.embedding_files import open_embedding_file

    progress(f"opening {path.name} (memory-mapped; every row checked for NaN in chunks)", 0.1)
    emb = open_embedding_file(path)
    stat = path.stat()
    digest = hashlib.sha1(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return from_embeddings(emb, f"file:{digest}", f"file {path.name}", progress)


def from_saved_epoch(store: Any, run_id: str, epoch: int, *, progress: Progress = _noop) -> Analysis:
    """A saved run's stored evaluation at ``epoch``: its embeddings, metrics and projections."""
    progress(f"reading run {run_id}, epoch {epoch}", 0.1)
    arrays = store.epoch_arrays(run_id, epoch)
    rows = [row for row in store.metrics(run_id) if int(row["epoch"]) == epoch]
    values = {
        k: v if isinstance(v, (bool, list)) else float(v)
        for k, v in (rows[0] if rows else {}).items()
        if isinstance(v, (int, float, list)) and k not in ("epoch", "step")
    }  # intervals and flags kept
    projections = store.projections(arrays)
    extra = _eval_images(store.config(run_id), store.home, len(arrays["image"]), progress)
    return analyse(
        f"run:{run_id}:{epoch}",
        f"run {run_id} · epoch {epoch} (stored evaluation)",
        arrays["image"].astype(np.float32),
        arrays["text"].astype(np.float32),
        arrays.get("text_image_index"),
        metrics=values,
        projections=projections,
        progress=progress,
        captions=store.captions(run_id) or None,
        labels=arrays.get("labels"),
        logit_scale=values.get("logit_scale"),
        run_id=run_id,
        **extra,
    )


def _eval_images(cfg: Any, home: Path, n_image: int, progress: Progress) -> dict[str, Any]:
    """Thumbnails and class names of a synthetic run's evaluation images (re-rendered: the store keeps
    none); other sources would decode every image again, so they go without."""
    if cfg.data.source != "synthetic":
        return {}
    from gapviz.data.loader import load_pairs

    progress("rendering the evaluation images for thumbnails", 0.3)
    data = load_pairs(cfg.data, THUMBNAIL_PIXELS, "eval", Path(home))
    if data.num_images != n_image:
        return {}
    return {"images": np.asarray(data.images), "class_names": data.class_prompts}


def model_configs(model_name: str, pretrained: str, data: dict[str, Any]) -> tuple[Any, Any]:
    """(ModelConfig, DataConfig) from the page's fields, parsed like `--set` and checked as a run
    would check them (ConfigError naming the field); the other sections play no part."""
    from gapviz.config import ConfigError, RunConfig

    overrides = {"model.name": model_name, "model.pretrained": pretrained, **{f"data.{k}": v for k, v in data.items()}}
    cfg = RunConfig().with_overrides(overrides)
    problems = [p for p in cfg.validate() if p.path.startswith(("model.", "data."))]
    if problems:
        raise ConfigError(problems)
    return cfg.model, cfg.data


def from_model(
    model_cfg: Any,
    data_cfg: Any,
    home: Path,
    *,
    checkpoint: Path | None = None,
    title: str = "",
    seed: int = 0,
    progress: Progress = _noop,
) -> Analysis:
    """Encode the evaluation set of ``data_cfg`` with ``model_cfg`` (or a run's checkpoint) and analyse it.

    Raises ModelError / DataError with readable messages.
    """
    progress("loading torch and open_clip", 0.05)
    from gapviz.science import metrics as gap_metrics
    from gapviz.training.encode import encode_eval_set

    enc = encode_eval_set(model_cfg, data_cfg, Path(home), checkpoint=checkpoint, seed=seed, progress=progress)
    key = "model:" + hashlib.sha1(f"{model_cfg}{data_cfg}{checkpoint}{seed}".encode()).hexdigest()[:16]
    tag = f" · {model_cfg.pretrained}" if model_cfg.pretrained else ""
    values: dict[str, float] = {}
    if enc.logit_scale:
        values.update(logit_scale=enc.logit_scale, tau=1.0 / enc.logit_scale)
    if enc.class_text is not None and enc.labels is not None:
        values["zero_shot"] = gap_metrics.zero_shot_accuracy(enc.image, enc.class_text, enc.labels)
    return analyse(
        key,
        title or f"{model_cfg.name}{tag} on {data_cfg.source} ({len(enc.image)} images)",
        enc.image,
        enc.text,
        enc.text_image_index,
        metrics=values,
        progress=progress,
        captions=enc.captions,
        labels=enc.labels,
        class_names=enc.class_names,
        class_text=enc.class_text,
        images=small_images(enc.images),
        logit_scale=enc.logit_scale,
    )


# ---- the embedding-shift experiment ----------------------------------------------------------
SHIFT_MAX_PAIRS = 600
"""The shift experiment runs on at most this many pairs (an N x N loss and recall per λ)."""
SHIFT_LAMBDAS = 13


@dataclass
class ShiftSample:
    """The pairs the shift experiment runs on, with a note when they are a sample."""

    image: np.ndarray
    text: np.ndarray
    index: np.ndarray | None
    labels: np.ndarray | None
    note: str


def shift_sample(analysis: Analysis, max_pairs: int = SHIFT_MAX_PAIRS) -> ShiftSample:
    """The pairs the shift experiment uses: all, or a seeded sample of images with their captions."""
    kept = frames.sample_images(analysis.n_image, max_pairs, seed=1)
    if len(kept) == analysis.n_image:
        return ShiftSample(analysis.image, analysis.text, analysis.text_image_index, analysis.labels, "")
    captions, sub_index = frames.pair_subset(analysis.index, kept)
    index = sub_index if analysis.text_image_index is not None else None
    labels = analysis.labels[kept] if analysis.labels is not None else None
    note = f"computed on a random sample of {len(kept):,} of {analysis.n_image:,} images (an N×N loss per λ)"
    return ShiftSample(analysis.image[kept], analysis.text[captions], index, labels, note)


def shift_rows(
    sample: ShiftSample, lambdas: Any, logit_scale: float, class_text: np.ndarray | None
) -> list[dict[str, float]]:
    """gapviz.science.shift.shift_sweep on the sample, at one logit scale (loss column renamed ``loss``)."""
    from gapviz.science import shift

    rows = shift.shift_sweep(
        sample.image,
        sample.text,
        [float(v) for v in lambdas],
        logit_scales=(float(logit_scale),),
        text_image_index=sample.index,
        class_text=class_text if sample.labels is not None else None,
        labels=sample.labels,
    )
    key = shift.loss_key(float(logit_scale))
    return [{**{k: v for k, v in row.items() if k != key}, "loss": row[key]} for row in rows]


def shift_lambdas(sample: ShiftSample, n: int = SHIFT_LAMBDAS) -> np.ndarray:
    from gapviz.science import shift

    return shift.default_lambdas(sample.image, sample.text, n)


def shifted_projection(sample: ShiftSample, lam: float, reference: np.ndarray | None) -> np.ndarray:
    """PCA of the shifted sample, aligned to ``reference`` (the unshifted layout) so the frame stays."""
    from gapviz.science import projection, shift

    xs, ys = shift.shift_embeddings(sample.image, sample.text, float(lam))
    return projection.pca_project(xs, ys, reference=reference)


def shift_domain(
    reference: np.ndarray, gap: float, pad: float = 0.05
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis ranges for every λ without projecting the extremes: the unshifted layout widened by
    the gap (a shift moves each point by about λ ≤ gap; unit vectors stay within ±1 of centre)."""
    (x0, x1), (y0, y1) = frames.axis_domains([reference], pad=pad)
    grow = float(gap)
    return (max(x0 - grow, -2.0), min(x1 + grow, 2.0)), (max(y0 - grow, -2.0), min(y1 + grow, 2.0))


def reference_projection(sample: ShiftSample) -> np.ndarray:
    from gapviz.science import projection

    return projection.pca_project(sample.image, sample.text)


def shift_frame(rows: list[dict[str, float]], metrics: tuple[str, ...] = catalog.in_view("shift")) -> Any:
    """Long frame (gap, metric, value) for charts.shift_curves."""
    import pandas as pd

    records = [
        {"gap": row["signed_gap"], "lam": row["lam"], "metric": name, "value": row[name]}
        for row in rows
        for name in metrics
        if name in row and row[name] is not None and np.isfinite(row[name])
    ]
    return pd.DataFrame.from_records(records, columns=["gap", "lam", "metric", "value"])
