"""Explore: a second source beside the first on the same axes, and a run's epochs as an animation.

Two embeddings of the same points (two checkpoints of a run, two models on one data set, two
random inits) are drawn on Procrustes-aligned PCA layouts: the second layout is rotated or
reflected onto the first (gapviz.science.projection.align_to), so what differs is the embedding,
not the arbitrary orientation of its PCA. Different point sets keep their own axes, said in a note.
A run's epochs play either as its stored PCA layouts rotated onto the last epoch or as one
``umap.AlignedUMAP`` fit of a sample of pairs over up to ALIGNED_MAX_EPOCHS epochs, computed in a
child process (gapviz.app.explore.projection_cache) and cached on disk.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from gapviz import format as fmt
from gapviz.app.explore import state, views
from gapviz.app.shared import common, frames, scatter
from gapviz.app.shared.analysis import Analysis
from gapviz.charts import metric_title
from gapviz.runs.store import StoreError
from gapviz.science import catalog

COMPARE_SOURCES = {
    "run": "Saved run · stored evaluation",
    "tiny": "Tiny model, another random init",
    "upload": "Upload embeddings",
    "fix": "The same embeddings after a training-free fix",
}
COMPARE_METRICS = catalog.in_view("pair_compare")
EPOCH_METHODS = {"pca": "PCA (rotated onto the last epoch)", "umap": "UMAP (umap.AlignedUMAP)"}
ALIGNED_MAX_POINTS = 800
"""Rows (images + captions) of the aligned UMAP: 400 pairs of one caption each; what a fit of ten
epochs costs in a fresh process, with and without numba's cached kernels, is in docs/benchmarks.md."""
ALIGNED_MAX_EPOCHS = 10
"""Epochs laid out together; the fit's cost grows with epochs × points, and numba compiles first."""
ALIGNED_FIRST_TIME = "half a minute to a minute"
"""What the page tells the user a run's aligned layout costs before it is cached (measured in docs/benchmarks.md)."""


def aligned_layouts(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, str]:
    """``b`` rotated onto ``a`` when both place the same points; else ``b`` as it is, with a note."""
    from gapviz.science.projection import align_to

    if a.shape != b.shape:
        return b, "different point sets: each on its own PCA axes (no alignment)"
    return align_to(a, b), "second layout aligned to the first (orthogonal Procrustes on the same points)"


def comparison_table(a: Analysis, b: Analysis, diff: dict[str, Any]) -> pd.DataFrame:
    """Rows: metrics both sources have; columns: each source and second − first, each with its 95% interval.

    Numbers (the CSV); ``diff`` is analysis.difference(a, b). A metric it has no interval for (the probe,
    τ, loss, zero-shot) gets the plain difference and no verdict.
    """
    shown = [n for n in COMPARE_METRICS if n in a.metrics and n in b.metrics]
    rows = []
    for name in shown:
        row: dict[str, Any] = {"metric": metric_title(name)}
        for label, values in (("first", a.metrics), ("second", b.metrics)):
            lo, hi = fmt.interval_ends(values.get(f"{name}_ci95"))
            row.update({label: values[name], f"{label} lo": lo, f"{label} hi": hi})
        lo, hi = fmt.interval_ends(diff.get(f"{name}_ci95"))
        change = diff.get(name, _number(b.metrics[name]) - _number(a.metrics[name]))
        row.update({"second − first": change, "difference lo": lo, "difference hi": hi})
        row["differs"] = fmt.excludes_zero(lo, hi)
        rows.append(row)
    return pd.DataFrame(rows)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else float("nan")


def comparison_display(table: pd.DataFrame, significant: int | None = None) -> pd.DataFrame:
    """The table as text: ``value [lo, hi]`` cells (format.interval_cells), the verdict column kept."""

    def cells(value: str, lo: str, hi: str) -> list[str]:
        return fmt.interval_cells(table[value], table[lo], table[hi], significant=significant)

    return pd.DataFrame(
        {
            "metric": table["metric"],
            "first [95% CI]": cells("first", "first lo", "first hi"),
            "second [95% CI]": cells("second", "second lo", "second hi"),
            "second − first [95% CI]": cells("second − first", "difference lo", "difference hi"),
            "interval excludes 0": table["differs"],
        }
    )


def _held_out_analysis(first: Analysis, held: Any, note: str) -> Analysis:
    """The held-out part of ``first`` after the fix, its captions, labels, thumbnails and metadata kept."""
    from gapviz.app.shared import analysis

    images, captions = held.split.measured, held.split.measured_captions
    return analysis.analyse(
        f"{first.key}:fix:{held.fix.label}:held-out",
        f"{first.title} · held-out half after {held.fix.label}",
        held.image,
        held.text,
        held.text_image_index,
        captions=None if first.captions is None else [first.captions[i] for i in captions],
        labels=None if first.labels is None else first.labels[images],
        class_names=first.class_names,
        class_text=None if first.class_text is None else held.text_map(first.class_text),
        images=None if first.images is None else first.images[images],
        metadata={k: np.asarray(v)[images] for k, v in first.metadata.items()},
        notes=[note],
    )


def fix_choice(box: Any, first: Analysis) -> tuple[str, Any]:
    """The first source's held-out half after a fix of gapviz.science.fixes fitted on its other half."""
    from gapviz.science import fixes

    text = box.text_input("Fix", value="centre", key=state.CMP_FIX, help=", ".join(fixes.FIX_CHOICES))
    fix = fixes.parse_fix(text)
    split = fixes.split_images(first.n_image, first.text_image_index)
    note = f"{fix.label} {split.describe()}: the second source is that held-out part after the fix."
    box.text(note)

    def compute(progress: Any) -> Analysis:
        return _held_out_analysis(first, fixes.held_out_fix(fix, first.image, first.text, first.text_image_index), note)

    return f"{first.key}:fix:{fix.label}:held-out", compute


def second_choice(box: Any, first: Analysis) -> tuple[str, Any] | None:
    """(cache key, compute) of the second source."""
    from gapviz.app.shared import analysis

    kind = box.radio(
        "Second source",
        list(COMPARE_SOURCES),
        format_func=COMPARE_SOURCES.get,
        horizontal=True,
        key=state.CMP_SOURCE,
    )
    if kind == "run":
        picked = views.pick_run_epoch(box, state.CMP, url=False)
        if picked is None:
            return None
        run_id, epoch = picked
        return f"run:{run_id}:{epoch}:{common.run_version(run_id)}", lambda p: analysis.from_saved_epoch(
            common.store(), run_id, epoch, progress=p
        )
    if kind == "fix":
        return fix_choice(box, first)
    if kind == "upload":
        upload = box.file_uploader("Second embeddings file", type=["npy", "npz"], key=state.CMP_UPLOAD)
        if upload is None:
            return None
        data, name = upload.getvalue(), upload.name
        return f"upload:{hashlib.sha1(data).hexdigest()}", lambda p: analysis.from_upload(data, name, progress=p)
    seed = int(box.number_input("init seed", min_value=0, value=1, step=1, key=state.CMP_SEED))
    n = first.n_image if first.key.startswith("model:") else 512
    model_cfg, data_cfg = analysis.model_configs("gapviz-tiny", "", {"source": "synthetic", "eval_size": n, "seed": 0})
    return f"model:{model_cfg}:{data_cfg}:seed{seed}", lambda p: analysis.from_model(
        model_cfg, data_cfg, common.home(), seed=seed, title=f"gapviz-tiny at random init (seed {seed})", progress=p
    )


def side_by_side(first: Analysis, second: Analysis) -> None:
    """Both PCA layouts on shared, aligned axes, then the metric table."""
    b_coords, note = aligned_layouts(first.projections["pca"], second.projections["pca"])
    aligned = Analysis(**{**second.__dict__, "projections": {"pca": b_coords}})
    ranges = frames.axis_domains([first.projections["pca"], b_coords])
    for column, result, name in zip(st.columns(2), (first, aligned), ("first", "second"), strict=True):
        points, lines, arrow, sample_note = frames.scatter_frames(
            result.projections["pca"],
            result.n_image,
            result.text_image_index,
            result.captions,
            max_pairs=views.COMPARE_PAIRS,
            max_lines=300,
        )
        figure = scatter.scatter_figure(
            points,
            lines=lines,
            arrow=arrow,
            first_caption=result.first_captions,
            title=f"{name}: {result.title}",
            height=420,
            ranges=ranges,
        )
        column.plotly_chart(figure, key=state.cmp_scatter_key(name), config=scatter.PLOTLY_CONFIG, theme=None)
        with column:
            views.hover_images_for(result, state.cmp_scatter_key(name))
        if sample_note:
            column.caption(sample_note)
    st.caption(note)
    from gapviz.app.shared import analysis

    diff = common.shared_compute(
        f"{first.key}|{second.key}:difference",
        "Bootstrapping the differences",
        lambda progress: analysis.difference(first, second),
        kind="derived",
    )
    table = comparison_table(first, second, diff)
    st.dataframe(comparison_display(table, state.digits()), hide_index=True, key=state.CMP_TABLE)
    st.caption(
        "Differences with 95% percentile-bootstrap intervals, "
        + (
            "paired: each resample draws the same images in both sources, so what they share cancels."
            if diff["paired"]
            else "from independent resamples of the two point sets."
        )
    )
    st.download_button(
        "Comparison table (CSV)",
        table.to_csv(index=False),
        "gapviz-comparison.csv",
        "text/csv",
        key=state.CMP_CSV,
        on_click="ignore",
    )


def compare_section(first: Analysis) -> None:
    """An expander: pick a second source and see both side by side."""
    with st.expander("Compare with a second source", expanded=state.ExploreState().comparison_open):
        st.toggle("show the comparison", key=state.CMP_OPEN)
        if not state.ExploreState().comparison_open:
            return
        try:
            choice = second_choice(st.container(), first)
            if choice is None:
                return
            second = common.shared_compute(choice[0], "Analysing the second source", choice[1])
        except Exception as error:  # noqa: BLE001 - a message (a bad fix name, a bad file), never a traceback
            common.show_error("Cannot analyse the second source", error)
            return
        views.ensure_metrics(second)
        side_by_side(first, second)


def epoch_layouts(run_id: str) -> dict[int, np.ndarray]:
    """Stored PCA layouts of every epoch, each aligned to the last one (one frame of reference)."""
    from gapviz.science.projection import align_to

    layouts = {e: common.projection(run_id, e, "pca") for e in common.store().epochs(run_id)}
    layouts = {e: np.asarray(c, dtype=np.float64) for e, c in layouts.items() if c is not None}
    if not layouts:
        return {}
    last = layouts[max(layouts)]
    return {e: align_to(last, c) if c.shape == last.shape else c for e, c in layouts.items()}


def shown_epochs(epochs: list[int], most: int = ALIGNED_MAX_EPOCHS) -> list[int]:
    """At most ``most`` of the sorted ``epochs``, evenly spaced, the first and the last always among them."""
    epochs = sorted(epochs)
    if len(epochs) <= most:
        return epochs
    picks = np.unique(np.linspace(0, len(epochs) - 1, most).round().astype(int))
    return [epochs[i] for i in picks]


def aligned_sample(n_image: int, index: np.ndarray, most: int = ALIGNED_MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Images and their captions to lay out, about ``most`` rows in all: whole pairs, seeded."""
    per_image = max(1.0, len(index) / max(n_image, 1))
    kept = frames.sample_images(n_image, max(1, int(most / (1 + per_image))))
    captions, _ = frames.pair_subset(index, kept)
    return kept, captions


def umap_epoch_layouts(run_id: str, kept: np.ndarray, captions: np.ndarray) -> dict[int, np.ndarray]:
    """AlignedUMAP layouts of the sampled pairs at the shown epochs (a child process, cached on disk)."""
    from gapviz.app.explore import projection_cache
    from gapviz.science.projection import check_same_points

    epochs = shown_epochs(common.store().epochs(run_id))
    stored = []
    for epoch in epochs:
        image, text = (common.epoch_member(run_id, epoch, key) for key in ("image", "text"))
        if image is None or text is None:
            raise StoreError(f"epoch {epoch} of run {run_id} has no stored embeddings")
        stored.append((image, text))
    check_same_points(stored)  # before indexing: a run whose evaluation set changed is a message
    pairs = [(np.asarray(i, dtype=np.float32)[kept], np.asarray(t, dtype=np.float32)[captions]) for i, t in stored]
    layouts = projection_cache.aligned_umap_layouts(common.home(), pairs)
    return dict(zip(epochs, layouts, strict=True))


def _epochs_caption(method: str, layouts: dict[int, np.ndarray], n_epochs: int, n_pairs: int, n_rows: int) -> str:
    """What the animation draws and where its layout came from."""
    if method == "pca":
        return (
            f"PCA of each epoch, rotated onto the last epoch's; {n_pairs:,} pairs drawn. The UMAP choice lays "
            f"out a sample of pairs over up to {ALIGNED_MAX_EPOCHS} epochs with umap.AlignedUMAP."
        )
    shown = ", ".join(str(e) for e in sorted(layouts))
    which = (
        f"epochs {shown}"
        if len(layouts) == n_epochs
        else f"epochs {shown} ({len(layouts)} of {n_epochs}, evenly spaced)"
    )
    return (
        f"umap.AlignedUMAP of {which}: {n_pairs:,} images and their captions ({n_rows:,} points), one joint fit "
        "in which each point stays near its place at the neighbouring epochs. Computed once in a separate "
        f"process ({ALIGNED_FIRST_TIME} on two cores) and cached on disk."
    )


def _epochs_figure(result: Analysis, method: str) -> tuple[dict[int, np.ndarray], int, np.ndarray, int]:
    """(layouts, image rows, drawn rows, pairs drawn) of the chosen method."""
    n_image = result.n_image
    if method == "pca":
        layouts = common.shared_compute(
            f"{result.key}:epochs", "Aligning epochs", lambda p: epoch_layouts(result.run_id), kind="derived"
        )
        kept = frames.sample_images(n_image, views.ANIMATION_PAIRS)
        captions, _ = frames.pair_subset(result.index, kept)
        return layouts, n_image, np.concatenate([kept, n_image + captions]), len(kept)
    kept, captions = aligned_sample(n_image, result.index)
    key = f"aligned-umap:{result.run_id}:{common.run_version(result.run_id)}:{len(kept)}:{len(captions)}"

    def compute(progress: Any) -> dict[int, np.ndarray]:
        progress("umap.AlignedUMAP in a separate process (numba compiles there the first time)", 0.1)
        return umap_epoch_layouts(result.run_id, kept, captions)

    layouts = common.shared_compute(key, "Laying out the epochs with AlignedUMAP", compute, kind="derived")
    return layouts, len(kept), np.arange(len(kept) + len(captions)), len(kept)


def epochs_section(result: Analysis) -> None:
    """For a saved run: its epochs as an aligned animation (PCA or AlignedUMAP) with a play control."""
    if not result.run_id:
        return
    with st.expander("Epochs of this run, aligned (play)"):
        n_epochs = len(common.store().epochs(result.run_id))
        if n_epochs < 2:
            st.info("This run has a single stored evaluation.")
            return
        method = st.radio(
            "Layout", list(EPOCH_METHODS), format_func=EPOCH_METHODS.get, horizontal=True, key=state.EPOCHS_METHOD
        )
        try:
            layouts, n_image, rows, n_pairs = _epochs_figure(result, method)
        except Exception as error:  # noqa: BLE001 - a message (the child failed, a missing epoch), never a traceback
            common.show_error("Cannot lay out the epochs", error)
            return
        if len(layouts) < 2:
            st.info("This run has a single stored evaluation.")
            return
        st.plotly_chart(
            scatter.epoch_animation(layouts, n_image, rows),
            key=state.EPOCHS,
            theme=None,
            config=scatter.PLOTLY_CONFIG,
        )
        st.caption(_epochs_caption(method, layouts, n_epochs, n_pairs, len(rows)))
