"""The interactive embedding scatter: a Plotly WebGL (Scattergl) figure built from scatter frames.

Plotly ships inside Streamlit's frontend (no CDN), draws 200,000 points on the GPU or its
software fallback, and ``st.plotly_chart(on_select="rerun")`` returns box, lasso and clicked
points to Python. Every point carries its joint row (image rows first, then captions) as
``customdata``, so a selection maps back to embeddings whatever trace it came from, and its pair's
image index in the trace's ``meta`` list (gapviz.app.explore.hover_images reads it on hover). Captions
are user text: hover labels escape them (Plotly reads a few HTML tags in labels). No Streamlit
here: the page passes the figure to ``st.plotly_chart``.
"""

from __future__ import annotations

import html
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gapviz.charts import IMAGE_COLOR, TEXT_COLOR

MODALITY_COLORS = {"image": IMAGE_COLOR, "text": TEXT_COLOR}
MODALITY_SYMBOLS = {"image": "circle", "text": "diamond"}
CATEGORY_COLORS = (
    "#4C78A8",
    "#F58518",
    "#54A24B",
    "#E45756",
    "#72B7B2",
    "#B279A2",
    "#FF9DA6",
    "#9D755D",
    "#EECA3B",
    "#BAB0AC",
)
MAX_CATEGORIES = len(CATEGORY_COLORS)
"""Categories coloured apart; the rarer ones share the last colour as "other"."""
HOVER_WRAP = 70
"""Captions longer than this break onto a second hover line."""
MARKER_SIZE = {"small": 7, "large": 4}
LARGE_SET = 20_000
"""Above this many points markers shrink so dense regions stay readable."""
PLOTLY_CONFIG = {
    "displaylogo": False,
    "scrollZoom": True,
    "toImageButtonOptions": {"format": "png", "filename": "gapviz-scatter", "scale": 2},
}
"""st.plotly_chart config: no Plotly link, wheel zoom, the camera button saves a PNG."""
SELECTION_MODES = ("points", "box", "lasso")


def _label(text: str) -> str:
    """User text made safe for a Plotly hover label (escaped, long lines broken once)."""
    safe = html.escape(str(text), quote=False)
    if len(safe) > HOVER_WRAP:
        cut = safe.rfind(" ", 0, HOVER_WRAP)
        cut = cut if cut > 0 else HOVER_WRAP
        safe = safe[:cut] + "<br>" + safe[cut:].lstrip()
    return safe


def hover_texts(points: pd.DataFrame, first_caption: Sequence[str] | None = None) -> list[str]:
    """One hover label per point: the point's caption and its partner's.

    An image shows its index and its (first) caption; a caption shows its text and its image,
    with that image's first caption (``first_caption[image]``) when it differs.
    """
    firsts = first_caption if first_caption is not None else ()
    labels = points["label"] if "label" in points.columns else [""] * len(points)
    out = []
    for modality, pair, caption, label in zip(
        points["modality"], points["pair"], points["caption"], labels, strict=True
    ):
        extra = f"<br>class: {_label(label)}" if label else ""
        if modality == "image":
            out.append(f"<b>image {pair}</b>{extra}<br>its caption: {_label(caption) or '—'}")
            continue
        first = firsts[pair] if 0 <= pair < len(firsts) else ""
        also = f"<br>image's first caption: {_label(first)}" if first and first != caption else ""
        partner = f"image {pair}" if pair >= 0 else "no image"
        out.append(f"<b>caption</b>: {_label(caption) or '—'}<br>its partner: {partner}{also}{extra}")
    return out


def _categories(values: pd.Series) -> pd.Series:
    """Values as category names, the rarest beyond MAX_CATEGORIES folded into "other"."""
    names = values.astype(str)
    common = names.value_counts().index[: MAX_CATEGORIES - 1] if names.nunique() > MAX_CATEGORIES else names.unique()
    return names.where(names.isin(common), "other")


def is_numeric(values: pd.Series) -> bool:
    """Colour as a continuous scale (numbers with many distinct values) rather than as categories."""
    return pd.api.types.is_numeric_dtype(values) and values.nunique() > MAX_CATEGORIES


def _trace(frame: pd.DataFrame, texts: np.ndarray, name: str, modality: str, marker: dict[str, Any]) -> go.Scattergl:
    size = MARKER_SIZE["large" if len(frame) > LARGE_SET else "small"]
    return go.Scattergl(
        x=frame["x"].to_numpy(),
        y=frame["y"].to_numpy(),
        mode="markers",
        name=name,
        legendgroup=name,
        customdata=frame["row"].to_numpy(dtype=np.int64),
        meta=frame["pair"].astype(int).tolist(),  # each point's image, for hover_images (a plain list)
        text=texts,
        hovertemplate="%{text}<extra></extra>",
        marker={"size": size, "opacity": 0.75, "symbol": MODALITY_SYMBOLS[modality], **marker},
    )


def _groups(points: pd.DataFrame, color_by: str) -> list[tuple[str, np.ndarray, dict[str, Any]]]:
    """(legend name, row mask, marker style) of each colour group."""
    if color_by == "modality" or color_by not in points.columns:
        return [(m, (points["modality"] == m).to_numpy(), {"color": MODALITY_COLORS[m]}) for m in ("image", "text")]
    if is_numeric(points[color_by]):
        return [
            (
                color_by,
                np.ones(len(points), dtype=bool),
                {"color": points[color_by].to_numpy(), "coloraxis": "coloraxis"},
            )
        ]
    names = _categories(points[color_by])
    order = sorted(set(names) - {"other"}) + (["other"] if "other" in set(names) else [])
    return [(n, (names == n).to_numpy(), {"color": CATEGORY_COLORS[i % MAX_CATEGORIES]}) for i, n in enumerate(order)]


def point_traces(
    points: pd.DataFrame, color_by: str = "modality", first_caption: Sequence[str] | None = None
) -> list[go.Scattergl]:
    """Point traces, one per (colour group, modality): modality is the marker shape, one symbol a trace."""
    texts = np.asarray(hover_texts(points, first_caption), dtype=object)
    modality = points["modality"].to_numpy()
    traces = []
    for name, mask, marker in _groups(points, color_by):
        for m in ("image", "text"):
            keep = mask & (modality == m)
            if not keep.any():
                continue
            style = {
                k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in marker.items()
            }  # arrays span every point
            label = name if name in MODALITY_COLORS else f"{name} · {m}"
            traces.append(_trace(points[keep], texts[keep], label, m, style))
    return traces


def line_trace(lines: pd.DataFrame) -> go.Scattergl:
    """All pair lines as one trace, segments separated by gaps (NaN), not hoverable or selectable."""
    n = len(lines)
    xs, ys = np.full(3 * n, np.nan), np.full(3 * n, np.nan)
    xs[0::3], xs[1::3] = lines["x"].to_numpy(), lines["x2"].to_numpy()
    ys[0::3], ys[1::3] = lines["y"].to_numpy(), lines["y2"].to_numpy()
    return go.Scattergl(
        x=xs,
        y=ys,
        mode="lines",
        name="pairs",
        hoverinfo="skip",
        showlegend=False,
        line={"color": "rgba(120,120,120,0.35)", "width": 0.7},
    )


def arrow_annotation(arrow: pd.DataFrame) -> dict[str, Any]:
    """The gap vector as an arrow from the text centroid to the image centroid (data coordinates)."""
    row = arrow.iloc[0]
    return {
        "x": float(row["x2"]),
        "y": float(row["y2"]),
        "ax": float(row["x"]),
        "ay": float(row["y"]),
        "xref": "x",
        "yref": "y",
        "axref": "x",
        "ayref": "y",
        "showarrow": True,
        "arrowhead": 3,
        "arrowsize": 1.4,
        "arrowwidth": 2.5,
        "arrowcolor": "#222222",
        "text": "",
        "hovertext": f"gap (2-D) {float(row['gap']):.3f}" if "gap" in row else "",
    }


HIGHLIGHT_STYLES = {
    "point": {"size": 18, "color": "#d62728", "line": {"width": 3, "color": "#d62728"}},
    "partner": {"size": 15, "color": "#9467bd", "line": {"width": 2.5, "color": "#9467bd"}},
    "neighbours": {"size": 12, "color": "#2ca02c", "line": {"width": 2, "color": "#2ca02c"}},
}
"""Rings around a clicked point, its partner and its nearest neighbours (drawn over the points)."""


def highlight_traces(points: pd.DataFrame, rows: Mapping[str, Sequence[int]]) -> list[go.Scattergl]:
    """One ring trace per role of HIGHLIGHT_STYLES, at the drawn points whose joint row ``rows[role]`` lists.

    Rings are not hoverable: a click on one reaches the point below it."""
    traces = []
    for role, style in HIGHLIGHT_STYLES.items():
        shown = points[points["row"].isin(list(rows.get(role, ())))]
        if not len(shown):
            continue
        traces.append(
            go.Scattergl(
                x=shown["x"].to_numpy(),
                y=shown["y"].to_numpy(),
                mode="markers",
                name=f"clicked {role}" if role == "point" else role,
                hoverinfo="skip",
                marker={"symbol": "circle-open", **style},
            )
        )
    return traces


def scatter_figure(
    points: pd.DataFrame,
    *,
    color_by: str = "modality",
    lines: pd.DataFrame | None = None,
    arrow: pd.DataFrame | None = None,
    first_caption: Sequence[str] | None = None,
    title: str = "",
    height: int = 560,
    ranges: tuple[Sequence[float], Sequence[float]] | None = None,
    highlight: Mapping[str, Sequence[int]] | None = None,
) -> go.Figure:
    """The joint scatter of both modalities with optional pair lines, gap arrow and rings.

    ``points`` comes from frames.scatter_frames (columns x, y, modality, pair, row, caption and
    optional label / metadata columns); ``ranges`` fixes the axes (x range, y range); ``highlight``:
    role → joint rows ringed (highlight_traces).
    """
    traces: list[Any] = [line_trace(lines)] if lines is not None and len(lines) else []
    traces += point_traces(points, color_by, first_caption)
    traces += highlight_traces(points, highlight or {})
    figure = go.Figure(traces)
    figure.update_layout(
        title={"text": html.escape(title, quote=False)} if title else None,
        height=height,
        uirevision="keep",
        hovermode="closest",
        legend={"orientation": "h", "y": 1.02, "x": 0, "yanchor": "bottom"},
        margin={"l": 40, "r": 10, "t": 60 if title else 30, "b": 40},
        template="plotly_white",
        coloraxis={"colorscale": "Viridis", "colorbar": {"title": {"text": color_by}, "thickness": 12}},
    )
    figure.update_xaxes(title_text="component 1", range=list(ranges[0]) if ranges else None, zeroline=False)
    figure.update_yaxes(title_text="component 2", range=list(ranges[1]) if ranges else None, zeroline=False)
    if arrow is not None and len(arrow):
        figure.add_annotation(**arrow_annotation(arrow))
    return figure


def selected_rows(event: Any) -> np.ndarray:
    """Joint rows of the points in a st.plotly_chart selection event (lines and duplicates dropped)."""
    selection = (event or {}).get("selection") or {}
    rows = []
    for point in selection.get("points") or []:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            rows.append(int(data))
    return np.unique(np.asarray(rows, dtype=np.int64))


def is_click(event: Any) -> bool:
    """A selection made by clicking one point (no box, no lasso)."""
    selection = (event or {}).get("selection") or {}
    return not selection.get("box") and not selection.get("lasso") and len(selected_rows(event)) == 1


PLAY = {"frame": {"duration": 600, "redraw": True}, "transition": {"duration": 300}, "fromcurrent": True}
PAUSE = {"frame": {"duration": 0}, "mode": "immediate"}


def animation_controls(epochs: list[int]) -> dict[str, Any]:
    """Layout of a play / pause pair of buttons and an epoch slider over the figure's frames."""
    buttons = [
        {"label": "▶ play", "method": "animate", "args": [None, PLAY]},
        {"label": "❚❚ pause", "method": "animate", "args": [[None], PAUSE]},
    ]
    steps = [
        {"label": str(e), "method": "animate", "args": [[str(e)], {"mode": "immediate", "frame": {"redraw": True}}]}
        for e in epochs
    ]
    return {
        "updatemenus": [{"type": "buttons", "x": 0, "y": -0.12, "xanchor": "left", "buttons": buttons}],
        "sliders": [
            {"active": len(epochs) - 1, "x": 0.2, "len": 0.8, "currentvalue": {"prefix": "epoch "}, "steps": steps}
        ],
    }


def epoch_animation(
    coords_by_epoch: dict[int, np.ndarray], n_image: int, rows: np.ndarray, *, height: int = 520
) -> go.Figure:
    """The same points at every epoch with a play button and an epoch slider (fixed axes).

    ``coords_by_epoch``: (N + M, 2) layouts already aligned to one another; ``rows``: the joint rows
    drawn (a sample). SVG traces, not WebGL: Plotly animates those smoothly.
    """
    epochs = sorted(coords_by_epoch)
    stacked = np.vstack([coords_by_epoch[e][rows] for e in epochs])
    pad = 0.05 * (stacked.max(axis=0) - stacked.min(axis=0) + 1e-9)
    lo, hi = stacked.min(axis=0) - pad, stacked.max(axis=0) + pad
    is_image = rows < n_image

    def traces(epoch: int) -> list[go.Scatter]:
        xy = coords_by_epoch[epoch][rows]
        style = {"size": 6, "opacity": 0.75}
        return [
            go.Scatter(
                x=xy[mask, 0],
                y=xy[mask, 1],
                mode="markers",
                name=m,
                hoverinfo="skip",
                marker={**style, "color": MODALITY_COLORS[m], "symbol": MODALITY_SYMBOLS[m]},
            )
            for m, mask in (("image", is_image), ("text", ~is_image))
        ]

    figure = go.Figure(traces(epochs[-1]), frames=[go.Frame(data=traces(e), name=str(e)) for e in epochs])
    figure.update_layout(
        height=height,
        template="plotly_white",
        margin={"l": 40, "r": 10, "t": 30, "b": 40},
        xaxis={"range": [lo[0], hi[0]], "title": "component 1"},
        yaxis={"range": [lo[1], hi[1]], "title": "component 2"},
        **animation_controls(epochs),
    )
    return figure
