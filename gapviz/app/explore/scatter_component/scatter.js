// gapviz's big-set scatter, a Streamlit component spoken to by postMessage (no npm build, nothing fetched).
// Plotly draws the axes, pair lines, rings, zoom and box/lasso; the points are rasterised here into a layout image
// (software WebGL took seconds per million points; a pixel buffer takes milliseconds), redrawn on every zoom.
// Hover and click find the nearest point themselves. Args: xy (float32 x, y per drawn point, images first), rows
// (int32 joint rows, empty when every row is drawn), lines (float32 x, y, x2, y2 per pair line), n_image,
// n_image_drawn, rings, annotations, styles ({colors, rings, config}), title, height, data_key (the data's
// identity: new bytes are read only when it changes). Sends back {rows, mode, seq}: the joint rows clicked
// (mode "click") or box/lasso-selected ("box", "lasso"), none on a double-click ("none").
"use strict";
(function () {
  const plot = document.getElementById("plot");
  const tip = document.getElementById("tip");
  const NEAR_PX = 8;
  let shown = null, seq = 0, bound = false, raster = "", args = null, image = null;

  function send(type, extra) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, extra), "*");
  }

  function typed(bytes, Kind) {
    // A view on the received bytes; copied only when their offset does not fit the element size.
    if (!bytes || !bytes.byteLength) return new Kind(0);
    const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    if (u8.byteOffset % Kind.BYTES_PER_ELEMENT === 0) {
      return new Kind(u8.buffer, u8.byteOffset, u8.byteLength / Kind.BYTES_PER_ELEMENT);
    }
    return new Kind(u8.slice().buffer);
  }

  function bounds(xy) {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < xy.length; i += 2) {
      const x = xy[i], y = xy[i + 1];
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    const px = 0.04 * (x1 - x0 || 1), py = 0.04 * (y1 - y0 || 1);
    return [[x0 - px, x1 + px], [y0 - py, y1 + py]];
  }

  function lineTrace(lines) {
    const n = lines.length / 4, x = new Float32Array(3 * n), y = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) {
      x[3 * i] = lines[4 * i]; y[3 * i] = lines[4 * i + 1];
      x[3 * i + 1] = lines[4 * i + 2]; y[3 * i + 1] = lines[4 * i + 3];
      x[3 * i + 2] = NaN; y[3 * i + 2] = NaN;
    }
    return { type: "scattergl", mode: "lines", x: x, y: y, name: "pairs", hoverinfo: "skip", showlegend: false,
             line: { color: "rgba(120,120,120,0.35)", width: 0.7 } };
  }

  function legendTrace(modality, color, range) {
    // Names a modality in the legend and gives box/lasso something to select (two clear corner points).
    return { type: "scatter", mode: "markers", name: modality, x: range[0], y: range[1], hoverinfo: "skip",
             marker: { color: color, size: 1 }, showlegend: true };
  }

  function load(a) {
    const xy = typed(a.xy, Float32Array);
    shown = { key: a.data_key, xy: xy, rows: typed(a.rows, Int32Array), lines: typed(a.lines, Float32Array),
              n_image: a.n_image, images: a.n_image_drawn, total: xy.length / 2, range: bounds(xy) };
    window.gapvizScatter = shown;
    raster = "";
    image = null;
    delete document.body.dataset.drawn;
  }

  function rgb(hex) {
    const v = parseInt(hex.slice(1), 16);
    return (0xff << 24) | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff);  // little-endian RGBA
  }

  function paint(xa, ya) {
    // The points of the shown ranges as a PNG, 2 px each, captions over images.
    const w = Math.max(1, Math.round(xa._length)), h = Math.max(1, Math.round(ya._length));
    const canvas = document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d"), image = ctx.createImageData(w, h);
    const px = new Uint32Array(image.data.buffer), xy = shown.xy;
    const [x0, x1] = xa.range, [y0, y1] = ya.range, sx = w / (x1 - x0), sy = h / (y1 - y0);
    const colors = [rgb(args.styles.colors.image), rgb(args.styles.colors.text)];
    for (let i = 0; i < shown.total; i++) {
      const c = Math.floor((xy[2 * i] - x0) * sx), r = Math.floor((y1 - xy[2 * i + 1]) * sy);
      if (c < 0 || r < 0 || c >= w - 1 || r >= h - 1) continue;
      const color = colors[i < shown.images ? 0 : 1], at = r * w + c;
      px[at] = color; px[at + 1] = color; px[at + w] = color; px[at + w + 1] = color;
    }
    ctx.putImageData(image, 0, 0);
    return { source: canvas.toDataURL("image/png"), xref: "x", yref: "y", x: x0, y: y1, sizex: x1 - x0,
             sizey: y1 - y0, sizing: "stretch", xanchor: "left", yanchor: "top", layer: "below" };
  }

  function repaint() {
    const xa = plot._fullLayout.xaxis, ya = plot._fullLayout.yaxis;
    const key = [xa.range, ya.range, xa._length, ya._length].join();
    if (key === raster) return Promise.resolve();
    raster = key;
    image = paint(xa, ya);
    return Plotly.relayout(plot, { images: [image] });
  }

  function nearest(event, radius) {
    // The drawn point nearest the mouse within ``radius`` px: its position in xy, or -1.
    const xa = plot._fullLayout.xaxis, ya = plot._fullLayout.yaxis, box = plot.getBoundingClientRect();
    const mx = event.clientX - box.left - xa._offset, my = event.clientY - box.top - ya._offset;
    const x = xa.p2d(mx), y = ya.p2d(my), kx = xa._length / (xa.range[1] - xa.range[0]);
    const ky = ya._length / (ya.range[1] - ya.range[0]), xy = shown.xy;
    let best = -1, bestD = radius * radius;
    for (let i = 0; i < shown.total; i++) {
      const dx = (xy[2 * i] - x) * kx, dy = (xy[2 * i + 1] - y) * ky, d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  function jointRow(i) {
    if (shown.rows.length) return shown.rows[i];
    return i < shown.images ? i : shown.n_image + (i - shown.images);
  }

  function label(i) {
    const word = i < shown.images ? "image " : "caption ";
    if (shown.rows.length) return word + "row " + shown.rows[i];
    return word + (i < shown.images ? i : i - shown.images);
  }

  function hover(event) {
    const i = nearest(event, NEAR_PX);
    if (i < 0) { tip.style.display = "none"; return; }
    tip.textContent = label(i);
    tip.style.left = (event.clientX + 12) + "px";
    tip.style.top = (event.clientY + 12) + "px";
    tip.style.display = "block";
  }

  function inside(x, y, px, py) {
    // Ray casting: is (x, y) inside the polygon px, py?
    let odd = false;
    for (let i = 0, j = px.length - 1; i < px.length; j = i++) {
      if ((py[i] > y) !== (py[j] > y) && x < ((px[j] - px[i]) * (y - py[i])) / (py[j] - py[i]) + px[i]) odd = !odd;
    }
    return odd;
  }

  function selected(ev) {
    // Positions in xy of the points in the box or lasso of a plotly_selected event.
    const xy = shown.xy, out = [];
    const lx = ev.lassoPoints && ev.lassoPoints.x, ly = ev.lassoPoints && ev.lassoPoints.y;
    const bx = ev.range ? ev.range.x : [Math.min(...lx), Math.max(...lx)];
    const by = ev.range ? ev.range.y : [Math.min(...ly), Math.max(...ly)];
    for (let i = 0; i < shown.total; i++) {
      const x = xy[2 * i], y = xy[2 * i + 1];
      if (x < bx[0] || x > bx[1] || y < by[0] || y > by[1]) continue;
      if (ev.range || inside(x, y, lx, ly)) out.push(i);
    }
    return out;
  }

  function pick(positions, mode) {
    seq += 1;
    const rows = positions.map(jointRow);
    send("streamlit:setComponentValue", { value: { rows: rows, mode: mode, seq: seq }, dataType: "json" });
  }

  let pending = null;
  function bind() {
    if (bound) return;
    bound = true;
    plot.addEventListener("mousemove", event => {
      if (pending === null) pending = requestAnimationFrame(() => { pending = null; hover(event); });
    });
    plot.addEventListener("mouseleave", () => { tip.style.display = "none"; });
    plot.addEventListener("click", event => {
      const i = nearest(event, NEAR_PX);
      if (i >= 0) pick([i], "click");
    });
    plot.on("plotly_selected", ev => { if (ev && (ev.range || ev.lassoPoints)) pick(selected(ev), ev.range ? "box" : "lasso"); });
    plot.on("plotly_deselect", () => pick([], "none"));
    plot.on("plotly_relayout", () => { repaint(); });
  }

  function layout(a, ranges) {
    return {
      title: a.title ? { text: a.title } : undefined, height: a.height, uirevision: a.data_key,
      hovermode: "closest", dragmode: "zoom", plot_bgcolor: "#fff", paper_bgcolor: "#fff",
      legend: { orientation: "h", y: 1.02, x: 0, yanchor: "bottom", itemsizing: "constant" },
      margin: { l: 40, r: 10, t: a.title ? 60 : 30, b: 40 },
      xaxis: { title: { text: "component 1" }, zeroline: false, gridcolor: "#ebf0f8", range: ranges[0] },
      yaxis: { title: { text: "component 2" }, zeroline: false, gridcolor: "#ebf0f8", range: ranges[1] },
      annotations: a.annotations || [], images: image ? [image] : [],
    };
  }

  function ringTraces(rings, styles) {
    const out = [];
    for (const role of Object.keys(styles)) {
      const xy = (rings || {})[role];
      if (!xy || !xy.length) continue;
      out.push({ type: "scatter", mode: "markers", x: xy.map(p => p[0]), y: xy.map(p => p[1]), hoverinfo: "skip",
                 name: role === "point" ? "clicked point" : role,
                 marker: Object.assign({ symbol: "circle-open" }, styles[role]) });
    }
    return out;
  }

  function render(a) {
    args = a;
    const fresh = !shown || shown.key !== a.data_key;
    if (fresh) load(a);
    const full = plot._fullLayout;
    const ranges = fresh || !full ? shown.range : [full.xaxis.range.slice(), full.yaxis.range.slice()];
    const traces = [legendTrace("image", a.styles.colors.image, shown.range),
                    legendTrace("text", a.styles.colors.text, shown.range)];
    if (shown.lines.length) traces.unshift(lineTrace(shown.lines));
    const config = Object.assign({ responsive: true }, a.styles.config);
    Plotly.react(plot, traces.concat(ringTraces(a.rings, a.styles.rings)), layout(a, ranges), config)
      .then(() => { bind(); return repaint(); })
      .then(() => { document.body.dataset.drawn = String(shown.total); });
    send("streamlit:setFrameHeight", { height: a.height });
  }

  window.addEventListener("message", event => {
    const data = event.data;
    if (data && data.type === "streamlit:render") render(data.args);
  });
  send("streamlit:componentReady", { apiVersion: 1 });
})();
