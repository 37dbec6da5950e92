"""Images on hover in the WebGL scatter: Plotly's hover labels hold text only, so a small component adds them.

The images are tiled into JPEG sheets once (gapviz.app.explore.thumb_sheets) under
``$GAPVIZ_HOME/cache/thumbs``; Streamlit's component file route serves that folder (a v1
component declared with a path, never rendered). A v2 component, whose JavaScript runs in the
page, listens to the scatter's ``plotly_hover`` events and shows the hovered pair's image beside
the cursor, cut out of its sheet. It gets numbers and same-origin URLs only: captions stay in
Plotly's escaped labels, and nothing is fetched from outside 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
import streamlit.components.v1 as components_v1

from gapviz.app.explore import thumb_sheets

DISPLAY_PX = 112
"""The hovered image is drawn this big (small thumbnails are scaled up, pixelated)."""
SHEETS_ROUTE = "thumbs"

JS = """
export default function (component) {
  const { data } = component;
  const doc = document;
  const state = (window.__gapvizHover = window.__gapvizHover || { sheets: {}, owners: {} });
  const token = {};
  state.sheets[data.target] = data;
  state.owners[data.target] = token;
  let tip = doc.getElementById("gapviz-hover-image");
  if (!tip) {
    tip = doc.createElement("div");
    tip.id = "gapviz-hover-image";
    tip.style.cssText = "position:fixed;display:none;z-index:100000;pointer-events:none;background:#fff;" +
      "border:1px solid #bbb;border-radius:4px;padding:4px;box-shadow:0 2px 8px rgba(0,0,0,.25);" +
      "font:12px sans-serif;color:#333";
    const frame = doc.createElement("div");
    frame.style.cssText = "position:relative;overflow:hidden";
    const img = doc.createElement("img");
    img.alt = "";
    img.style.cssText = "position:absolute;max-width:none;image-rendering:pixelated";
    frame.appendChild(img);
    const label = doc.createElement("div");
    label.style.cssText = "text-align:center;margin-top:2px";
    tip.appendChild(frame);
    tip.appendChild(label);
    doc.body.appendChild(tip);
  }
  const hide = () => { tip.style.display = "none"; delete tip.dataset.pair; };
  const show = (target, event) => {
    const d = state.sheets[target];
    const point = event && event.points && event.points[0];
    const pairs = point && point.data && point.data.meta;
    const pair = pairs && pairs.length > point.pointIndex ? Number(pairs[point.pointIndex]) : -1;
    if (!d || !(pair >= 0 && pair < d.count)) { hide(); return; }
    const sheet = Math.floor(pair / d.per_sheet), slot = pair % d.per_sheet;
    const col = slot % d.columns, row = Math.floor(slot / d.columns);
    const scale = d.display / Math.max(d.height, d.width);
    const frame = tip.firstChild, img = frame.firstChild;
    frame.style.width = d.width * scale + "px";
    frame.style.height = d.height * scale + "px";
    img.style.width = d.columns * d.width * scale + "px";
    img.style.left = -col * d.width * scale + "px";
    img.style.top = -row * d.height * scale + "px";
    const src = d.base + sheet + ".jpg";
    if (img.getAttribute("src") !== src) img.src = src;
    tip.lastChild.textContent = "image " + pair;
    tip.dataset.pair = String(pair);
    // centred above the cursor, clear of Plotly's label (beside the point, centred on it); below near the top
    const e = event.event || {}, cx = e.clientX || 0, cy = e.clientY || 0;
    const w = d.width * scale + 12, h = d.height * scale + 30;
    const above = cy - h - 44;
    tip.style.left = Math.max(4, Math.min(window.innerWidth - w - 4, cx - w / 2)) + "px";
    tip.style.top = (above >= 4 ? above : cy + 44) + "px";
    tip.style.display = "block";
  };
  const attach = () => {
    const plot = doc.querySelector(".st-key-" + data.target + " .js-plotly-plot");
    if (!plot || typeof plot.on !== "function" || plot.__gapvizHover) return;
    plot.__gapvizHover = true;
    plot.on("plotly_hover", (event) => show(data.target, event));
    plot.on("plotly_unhover", hide);
    plot.on("plotly_relayout", hide);
  };
  attach();
  const timer = setInterval(attach, 400);
  return () => {
    clearInterval(timer);
    if (state.owners[data.target] === token) { delete state.sheets[data.target]; hide(); }
  };
}
"""

_HOVER = st.components.v2.component("gapviz_hover_images", js=JS, isolate_styles=False)


def sheets_root(home: Path) -> Path:
    return Path(home) / "cache" / "thumbs"


def _route_base(home: Path) -> str:
    """The URL folder the sheets are served from (Streamlit's component route, under its base path)."""
    root = sheets_root(home)
    root.mkdir(parents=True, exist_ok=True)
    declared = components_v1.declare_component(SHEETS_ROUTE, path=str(root))
    prefix = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{prefix + '/' if prefix else ''}component/{declared.name}/"


def prepare(home: Path, images: np.ndarray) -> thumb_sheets.SheetSet:
    """The hover sheets of ``images`` (written once per set of images; cache the result per source)."""
    return thumb_sheets.write_sheets(sheets_root(home), images)


def hover_data(home: Path, sheets: thumb_sheets.SheetSet, target: str) -> dict[str, Any]:
    """What the component needs to show image i of a sheet set when a point of pair i is hovered."""
    return {
        "target": target,
        "base": f"{_route_base(home)}{sheets.key}/",
        "count": sheets.count,
        "height": sheets.height,
        "width": sheets.width,
        "columns": sheets.columns,
        "per_sheet": sheets.per_sheet,
        "display": DISPLAY_PX,
    }


def attach(home: Path, sheets: thumb_sheets.SheetSet, target: str) -> None:
    """Show images on hover in the st.plotly_chart whose key is ``target``."""
    _HOVER(data=hover_data(home, sheets, target), key=f"{target}_hover_images")
