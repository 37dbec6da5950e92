"""What the Explore page shows, computed by gapviz's own functions (metrics, projection, shift).

One :class:`Analysis` holds both modalities' embeddings and everything derived from them. It
is built from an upload, from a saved run's stored evaluation, or by encoding data with a model
(gapviz.training.loop.prepare + evaluate, the very code a training run evaluates with). torch is
imported inside the functions that need it, never at module import.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gapviz.app import frames as views

SHIFT_MAX_PAIRS = 600
"""The shift experiment runs on at most this many pairs (an N x N loss and recall per λ)."""
SHIFT_LAMBDAS = 13
Progress = Callable[[str, float], None]


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
    thumbnails: dict[int, str] = field(default_factory=dict)
    logit_scale: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_image(self) -> int:
        return int(len(self.image))

    @property
    def n_text(self) -> int:
        return int(len(self.text))


def _noop(stage: str, fraction: float) -> None:
    pass


def thumbnails_for(images: np.ndarray, n_image: int, limit: int = views.MAX_THUMBNAILS) -> dict[int, str]:
    """Data-URI thumbnails of the images a scatter will show first (the same sample as views)."""
    kept = views.sample_images(n_image)[:limit]
    return {int(i): views.thumbnail_uri(images[i]) for i in kept}


def finish(
    key: str,
    title: str,
    image: np.ndarray,
    text: np.ndarray,
    index: np.ndarray | None,
    *,
    metrics: dict[str, Any] | None = None,
    projections: dict[str, np.ndarray] | None = None,
    umap: bool = False,
    progress: Progress = _noop,
    **extra: Any,
) -> Analysis:
    """Fill in what is missing: every gap metric (metrics.compute_all) and the projections."""
    from gapviz.science import metrics as gap_metrics
    from gapviz.science import projection

    values = dict(metrics or {})
    if not all(name in values for name in gap_metrics.ALL_KEYS):
        progress("computing gap metrics", 0.6)
        values.update(gap_metrics.compute_all(image, text, index, modality_probe=True))
    coords = dict(projections or {})
    if "pca" not in coords:
        progress("PCA projection", 0.8)
        coords["pca"] = projection.pca_project(image, text)
    if umap and "umap" not in coords:
        progress("UMAP projection (the first one in this process compiles numba: up to a minute)", 0.85)
        coords["umap"] = projection.umap_project(image, text)
    if extra.get("logit_scale") and "loss" not in values:
        values["loss"] = gap_metrics.contrastive_loss(image, text, extra["logit_scale"], index)
    progress("done", 1.0)
    return Analysis(key=key, title=title, image=image, text=text, text_image_index=index, metrics=values, projections=coords, **extra)


def from_upload(data: bytes, name: str, *, umap: bool = False, progress: Progress = _noop) -> Analysis:
    """Embeddings from a .npy/.npz the way `gapviz analyze` reads them (EmbeddingsError if unusable)."""
    import io

    from gapviz.data.embeddings_io import load_embeddings

    progress(f"reading {name}", 0.1)
    buffer = io.BytesIO(data)
    buffer.name = name
    emb = load_embeddings(buffer)
    digest = hashlib.sha1(data).hexdigest()[:16]
    image = np.asarray(emb.image, dtype=np.float32)
    text = np.asarray(emb.text, dtype=np.float32)
    classes: dict[str, Any] = {}
    if emb.labels is not None:  # the file carries classes: zero-shot accuracy too (and before/after a fix)
        from gapviz.science.metrics import zero_shot_accuracy

        classes = {"labels": emb.labels, "class_text": np.asarray(emb.class_text, dtype=np.float32),
                   "metrics": {"zero_shot": zero_shot_accuracy(image, emb.class_text, emb.labels)}}
    return finish(f"upload:{digest}:{umap}", f"uploaded {name}", image, text, emb.text_image_index, umap=umap,
                  progress=progress, **classes)


def from_saved_epoch(store: Any, run_id: str, epoch: int, *, thumbnails: bool = True, progress: Progress = _noop) -> Analysis:
    """A saved run's stored evaluation at ``epoch``: its embeddings, metrics and projections."""
    progress(f"reading run {run_id}, epoch {epoch}", 0.1)
    arrays = store.epoch_arrays(run_id, epoch)
    rows = [row for row in store.metrics(run_id) if int(row["epoch"]) == epoch]
    values = {k: v if isinstance(v, (bool, list)) else float(v) for k, v in (rows[0] if rows else {}).items()
              if isinstance(v, (int, float, list)) and k not in ("epoch", "step")}  # intervals and flags kept
    projections = store.projections(arrays)
    cfg = store.config(run_id)
    captions = store.captions(run_id) or None
    labels = arrays.get("labels")
    extra: dict[str, Any] = {}
    if thumbnails and cfg.data.source == "synthetic":
        extra.update(_eval_images(cfg, store.home, len(arrays["image"]), progress))
    image = arrays["image"].astype(np.float32)
    text = arrays["text"].astype(np.float32)
    index = arrays.get("text_image_index")
    return finish(
        f"run:{run_id}:{epoch}:{thumbnails}", f"run {run_id} · epoch {epoch} (stored evaluation)", image, text, index,
        metrics=values, projections=projections, progress=progress, captions=captions, labels=labels,
        logit_scale=values.get("logit_scale"), **extra,
    )


def _eval_images(cfg: Any, home: Path, n_image: int, progress: Progress) -> dict[str, Any]:
    """Thumbnails and class names of a run's evaluation images (re-generated: the store keeps none)."""
    from gapviz.data.loader import load_pairs

    progress("rendering the evaluation images for hover thumbnails", 0.3)
    data = load_pairs(cfg.data, views.THUMBNAIL_SIZE, "eval", Path(home))
    if data.num_images != n_image:
        return {}
    return {"thumbnails": thumbnails_for(data.images, n_image), "class_names": data.class_prompts}


def model_config(
    model_name: str,
    pretrained: str,
    data: dict[str, Any],
    *,
    device: str = "auto",
    umap: bool = False,
) -> Any:
    """The RunConfig Explore evaluates with: no training, a tiny throwaway training split."""
    from gapviz.config import RunConfig

    cfg = RunConfig(name="explore").with_overrides(
        {
            "model.name": model_name,
            "model.pretrained": pretrained,
            "device": device,
            "train.epochs": 0,
            "train.batch_size": 2,
            "eval.projections": ["pca", "umap"] if umap else ["pca"],
            **{f"data.{k}": v for k, v in data.items()},
        }
    )
    return cfg.with_overrides({"data.train_size": 2})


def from_model(cfg: Any, home: Path, *, checkpoint: Path | None = None, title: str = "", progress: Progress = _noop) -> Analysis:
    """Encode ``cfg``'s evaluation data with its model (optionally a run's checkpoint) and analyse it.

    Uses gapviz.training.loop.prepare and evaluate: the same metrics, loss and projections as a training
    run's epoch 0. Raises ModelError / DataError / ConfigError with readable messages.
    """
    problems = [p for p in cfg.validate() if not p.path.startswith("train.")]
    if problems:
        from gapviz.config import ConfigError

        raise ConfigError(problems)
    progress("loading torch and open_clip", 0.05)
    from gapviz.training.loop import encode_texts, evaluate, prepare

    def report(stage: str, done: int, total: int) -> None:
        progress(f"{stage}: {done}/{total}", 0.1 + 0.4 * (done / total if total else 0))

    progress(f"building {cfg.model.name}" + (f" ({cfg.model.pretrained})" if cfg.model.pretrained else ""), 0.08)
    setup = prepare(cfg, Path(home), init_checkpoint=checkpoint, progress=report)
    progress(f"encoding {setup.eval_data.num_images} images and {len(setup.eval_data)} captions", 0.55)
    record = evaluate(setup, 0, 0, {}, {})
    class_text = encode_texts(setup, setup.class_tokens) if setup.class_tokens is not None else None
    images = setup.eval_data.images
    key = "model:" + hashlib.sha1((cfg.to_json() + str(checkpoint)).encode()).hexdigest()[:16]
    return finish(
        key,
        title or f"{cfg.model.name}{' · ' + cfg.model.pretrained if cfg.model.pretrained else ''} on {cfg.data.source} ({setup.eval_data.num_images} images)",
        record.image_embeddings.astype(np.float32),
        record.text_embeddings.astype(np.float32),
        np.asarray(record.text_image_index),
        metrics=record.metrics,
        projections=record.projections,
        progress=progress,
        captions=record.captions,
        labels=record.labels,
        class_names=setup.eval_data.class_prompts,
        class_text=class_text,
        thumbnails=thumbnails_for(images, len(images)),
        logit_scale=record.metrics.get("logit_scale"),
    )


# ---- the embedding-shift experiment ----------------------------------------------------------
@dataclass
class ShiftSample:
    image: np.ndarray
    text: np.ndarray
    index: np.ndarray | None
    labels: np.ndarray | None
    note: str


def shift_sample(analysis: Analysis, max_pairs: int = SHIFT_MAX_PAIRS) -> ShiftSample:
    """The pairs the shift experiment uses: all, or a seeded sample of images with their captions."""
    kept = views.sample_images(analysis.n_image, max_pairs, seed=1)
    if len(kept) == analysis.n_image:
        return ShiftSample(analysis.image, analysis.text, analysis.text_image_index, analysis.labels, "")
    idx = views.pair_index(analysis.n_image, analysis.n_text, analysis.text_image_index)
    captions = np.flatnonzero(np.isin(idx, kept))
    remap = np.full(analysis.n_image, -1, dtype=np.int64)
    remap[kept] = np.arange(len(kept))
    index = remap[idx[captions]] if analysis.text_image_index is not None else None
    labels = analysis.labels[kept] if analysis.labels is not None else None
    note = f"computed on a random sample of {len(kept):,} of {analysis.n_image:,} images (an N×N loss per λ)"
    return ShiftSample(analysis.image[kept], analysis.text[captions], index, labels, note)


def shift_rows(sample: ShiftSample, lambdas: Any, logit_scale: float, class_text: np.ndarray | None) -> list[dict[str, float]]:
    """gapviz.science.shift.shift_sweep on the sample, at one logit scale (loss column renamed ``loss``)."""
    from gapviz.science import shift

    rows = shift.shift_sweep(
        sample.image, sample.text, [float(v) for v in lambdas], logit_scales=(float(logit_scale),), text_image_index=sample.index,
        class_text=class_text if sample.labels is not None else None, labels=sample.labels,
    )
    key = shift.loss_key(float(logit_scale))
    return [{**{k: v for k, v in row.items() if k != key}, "loss": row[key]} for row in rows]


def shift_lambdas(sample: ShiftSample, n: int = SHIFT_LAMBDAS) -> np.ndarray:
    from gapviz.science import shift

    return shift.default_lambdas(sample.image, sample.text, n)


def shifted_projection(sample: ShiftSample, lam: float, reference: np.ndarray | None) -> np.ndarray:
    """PCA of the shifted sample, aligned to ``reference`` (the unshifted layout) so the frame stays."""
    from gapviz.science import projection
    from gapviz.science import shift

    xs, ys = shift.shift_embeddings(sample.image, sample.text, float(lam))
    return projection.pca_project(xs, ys, reference=reference)


def shift_domain(reference: np.ndarray, gap: float, pad: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis ranges for every λ without projecting the extremes: the unshifted layout widened by
    the gap (a shift moves each point by about λ ≤ gap; unit vectors stay within ±1 of centre)."""
    (x0, x1), (y0, y1) = views.axis_domains([reference], pad=pad)
    grow = float(gap)
    return (max(x0 - grow, -2.0), min(x1 + grow, 2.0)), (max(y0 - grow, -2.0), min(y1 + grow, 2.0))


def reference_projection(sample: ShiftSample) -> np.ndarray:
    from gapviz.science import projection

    return projection.pca_project(sample.image, sample.text)


def shift_frame(rows: list[dict[str, float]], metrics: tuple[str, ...] = ("loss", "i2t_r1", "t2i_r1", "zero_shot")) -> Any:
    """Long frame (gap, metric, value) for charts.shift_curves."""
    import pandas as pd

    records = [
        {"gap": row["signed_gap"], "lam": row["lam"], "metric": name, "value": row[name]}
        for row in rows
        for name in metrics
        if name in row and row[name] is not None and np.isfinite(row[name])
    ]
    return pd.DataFrame.from_records(records, columns=["gap", "lam", "metric", "value"])
