// gapviz's big-set scatter: a Streamlit component spoken to by postMessage (no npm build, nothing fetched).
// Args: xy (float32 x, y per drawn point, images first), rows (int32 joint rows, empty when every row is drawn),
// lines (float32 x, y, x2, y2 per pair line), n_image (images in the set), n_image_drawn, rings, annotations,
// styles ({colors, rings, config}: gapviz.app.shared.scatter's), title, height, data_key (the data's identity: new bytes are read only when it changes). Sends back {rows, mode, seq}: the joint rows clicked (mode "click") or box/lasso-selected.
"use strict";
(function () {
  const plot = document.getElementById("plot");
  let shown = null, seq = 0, bound = false;

  function send(type, extra) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, extra), "*");
  }

  function typed(bytes, Kind) {
    // A view on the received bytes; copied only when their offset does not fit the element size.
    if (!bytes || !bytes.byteLength) return new Kind(0);
    const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    const size = Kind.BYTES_PER_ELEMENT;
    if (u8.byteOffset % size === 0) return new Kind(u8.buffer, u8.byteOffset, u8.byteLength / size);
    return new Kind(u8.slice().buffer);
  }

  function split(xy, from, to) {
    const n = to - from, x = new Float32Array(n), y = new Float32Array(n);
    for (let i = 0; i < n; i++) { x[i] = xy[2 * (from + i)]; y[i] = xy[2 * (from + i) + 1]; }
    return [x, y];
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

  function pointTrace(args, xy, rows, modality, from, to) {
    const [x, y] = split(xy, from, to);
    const word = modality === "image" ? "image" : "caption";
    const trace = { type: "scattergl", mode: "markers", x: x, y: y, name: modality,
                    marker: { size: 2, opacity: 0.6, color: args.styles.colors[modality],
                              symbol: "circle" } };  // diamonds cost software WebGL seconds more
    if (rows.length) {
      trace.customdata = rows.subarray(from, to);
      trace.hovertemplate = "<b>" + word + " row %{customdata}</b><extra></extra>";
    } else {
      trace.hovertemplate = "<b>" + word + " %{pointNumber}</b><extra></extra>";
    }
    trace.gapviz = { modality: modality, from: from };
    return trace;
  }

  function dataTraces(args) {
    const xy = typed(args.xy, Float32Array), rows = typed(args.rows, Int32Array);
    const total = xy.length / 2, images = args.n_image_drawn;
    const traces = [];
    const lines = typed(args.lines, Float32Array);
    if (lines.length) traces.push(lineTrace(lines));
    if (images > 0) traces.push(pointTrace(args, xy, rows, "image", 0, images));
    if (total > images) traces.push(pointTrace(args, xy, rows, "text", images, total));
    return { traces: traces, rows: rows, n_image: args.n_image, n_image_drawn: images, total: total };
  }

  function ringTraces(rings, styles) {
    const out = [];
    for (const role of Object.keys(styles)) {
      const xy = (rings || {})[role];
      if (!xy || !xy.length) continue;
      out.push({ type: "scattergl", mode: "markers", x: xy.map(p => p[0]), y: xy.map(p => p[1]),
                 name: role === "point" ? "clicked point" : role, hoverinfo: "skip",
                 marker: Object.assign({ symbol: "circle-open" }, styles[role]) });
    }
    return out;
  }

  function jointRow(point) {
    // The joint row (images first, then captions) of a point of a data trace, or -1 (lines, rings).
    const meta = point.data && point.data.gapviz;
    if (!meta) return -1;
    const at = meta.from + point.pointNumber;
    if (shown.rows.length) return shown.rows[at];
    return meta.modality === "image" ? at : shown.n_image + (at - shown.n_image_drawn);
  }

  function pick(points, mode) {
    const rows = [];
    for (const p of points || []) { const r = jointRow(p); if (r >= 0) rows.push(r); }
    seq += 1;
    send("streamlit:setComponentValue", { value: { rows: rows, mode: mode, seq: seq }, dataType: "json" });
  }

  function bind() {
    if (bound) return;
    bound = true;
    plot.on("plotly_click", ev => pick(ev.points.slice(0, 1), "click"));
    plot.on("plotly_selected", ev => { if (ev) pick(ev.points, ev.range ? "box" : "lasso"); });
    plot.on("plotly_deselect", () => pick([], "none"));
  }

  function drawn() {
    bind();
    document.body.dataset.drawn = String(shown.total);
  }

  function layout(args) {
    return {
      title: args.title ? { text: args.title } : undefined, height: args.height, uirevision: args.data_key,
      hovermode: "closest", template: undefined, dragmode: "zoom",
      legend: { orientation: "h", y: 1.02, x: 0, yanchor: "bottom" },
      margin: { l: 40, r: 10, t: args.title ? 60 : 30, b: 40 }, plot_bgcolor: "#fff", paper_bgcolor: "#fff",
      xaxis: { title: { text: "component 1" }, zeroline: false, gridcolor: "#ebf0f8" },
      yaxis: { title: { text: "component 2" }, zeroline: false, gridcolor: "#ebf0f8" },
      annotations: args.annotations || [],
    };
  }

  function render(args) {
    if (!shown || shown.key !== args.data_key) {
      shown = dataTraces(args);
      shown.key = args.data_key;
      delete document.body.dataset.drawn;
    }
    const traces = shown.traces.concat(ringTraces(args.rings, args.styles.rings));
    Plotly.react(plot, traces, layout(args), Object.assign({ responsive: true }, args.styles.config)).then(drawn);
    send("streamlit:setFrameHeight", { height: args.height });
  }

  window.addEventListener("message", event => {
    const data = event.data;
    if (!data || data.type !== "streamlit:render") return;
    render(data.args);
  });
  send("streamlit:componentReady", { apiVersion: 1 });
})();
