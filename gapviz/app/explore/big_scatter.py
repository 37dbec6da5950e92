"""The scatter of a big set (above views.MAX_WEBGL_PAIRS pairs): a Streamlit component shipped in this package.

st.plotly_chart took a minute to draw a million pairs and plotly.js's own WebGL seconds more in software rendering
(docs/benchmarks.md), so big sets go to scatter_component/ (index.html + scatter.js, no build step): plotly.js (the
``plotly`` package's copy, placed next to it on first use: nothing is fetched at run time) draws the axes, zoom and
box/lasso, and the points are painted into a pixel buffer shown as the plot's image, repainted on zoom. Coordinates
and rows travel as bytes (float32, int32), never as JSON lists; hover names a point by its index (text content,
never a caption). A click or a box/lasso comes back as {"rows", "mode", "seq"}; event_selection turns it into the
shape of st.plotly_chart's selection, so Explore's picking code reads both alike.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from gapviz.app.shared import scatter

COMPONENT = Path(__file__).resolve().parent / "scatter_component"
PLOTLY_JS = "plotly.min.js"
COMPONENT_FILES = ("index.html", "scatter.js")
NAME = "gapviz_scatter"


def installed_plotly_js() -> Path:
    """plotly.min.js of the installed ``plotly`` package (the copy the component draws with)."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / PLOTLY_JS


def _with_plotly(folder: Path) -> Path:
    """``folder`` once it holds the installed plotly.min.js (copied when missing or of another size)."""
    source, target = installed_plotly_js(), folder / PLOTLY_JS
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        partial = target.with_suffix(".part")
        shutil.copyfile(source, partial)
        partial.replace(target)
    return folder


def component_folder(home: Path) -> Path:
    """The folder Streamlit serves the component from: this package's, else (read-only install) a copy under home."""
    try:
        return _with_plotly(COMPONENT)
    except OSError:
        cache = home / "cache" / "scatter_component"
        cache.mkdir(parents=True, exist_ok=True)
        for name in COMPONENT_FILES:
            shutil.copyfile(COMPONENT / name, cache / name)
        return _with_plotly(cache)


@functools.cache
def component(folder: Path) -> Callable[..., Any]:
    """The declared component (once per process)."""
    import streamlit.components.v1 as components

    return components.declare_component(NAME, path=str(folder))


def data_args(coords: np.ndarray, rows: np.ndarray, n_image: int, lines: pd.DataFrame) -> dict[str, Any]:
    """The points and pair lines as bytes: float32 (x, y) of ``rows`` (ascending, images first), int32 joint rows
    (empty when every row is drawn: a point's index is then its row) and float32 (x, y, x2, y2) per line."""
    rows = np.asarray(rows, dtype=np.int64)
    every = len(rows) == len(coords)
    segments = lines[["x", "y", "x2", "y2"]].to_numpy(dtype=np.float32) if len(lines) else np.empty(0, np.float32)
    return {
        "xy": np.ascontiguousarray(coords[rows], dtype=np.float32).tobytes(),
        "rows": b"" if every else rows.astype(np.int32).tobytes(),
        "lines": segments.tobytes(),
        "n_image": int(n_image),
        "n_image_drawn": int((rows < n_image).sum()),
    }


def ring_points(coords: np.ndarray, rings: Mapping[str, Sequence[int]]) -> dict[str, list[list[float]]]:
    """(x, y) of each role's joint rows (the component rings them; a few points, so JSON)."""
    return {role: coords[np.asarray(rows, dtype=np.int64)].astype(float).tolist() for role, rows in rings.items()}


def draw(
    data: dict[str, Any],
    *,
    data_key: str,
    rings: dict[str, list[list[float]]],
    arrow: pd.DataFrame | None,
    title: str,
    height: int,
    key: str,
    on_change: Callable[[], None],
    home: Path,
) -> None:
    """The component with ``data`` (data_args; re-read by the browser only when ``data_key`` changes) and rings."""
    styles = {"colors": scatter.MODALITY_COLORS, "rings": scatter.HIGHLIGHT_STYLES, "config": scatter.PLOTLY_CONFIG}
    component(component_folder(home))(
        **data,
        key=key,
        on_change=on_change,
        default=None,
        data_key=data_key,
        rings=rings,
        annotations=[scatter.arrow_annotation(arrow)] if arrow is not None and len(arrow) else [],
        title=title,
        height=height,
        styles=styles,
    )


def event_selection(value: Any) -> dict[str, Any]:
    """The component's value as st.plotly_chart's selection event (points carrying their joint row as customdata;
    box or lasso non-empty for a region), so scatter.selected_rows and scatter.is_click read it."""
    value = value if isinstance(value, dict) else {}
    mode = value.get("mode")
    points = [{"customdata": int(r)} for r in value.get("rows") or [] if isinstance(r, int)]
    region: list[dict[str, Any]] = [{}]
    return {
        "selection": {
            "points": points,
            "box": region if mode == "box" else [],
            "lasso": region if mode == "lasso" else [],
        }
    }
