"""Chart builders (gapviz.charts): data frames in, Vega-Lite specs out, checked via to_dict()."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gapviz import charts
from gapviz.app.shared import frames


def _layers(spec: dict) -> list[dict]:
    return spec.get("layer") or spec["spec"]["layer"]


def _marks(spec: dict) -> list[str]:
    return [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in _layers(spec)]


def _datasets(spec: dict) -> list[list[dict]]:
    return list(spec["datasets"].values())


@pytest.fixture
def scatter_input():
    rng = np.random.default_rng(0)
    coords = np.vstack([rng.normal(size=(30, 2)) + [2, 0], rng.normal(size=(30, 2)) - [2, 0]])
    captions = [f"a <b>bold</b> caption {i}" for i in range(30)]
    images = rng.integers(0, 255, size=(30, 8, 8, 3), dtype=np.uint8)
    return coords, captions, images


def test_embedding_scatter_layers_colours_and_tooltips(scatter_input):
    coords, captions, images = scatter_input
    points, lines, arrow, note = frames.scatter_frames(coords, 30, None, captions, images=images)
    spec = charts.embedding_scatter(
        points, pair_lines=lines, arrow=arrow, x_domain=(-5, 5), y_domain=(-4, 4), title="t"
    ).to_dict()
    assert _marks(spec) == ["rule", "circle", "rule", "point"]
    circle = _layers(spec)[1]["encoding"]
    assert circle["color"]["scale"] == {"domain": ["image", "text"], "range": [charts.IMAGE_COLOR, charts.TEXT_COLOR]}
    assert circle["x"]["scale"]["domain"] == [-5.0, 5.0] and circle["y"]["scale"]["domain"] == [-4.0, 4.0]
    titles = [t.get("title") for t in circle["tooltip"]]
    assert "caption" in titles and "image" in titles  # vega-tooltip shows the "image" field as a picture
    assert spec["usermeta"]["embedOptions"]["renderer"] == "canvas"
    assert note == ""
    # captions travel as data (vega-tooltip escapes them), never as markup in the spec itself
    rows = [row for data in _datasets(spec) for row in data if "caption" in row]
    assert any(row["caption"] == "a <b>bold</b> caption 3" for row in rows)
    assert all(row["image"].startswith("data:image/png;base64,") for row in rows if row["modality"] == "image")


def test_embedding_scatter_without_optional_layers(scatter_input):
    coords, captions, _ = scatter_input
    points, _, _, _ = frames.scatter_frames(coords, 30, None, None)
    spec = charts.embedding_scatter(points).to_dict()
    assert _marks(spec) == ["circle"]
    assert "domain" not in _layers(spec)[0]["encoding"]["x"]["scale"]


def test_gap_arrow_points_from_text_to_image_centroid():
    coords = np.array([[2.0, 0.0], [4.0, 0.0], [-1.0, 0.0], [-3.0, 0.0]])
    arrow = frames.gap_arrow_frame(coords, 2)
    assert arrow.loc[0, ["x", "y", "x2", "y2"]].tolist() == [-2.0, 0.0, 3.0, 0.0]
    assert arrow.loc[0, "gap"] == pytest.approx(5.0)
    assert arrow.loc[0, "angle"] == pytest.approx(90.0)  # pointing right


def test_large_scatter_is_sampled_with_a_note():
    n = 12_000
    rng = np.random.default_rng(1)
    coords = rng.normal(size=(2 * n, 2))
    captions = [str(i) for i in range(n)]
    points, lines, _, note = frames.scatter_frames(coords, n, None, captions)
    assert len(points) == 2 * frames.MAX_SCATTER_PAIRS
    assert len(lines) == frames.MAX_PAIR_LINES
    assert "5,000 of 12,000 images" in note
    # pairs stay whole: every kept caption's image is kept too
    image_pairs = set(points.loc[points.modality == "image", "pair"])
    assert set(points.loc[points.modality == "text", "pair"]) == image_pairs
    spec = charts.to_spec(charts.embedding_scatter(points, pair_lines=lines))
    assert len(json.dumps(spec)) < 3_000_000


def test_scatter_with_several_captions_per_image():
    coords = np.arange(2 * 7, dtype=float).reshape(7, 2)  # 3 images, 4 captions
    index = np.array([0, 0, 1, 2])
    captions = ["a", "b", "c", "d"]
    points, lines, _, _ = frames.scatter_frames(coords, 3, index, captions)
    text = points[points.modality == "text"]
    assert text["pair"].tolist() == [0, 0, 1, 2]
    assert points[points.modality == "image"]["caption"].tolist() == ["a", "c", "d"]
    assert len(lines) == 4 and lines.iloc[1][["x2", "y2"]].tolist() == [0.0, 1.0]


def test_axis_domains_cover_every_epoch():
    x_dom, y_dom = frames.axis_domains([np.array([[0.0, 0.0], [1.0, 2.0]]), np.array([[-1.0, 5.0]])], pad=0.0)
    assert x_dom == (-1.0, 1.0) and y_dom == (0.0, 5.0)
    assert frames.axis_domains([]) == ((-1.0, 1.0), (-1.0, 1.0))


def test_metric_curves_are_one_titled_panel_per_metric_with_bands_and_marker():
    rows = [{"epoch": e, "gap_distance": 1 / (e + 1), "tau": 0.07, "loss": 3.0 - e} for e in range(4)]
    long = pd.concat([frames.curves_frame(rows, "a"), frames.curves_frame(rows, "a"), frames.curves_frame(rows, "b")])
    grouped = long.groupby(["series", "metric", "epoch"], as_index=False)["value"].mean()
    banded = grouped.assign(lo=grouped["value"] - 0.1, hi=grouped["value"] + 0.1)
    spec = charts.to_spec(charts.metric_curves(banded, metrics=["gap_distance", "loss"], current=2))
    assert [panel["title"]["text"] for panel in spec["concat"]] == ["gap ‖c_I − c_T‖ (plug-in)", "loss (nats)"]
    for panel in spec["concat"]:
        assert _marks(panel) == ["area", "line", "rule"]
        x = panel["layer"][0]["encoding"]["x"]
        assert x["title"] == "epoch" and x["axis"]["values"] == [0, 1, 2, 3]  # on every panel, integer ticks
    data = [row for rows in _datasets(spec) for row in rows]
    assert {row["metric"] for row in data} == {"gap_distance", "loss"}


def test_bands_and_axes_stay_inside_the_metric_range_and_empty_panels_are_left_out():
    data = pd.DataFrame(
        {
            "epoch": [0, 1, 2] * 3,
            "metric": ["gap_distance_unbiased"] * 3 + ["i2t_r1"] * 3 + ["loss"] * 3,
            "value": [0.1, 0.2, 0.3, 0.9, 0.95, 0.99, np.nan, np.nan, np.nan],
            "lo": [-1.66, -0.5, 0.1, 0.8, 0.9, 0.95, np.nan, np.nan, np.nan],
            "hi": [3.96, 0.9, 0.5, 1.2, 1.1, 1.3, np.nan, np.nan, np.nan],
            "series": "s",
        }
    )
    spec = charts.to_spec(charts.metric_curves(data))
    assert len(spec["concat"]) == 2  # loss has no finite value: no panel
    gap, recall = spec["concat"]
    assert gap["title"]["text"] == "gap ‖μ_I − μ_T‖ (debiased)"
    assert recall["title"]["text"] == "R@1 image→text (fraction)"
    low, high = gap["layer"][0]["encoding"]["y"]["scale"]["domain"]
    assert low >= 0.0 and high <= 2.0
    assert recall["layer"][0]["encoding"]["y"]["scale"]["domain"][1] <= 1.0
    rows = [row for rows in _datasets(spec) for row in rows]
    assert min(r["lo"] for r in rows if r["metric"] == "gap_distance_unbiased") == 0.0
    assert max(r["hi"] for r in rows if r["metric"] == "i2t_r1") == 1.0


def test_cosine_histogram_is_prebinned_and_normalised():
    rng = np.random.default_rng(2)
    image, text = rng.normal(size=(200, 16)) + 2, rng.normal(size=(150, 16))
    frame = frames.cosine_histogram_frame(image, text, bins=40)
    for _, part in frame.groupby("modality"):
        assert ((part.hi - part.lo) * part.density).sum() == pytest.approx(1.0)
    mean_image = (frame[frame.modality == "image"].eval("(lo + hi) / 2 * density * (hi - lo)")).sum()
    mean_text = (frame[frame.modality == "text"].eval("(lo + hi) / 2 * density * (hi - lo)")).sum()
    assert mean_image > mean_text + 0.3  # the shifted modality sits in a narrow cone
    spec = charts.cosine_histogram(frame).to_dict()
    assert _marks(spec) == ["area", "line"]
    assert len(_datasets(spec)[0]) == 80


def test_shift_and_time_curves():
    shift = pd.DataFrame(
        {
            "gap": [0.8, 0.4, 0.0, -0.4] * 2,
            "metric": ["loss"] * 4 + ["i2t_r1"] * 4,
            "value": [1, 2, 3, 4, 0.5, 0.6, 0.7, 0.2],
        }
    )
    spec = charts.shift_curves(shift, current=0.4).to_dict()
    assert spec["concat"][0]["layer"][0]["encoding"]["x"]["title"] == "signed gap distance"
    assert spec["concat"][0]["layer"][-1]["encoding"]["x"]["datum"] == 0.4

    t = np.array([0.0, 0.1, 1.0, 10.0])
    data = pd.DataFrame(
        {"t": np.tile(t, 2), "metric": ["gap_distance"] * 4 + ["tau"] * 4, "value": [1, 0.9, 0.5, 0.2, 1, 1, 0.5, 0.1]}
    )
    fits = pd.DataFrame({"t": t[1:], "metric": "gap_distance", "value": [0.9, 0.5, 0.2], "fit": "a / log(b·t + e)²"})
    spec = charts.time_curves(data, fits=fits).to_dict()
    rows = _datasets(spec)[0]
    assert all(row["t"] > 0 for row in rows)  # log axis: t = 0 left out
    assert {row["curve"] for row in rows} == {"simulation", "fit: a / log(b·t + e)²"}


def test_snapshot_scatter_slider_runs_in_the_browser():
    points = pd.DataFrame(
        {
            "snapshot": [0, 0, 1, 1],
            "t": [0.0, 0.0, 1.0, 1.0],
            "x": [0, 1, 0.2, 0.8],
            "y": [0, 0, 0.1, 0.1],
            "x2": [1, 0, 0.8, 0.2],
            "y2": [0, 0, 0.1, 0.1],
            "modality": ["image", "text"] * 2,
            "pair": [0, 0, 0, 0],
            "mismatched": [False] * 4,
        }
    )
    spec = charts.snapshot_scatter(points).to_dict()
    param = spec["params"][0]
    assert param["name"] == "snapshot" and param["bind"]["input"] == "range" and param["value"] == 1
    assert any(
        t.get("filter") == "(datum.snapshot === snapshot)"
        for layer in spec["layer"]
        for t in layer.get("transform", [])
    )


def test_export_svg_and_png():
    frame = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0], "modality": ["image", "text"], "caption": ["a", "b"]})
    chart = charts.embedding_scatter(frame, width=100, height=100)
    svg = charts.chart_svg(chart)
    assert svg.lstrip().startswith("<svg")
    png = charts.chart_png(chart, scale=1.0)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_band_summary_gives_ci_sd_and_min_max_clipped_to_the_range():
    from scipy import stats

    from gapviz import figures

    frame = pd.DataFrame({"x": [0.1, 0.1, 0.5], "value": [0.05, 1.6, 0.4], "own_lo": np.nan, "own_hi": np.nan})
    frame.loc[2, ["own_lo", "own_hi"]] = [-0.1, 0.7]
    out = {
        method: figures.band_summary(frame, ["x"], metric="gap_distance", method=method).set_index("x")
        for method in figures.BAND_METHODS
    }
    two = out[figures.BAND_CI].loc[0.1]
    half = stats.t.ppf(0.975, 1) * np.std([0.05, 1.6], ddof=1) / np.sqrt(2)
    assert two["n"] == 2 and two["lo"] == 0.0 and two["hi"] == pytest.approx(min(0.825 + half, 2.0))
    assert out[figures.BAND_CI].loc[0.5, ["lo", "hi"]].tolist() == [0.0, 0.7]  # one run: its own, clipped at 0
    sd = np.std([0.05, 1.6], ddof=1)
    assert out[figures.BAND_SD].loc[0.1, ["lo", "hi"]].tolist() == pytest.approx([max(0.825 - sd, 0.0), 0.825 + sd])
    assert out[figures.BAND_RANGE].loc[0.1, ["lo", "hi"]].tolist() == [0.05, 1.6]
    recall = figures.band_summary(pd.DataFrame({"k": [1, 1], "value": [0.98, 1.0]}), ["k"], metric="i2t_r1")
    assert 0.0 <= recall.loc[0, "lo"] and recall.loc[0, "hi"] <= 1.0  # a proportion's t-interval on the logit scale


def test_titles_and_captions_come_from_the_catalogs():
    from gapviz import figures

    assert figures.metric_axis_title("gap_distance_unbiased") == "gap ‖μ_I − μ_T‖ (debiased)"
    assert figures.metric_axis_title("t2i_r1") == "R@1 text→image (fraction)"
    assert figures.setting_axis_title("temperature.tau") == "τ"
    assert figures.band_caption(figures.BAND_SD, [2, 2, 2]) == "band: SD over seeds (mean ± 1 SD), n = 2 per point"
    line = figures.caption_line(["temperature.tau"], [2, 2, 2], "debiased gap, last value", figures.BAND_CI)
    assert line.startswith("settings varied: τ; seeds: n = 2 per point; estimator: debiased gap, last value; band:")
    assert figures.axis_domain("gap_distance", [-3.0, 0.5]) == [0.0, pytest.approx(0.675)]
    assert figures.log_domain([14.0, 17.0]) == [pytest.approx(13.78, abs=0.01), pytest.approx(17.27, abs=0.01)]


def test_export_at_column_widths_with_csv_and_caption():
    import re

    from gapviz import figures

    data = pd.DataFrame({"epoch": [0, 1, 2], "metric": "loss", "value": [3.0, 2.0, 1.5], "series": "s"})
    spec = charts.to_spec(charts.metric_curves(data))
    for width in figures.COLUMN_WIDTHS_PT.values():
        svg = figures.figure_svg(spec, width)
        assert f'width="{width}pt"' in svg.split(">", 1)[0] and "viewBox" in svg.split(">", 1)[0]
        pdf = figures.figure_pdf(spec, width)
        assert pdf.startswith(b"%PDF")
        box = re.search(rb"MediaBox\s*\[\s*0 0 ([\d.]+)", pdf)
        assert box and float(box.group(1)) == pytest.approx(width, abs=1)
    csv = figures.figure_csv(data, "band: none, n = 1 per point")
    assert csv.splitlines()[0] == "# band: none, n = 1 per point"
    assert pd.read_csv(__import__("io").StringIO(csv), comment="#").equals(data)
