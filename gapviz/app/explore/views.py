"""The sections of the Explore page, each drawn from one Analysis (gapviz.app.shared.analysis).

Answers first: the headline numbers, then the scatter (a Plotly WebGL figure whose selection comes back to
Python) with the inspected point beside it: a click rings the point, its partner and its nearest neighbours
in the full space and lists them; box or lasso -> metrics of the selected pairs beside the whole set, below.
Then every other metric grouped and folded, the comparison with a second source on Procrustes-aligned axes,
the epochs of a run as an aligned animation, the cone histograms and the embedding-shift experiment.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from gapviz import charts
from gapviz.app.explore import anatomy, metric_groups, selection, state
from gapviz.app.shared import common, frames, measures, scatter
from gapviz.app.shared.analysis import Analysis
from gapviz.runs.records import RunState
from gapviz.science import catalog

BUILT_IN_CAPTION = (
    "Shown: the built-in shapes through gapviz-tiny at random init. Even an untrained CLIP shows a modality gap "
    "(Liang et al.'s cone effect). Train a run on Launch, pick another source above, or upload your own .npz "
    "(image, text, optional captions and images)."
)
MAX_WEBGL_PAIRS = 100_000
"""Up to this many pairs every point carries its hover text, colour group and image (st.plotly_chart); bigger sets go
to the bundled component (big_scatter: array_rows' points as bytes, modality colours, hover by index)."""
MAX_ARRAY_PAIRS = 1_000_000
"""Pairs drawn from arrays at most (2,000,000 points); bigger sets are sampled, with a note."""
LINES_DEFAULT_PAIRS = 2_000
"""Pair lines are on by default up to this many pairs, and drawn for at most MAX_LINES pairs."""
MAX_LINES = 2_000
SVG_PAIRS = 5_000
"""The SVG export (Altair, vl-convert) draws at most this many pairs."""
COMPARE_PAIRS = 5_000
ANIMATION_PAIRS = 1_000
LINEAR_METHODS = ("pca",)
"""Linear projections: the projected centroids' difference is the gap vector's projection, so only these draw it."""
PLOT_HEIGHT = 470
"""Scatter height (px): with the headline numbers above it, the whole plot shows at 1400 × 900 without scrolling."""
DIGITS = (2, 3, 4, 5, 6)
THUMB = st.column_config.ImageColumn("image", width="small")


# ---- picking runs ------------------------------------------------------------------------------
def newest_finished_run() -> str | None:
    """The newest finished run that has a stored evaluation (the default view)."""
    for run_id, summary in common.summaries().items():
        if summary.state == RunState.FINISHED and summary.epochs_done >= 0:
            return run_id
    return None


def pick_run_epoch(box: Any, prefix: str, *, url: bool) -> tuple[str, int] | None:
    """A run and one of its evaluated epochs (default: the newest finished run, its last epoch)."""
    summaries = common.summaries()
    if not summaries:
        box.info("No saved runs yet — train one on the Launch page or with `gapviz train`.")
        return None
    view, run_key, epoch_key = state.ExploreState(), state.run_key(prefix), state.epoch_key(prefix)
    if url:
        view.from_url("run", list(summaries))
    view.default_run(prefix, newest_finished_run() or next(iter(summaries)))
    c1, c2 = box.columns([3, 1])
    keep = [st.session_state[run_key]] if st.session_state.get(run_key) in summaries else []
    options = common.listed_runs(list(summaries), summaries, keep, f"{run_key}:find", c1)
    run_id = c1.selectbox("Run", options, key=run_key, format_func=lambda r: common.run_label(r, summaries))
    if common.unreadable(run_id, summaries, box):
        return None
    epochs = common.store().epochs(run_id)
    if not epochs:
        box.info("This run has no evaluated epoch yet.")
        return None
    if url:
        view.from_url("epoch", epochs)
    view.keep_epoch(prefix, epochs)
    epoch = int(c2.selectbox("Epoch", epochs, key=epoch_key))
    if url:
        view.to_url("run", "epoch")
    return run_id, epoch


def pick_checkpoint(box: Any) -> tuple[str, str, Any] | None:
    """(architecture, "", checkpoint file) of a run's kept checkpoint, or None."""
    summaries = common.summaries()
    if not summaries:
        box.info("No saved runs yet — train one on the Launch page or with `gapviz train`.")
        return None
    c1, c2 = box.columns([3, 1])
    keep = [st.session_state[state.CKPT_RUN]] if st.session_state.get(state.CKPT_RUN) in summaries else []
    options = common.listed_runs(list(summaries), summaries, keep, f"{state.CKPT_RUN}:find", c1)
    run_id = c1.selectbox("Run", options, key=state.CKPT_RUN, format_func=lambda r: common.run_label(r, summaries))
    if common.unreadable(run_id, summaries, box):
        return None
    store = common.store()
    kept = store.checkpoint_epochs(run_id)
    if not kept:
        box.info("This run kept no checkpoint (train.keep_epoch_checkpoints) — use its stored evaluation instead.")
        return None
    epoch = c2.selectbox("Checkpoint epoch", kept, index=len(kept) - 1, key=state.CKPT_EPOCH)
    return store.config(run_id).model.name, "", store.epoch_checkpoint(run_id, int(epoch))


# ---- the scatter ---------------------------------------------------------------------------------
def color_options(result: Analysis) -> list[str]:
    if result.n_image > MAX_WEBGL_PAIRS:
        return ["modality"]
    return ["modality"] + (["label"] if result.labels is not None else []) + list(result.metadata)


def scatter_points(
    result: Analysis, method: str, lines: bool, max_pairs: int = MAX_WEBGL_PAIRS
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, str]:
    """Scatter frames of ``method`` with every metadata column attached to each point's pair."""
    points, pair_lines, arrow, note = frames.scatter_frames(
        result.projections[method],
        result.n_image,
        result.text_image_index,
        result.captions,
        labels=result.labels,
        class_names=result.class_names,
        max_pairs=max_pairs,
        max_lines=MAX_LINES if lines else 0,
        max_thumbnails=0,
    )
    pairs = points["pair"].to_numpy()
    for name, values in result.metadata.items():
        column = pd.Series(values[np.clip(pairs, 0, None)])
        points[name] = column.where(pairs >= 0)
    return points, pair_lines, arrow, note


def array_rows(result: Analysis, method: str, lines: bool) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame, str]:
    """A big set's scatter: the joint rows drawn (every one with a layout, images beyond MAX_ARRAY_PAIRS sampled with
    their captions), lines for a seeded sample of MAX_LINES pairs, the gap arrow and a note saying what is shown."""
    coords = result.projections[method]
    kept = frames.sample_images(result.n_image, MAX_ARRAY_PAIRS)
    captions = np.flatnonzero(np.isin(result.index, kept)) if len(kept) < result.n_image else np.arange(result.n_text)
    rows = np.concatenate([kept, result.n_image + captions])
    rows = rows[np.isfinite(coords[rows]).all(axis=1)]
    notes = [] if len(rows) == result.n_image + result.n_text else [f"showing {len(rows):,} of {len(coords):,} points"]
    pair_lines = pd.DataFrame(columns=["x", "y", "x2", "y2"])
    if lines:
        drawn = frames.sample_images(len(captions), MAX_LINES, seed=1)
        pair_lines = frames.pair_line_frame(coords, result.n_image, result.index, captions[drawn], MAX_LINES)
        notes.append(f"lines for {len(pair_lines):,} of {len(captions):,} pairs (random sample)")
    arrow = frames.gap_arrow_frame(coords[rows], int((rows < result.n_image).sum()))  # rows: images first
    return rows, pair_lines, arrow, "; ".join(notes)


def umap_input(result: Analysis) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """(image, text, joint rows, note) that UMAP lays out: every pair up to UMAP_MAX_PAIRS, else a seeded sample of
    that many images with their captions (rows: where they sit in the joint layout; None when all)."""
    from gapviz.app.explore.projection_cache import UMAP_MAX_PAIRS

    if result.n_image <= UMAP_MAX_PAIRS:
        return result.image, result.text, None, ""
    if "umap-input" not in result.memo:
        kept = frames.sample_images(result.n_image, UMAP_MAX_PAIRS)
        captions, _ = frames.pair_subset(result.index, kept)
        rows = np.concatenate([kept, result.n_image + captions])
        note = f"UMAP of a random sample of {len(kept):,} of {result.n_image:,} pairs"
        image, text = (np.asarray(x, dtype=np.float32) for x in (result.image[kept], result.text[captions]))
        result.memo["umap-input"] = (image, text, rows, note)
    return result.memo["umap-input"]


def forget_umap_failure(result: Analysis) -> None:
    """ "Try again": drop the remembered failure so the next run of the page starts a fresh child."""
    from gapviz.app.explore import projection_cache

    image, text, _, _ = umap_input(result)
    projection_cache.forget_failure(projection_cache.cache_path(common.home(), image, text))


def umap_option(result: Analysis, box: Any) -> None:
    """Offer UMAP where the source has none (on a seeded sample of a large set, its size said): computed in a child
    process, cached on disk; a failure offers a retry."""
    from gapviz.app.explore import projection_cache

    if "umap" in result.projections:
        return
    image, text, rows, note = umap_input(result)
    label = "add UMAP" + (f" ({note.removeprefix('UMAP of ')})" if note else "")
    if projection_cache.cached_layout(common.home(), image, text) is None and not box.toggle(
        label, key=state.UMAP, help="computed once in a separate process (numba compiles there), then cached"
    ):
        return
    try:
        layout = common.shared_compute(
            f"{result.key}:umap",
            "UMAP in its own process",
            kind="derived",
            compute=lambda progress: projection_cache.umap_layout(common.home(), image, text),
        )
    except Exception as error:  # noqa: BLE001 - a message, never a traceback
        common.show_error("UMAP", error, box)
        box.button("Try again", key=state.UMAP_RETRY, on_click=forget_umap_failure, args=(result,))
        return
    if rows is not None:
        box.caption(note)
        full = np.full((result.n_image + result.n_text, 2), np.nan)
        full[rows] = layout
        layout = full
    result.projections["umap"] = layout


def scatter_controls(result: Analysis) -> tuple[str, str, bool, bool]:
    """Projection, colour, pair lines and gap arrow, in the sidebar; the arrow only in a linear projection."""
    box = st.sidebar
    box.markdown("**Scatter**")
    umap_option(result, box)
    methods = sorted(result.projections)
    view = state.ExploreState()
    view.from_url("method", methods)
    method = box.selectbox("Projection", methods, key=state.METHOD)
    view.to_url("method")
    color = box.selectbox(
        "Colour by", color_options(result), key=state.COLOR, format_func=lambda c: "class" if c == "label" else c
    )
    lines = box.toggle("lines between pairs", value=result.n_image <= LINES_DEFAULT_PAIRS, key=state.LINES)
    linear = method in LINEAR_METHODS
    arrow = box.toggle(
        "gap vector",
        value=True,
        key=state.ARROW,
        disabled=not linear,
        help="from the text centroid to the image centroid; drawn in linear projections (PCA) only, where the "
        "projected centroids' difference is the gap vector's projection",
    )
    return method, color, lines, arrow and linear


def hover_images_for(result: Analysis, target: str) -> None:
    """Images on hover in the scatter ``target`` when the source has images (sheets made once per source)."""
    from gapviz.app.explore import hover_images

    images = result.images
    if images is None or not len(images):
        return
    try:
        sheets = common.shared_compute(
            f"{result.key}:hover-sheets",
            "Preparing the images for hover",
            lambda progress: hover_images.prepare(common.home(), images),
            kind="derived",
        )
    except Exception as error:  # noqa: BLE001 - hover images are extra: a message, the scatter stays
        common.show_error("Images on hover", error)
        return
    hover_images.attach(common.home(), sheets, target)


def keep_selection(event: Any) -> None:
    """A click inspects its point (shown in "Inspect point"), a region is kept; a double-click clears."""
    rows = scatter.selected_rows(event)
    click = scatter.is_click(event)
    st.session_state[state.POINT] = int(rows[0]) if click else None
    st.session_state[state.PICKED] = (state.ExploreState().last_key, [] if click else rows.tolist())


def keep_pick() -> None:
    """on_select of st.plotly_chart: keep_selection of its event."""
    keep_selection(st.session_state.get(state.SCATTER))


def keep_big_pick() -> None:
    """on_change of the big-set component: its value read as st.plotly_chart's event, then keep_selection."""
    from gapviz.app.explore import big_scatter

    keep_selection(big_scatter.event_selection(st.session_state.get(state.BIG_SCATTER)))


def picked_region() -> np.ndarray:
    """Joint rows of the region last box- or lasso-selected in the shown source's scatter (empty when none)."""
    key, rows = st.session_state.get(state.PICKED) or ("", [])
    return np.asarray(rows if key == state.ExploreState().last_key else [], dtype=np.int64)


def inspected_point(result: Analysis) -> int | None:
    """The joint row being inspected (clicked or typed), None when none or out of this source's range."""
    row = st.session_state.get(state.POINT)
    if row is None or not 0 <= int(row) < result.n_image + result.n_text:
        st.session_state[state.POINT] = None  # before the input is drawn: a row of another source
        return None
    return int(row)


def ringed_rows(result: Analysis, row: int | None) -> dict[str, list[int]]:
    """Joint rows to ring in the scatter: the inspected point, its partner(s) and its nearest neighbours."""
    if row is None:
        return {}
    images, texts = selection.neighbour_rows(result, row)
    if row >= result.n_image:
        partner = [int(result.index[row - result.n_image])]
    else:
        partner = (result.n_image + np.flatnonzero(result.index == row)).tolist()
    return {"point": [row], "partner": [p for p in partner if p >= 0], "neighbours": [*images, *texts]}


def scatter_figure(result: Analysis, method: str, color: str, lines: bool, arrow: bool) -> tuple[Any, Any, str]:
    """The figure (built once per view and shared), the frame of its points that rings can find, and its note."""
    points, pair_lines, gap_arrow, note = scatter_points(result, method, lines)

    def build(progress: Any) -> Any:
        return scatter.scatter_figure(
            points,
            color_by=color,
            lines=pair_lines,
            arrow=gap_arrow if arrow else None,
            first_caption=result.first_captions,
            title=f"{method.upper()} of both modalities",
            height=PLOT_HEIGHT,
        )

    key = f"{result.key}:fig:{method}:{color}:{lines}:{arrow}"
    return common.shared_compute(key, "Drawing", build, kind="derived"), points, note


def big_scatter_section(result: Analysis, method: str, lines: bool, arrow: bool) -> str:
    """A big set's scatter through the bundled component (big_scatter): points as bytes, rings as a few (x, y)."""
    from gapviz.app.explore import big_scatter

    coords = result.projections[method]
    key = f"{result.key}:big:{method}:{lines}"

    def build(progress: Any) -> tuple[dict[str, Any], Any, str]:
        rows, pair_lines, gap_arrow, note = array_rows(result, method, lines)
        return big_scatter.data_args(coords, rows, result.n_image, pair_lines), gap_arrow, note

    chart = st.container()  # first, so the component keeps its place (and its frame) whether or not this computes
    data, gap_arrow, note = common.shared_compute(key, "Drawing", build, kind="derived")
    with chart:
        big_scatter.draw(
            data,
            data_key=key,
            rings=big_scatter.ring_points(coords, ringed_rows(result, inspected_point(result))),
            arrow=gap_arrow if arrow else None,
            title=f"{method.upper()} of both modalities",
            height=PLOT_HEIGHT,
            key=state.BIG_SCATTER,
            on_change=keep_big_pick,
            home=common.home(),
        )
    return note


def scatter_section(result: Analysis) -> None:
    """The WebGL scatter, the inspected point and its neighbours ringed; picks are kept by keep_pick."""
    method, color, lines, arrow = scatter_controls(result)
    big = result.n_image > MAX_WEBGL_PAIRS
    if big:
        note = big_scatter_section(result, method, lines, arrow)
    else:
        figure, points, note = scatter_figure(result, method, color, lines, arrow)
        rings = ringed_rows(result, inspected_point(result))
        if rings:
            figure = go.Figure(figure).add_traces(scatter.highlight_traces(points, rings))
        st.plotly_chart(
            figure,
            key=state.SCATTER,
            on_select=keep_pick,
            selection_mode=scatter.SELECTION_MODES,
            config=scatter.PLOTLY_CONFIG,
            theme=None,
        )
        hover_images_for(result, state.SCATTER)
    hover = "Hover names the point (its row in the file)" if big else "Hover shows the pair's captions"
    st.caption(
        hover + (" and its image" if result.images is not None and not big else "") + ". "
        "Click a point: it, its partner and its nearest neighbours are ringed and listed beside the plot; Box or "
        "Lasso Select in the toolbar measures a region; double-click clears. " + (note + "." if note else "")
    )
    svg_button(result, method, arrow)


def scatter_svg(points: pd.DataFrame, lines: pd.DataFrame, arrow: Any, n_image: int, title: str) -> str:
    """The scatter as SVG (Altair through vl-convert), on a seeded sample of SVG_PAIRS pairs."""
    kept = frames.sample_images(n_image, SVG_PAIRS)
    small = points[points["pair"].isin(kept)]
    chart = charts.embedding_scatter(small, pair_lines=lines.head(400), arrow=arrow, title=title)
    return charts.chart_svg(chart)


def svg_of(result: Analysis, method: str, arrow: bool) -> str:
    """scatter_svg of the shown view, its frames built for the SVG_PAIRS sample only (when the button is clicked)."""
    points, lines, gap_arrow, _ = scatter_points(result, method, True, max_pairs=SVG_PAIRS)
    return scatter_svg(points, lines, gap_arrow if arrow else None, result.n_image, method.upper())


def svg_button(result: Analysis, method: str, arrow: bool) -> None:
    """A download of the scatter as SVG, rendered only when clicked."""
    st.download_button(
        "Scatter as SVG",
        data=lambda: svg_of(result, method, arrow),
        file_name=f"gapviz-{method}.svg",
        mime="image/svg+xml",
        key=state.SVG,
        on_click="ignore",
    )


# ---- selection and neighbours ------------------------------------------------------------------
def neighbour_table(frame: pd.DataFrame, key: str) -> None:
    """A neighbour list that fits its column: cosine first and narrow, the caption taking what is left."""
    first = ["cosine"] + [c for c in ("image", "pair", "its image") if c in frame.columns]
    st.dataframe(
        frame[first + [c for c in frame.columns if c not in first]],
        hide_index=True,
        width="stretch",
        height=min(320, 36 * (len(frame) + 1) + 4),
        column_config={
            "image": THUMB,
            "cosine": st.column_config.NumberColumn("cosine", format="%.3f", width="small"),
            "pair": st.column_config.NumberColumn("pair", width="small"),
            "its image": st.column_config.NumberColumn("its image", width="small"),
            "caption": st.column_config.TextColumn("caption", width="large"),
        },
        key=key,
    )


def point_section(result: Analysis, row: int) -> None:
    """The inspected point, its partner, and its nearest images and captions in the full space (ringed in the plot)."""
    card = selection.point_card(result, row)
    st.markdown(f"**Point {row}** · {card['modality']} of pair {card['pair']}")
    left, right = st.columns([1, 4])
    if result.images is not None and card["pair"] >= 0:
        left.image(result.images[card["pair"]], width=56)
    if card["caption"]:
        right.text(f"caption: {card['caption']}")
    if card["partner"] != card["caption"] or not card["partner"]:
        which = "its caption" if card["modality"] == "image" else "its image’s first caption"
        right.text(f"{which}: {card['partner'] or '—'}")
    images, texts = selection.neighbour_frames(result, row)
    st.markdown("**Nearest images** (cosine, full space)")
    neighbour_table(images, state.NN_IMAGES)
    st.markdown("**Nearest captions** (cosine, full space)")
    neighbour_table(texts, state.NN_TEXTS)


def selection_metrics(result: Analysis, rows: np.ndarray) -> None:
    """Metrics of the selected pairs beside the whole set, the pairs listed, both as CSV."""
    pairs = selection.selected_pairs(result, rows)
    if len(pairs) < selection.MIN_SELECTED_PAIRS:
        st.info("Select at least two pairs to measure them.")
        return
    key = f"{result.key}:selection:{hash(pairs.tobytes())}"
    values, note = common.shared_compute(
        key, "Metrics of the selection", lambda p: selection.subset_metrics(result, pairs), kind="derived"
    )
    rest = common.shared_compute(
        f"{key}:versus-rest",
        "Selection against the rest",
        lambda p: selection.versus_rest(result, pairs),
        kind="derived",
    )
    st.markdown(f"**Selection: {len(pairs):,} pairs** of {result.n_image:,}")
    table = selection.metric_table(result.metrics, values, rest=rest)
    st.dataframe(selection.metric_display(table, state.digits()), hide_index=True, key=state.SELECTION_METRICS)
    if rest:
        st.caption(
            "selection − rest: the selected pairs against the pairs not selected, with a 95% bootstrap interval "
            "(independent resamples of the two sets); the last column says whether that interval excludes 0."
        )
    listing = selection.pairs_frame(result, pairs)
    st.dataframe(listing, hide_index=True, column_config={"image": THUMB}, key=state.SELECTION_PAIRS)
    row = st.container(horizontal=True)
    row.download_button(
        "Metric table (CSV)",
        table.to_csv(index=False),
        "gapviz-selection-metrics.csv",
        "text/csv",
        key=state.METRICS_CSV,
        on_click="ignore",
    )
    row.download_button(
        "Selected pairs (CSV)",
        lambda: selection.pairs_frame(result, pairs, limit=len(pairs), thumbnails=False).to_csv(index=False),
        "gapviz-selection.csv",
        "text/csv",
        key=state.SELECTION_CSV,
        on_click="ignore",
    )
    if note or len(pairs) > selection.TABLE_ROWS:
        st.caption("; ".join(filter(None, [note, f"table lists the first {selection.TABLE_ROWS}"])))


def side_panel(result: Analysis) -> None:
    """Beside the plot: the inspected point (clicked or typed) with its neighbours, else how to pick one."""
    row = inspected_point(result)
    st.number_input(
        "Inspect point (row: images first, then captions)",
        min_value=0,
        max_value=result.n_image + result.n_text - 1,
        value=None,
        step=1,
        key=state.POINT,
        help="or click a point in the scatter",
    )
    if row is not None:
        point_section(result, row)
    elif len(picked_region()):
        st.caption("The selected region is measured below the plot.")
    else:
        st.caption("Click a point: it, its partner and its nearest images and captions are ringed and listed here.")


# ---- whole-set metrics ------------------------------------------------------------------------------
def ensure_metrics(result: Analysis) -> str:
    """Fill in the whole-set metrics once (shared by sessions); returns the note on sampling."""
    from gapviz.app.shared import analysis

    values, note = common.shared_compute(
        f"{result.key}:metrics", "Gap metrics", lambda progress: analysis.complete_metrics(result), kind="derived"
    )
    result.metrics = values
    return note


def digits_choice(box: Any) -> int:
    """How many significant digits Explore's numbers show (3 unless the reader asks for more)."""
    return int(box.select_slider("significant digits", DIGITS, value=metric_groups.SIGNIFICANT, key=state.DIGITS))


def headline_row(result: Analysis) -> None:
    """The answers first: gap with its interval, relative gap, R@1 both ways and the probe, as tiles."""
    shown = metric_groups.headline(result.metrics)
    for col, name in zip(st.columns(len(metric_groups.HEADLINE)), shown, strict=False):
        value, interval = metric_groups.headline_parts(result.metrics, name, state.digits())
        col.metric(charts.metric_title(name), value, help=catalog.help_text(name))
        col.caption(interval)


def all_metrics(result: Analysis, note: str) -> None:
    """Every whole-set metric with a number, grouped by what it measures, folded away."""
    with st.expander("All metrics, grouped"):
        for group, table in metric_groups.grouped(result.metrics, state.digits()).items():
            st.markdown(f"**{group}**")
            st.dataframe(table, hide_index=True, width="stretch")
        if note:
            st.caption(note)


def show(result: Analysis) -> None:
    """Headline numbers, then the plot with the inspected point beside it, then every metric folded."""
    st.markdown(
        f"**{common.md_escape(result.title)}** · {result.n_image:,} images · {result.n_text:,} captions · "
        f"dimension {result.image.shape[1]}"
    )
    for note in result.notes:
        st.caption(note)
    top = st.container()  # filled once the metrics are in: large sets see their points first
    left, right = st.columns([3, 2])
    with left:
        scatter_section(result)
    note = ensure_metrics(result)
    with top:
        headline_row(result)
        if note:
            st.caption(note)
        measures.show_warnings(result.metrics)
    with right:
        side_panel(result)
    all_metrics(result, note)
    region = picked_region()
    if len(region) > 1:
        selection_metrics(result, region)


def cone_section(result: Analysis) -> None:
    """The cone effect (within-modality cosine histograms), then the gap's anatomy and the fixes."""
    st.subheader("Cone effect")
    st.caption("Cosine similarity between two items of the same modality: narrow cones sit far from 0.")
    hist = frames.cosine_histogram_frame(result.image, result.text)
    common.show_chart(charts.cosine_histogram(hist, width="container"), key=state.CONE)
    anatomy.anatomy_view(result)
