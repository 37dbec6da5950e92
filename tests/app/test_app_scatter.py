"""The WebGL scatter (gapviz.app.shared.scatter): traces, joint rows as customdata, escaped hover labels,
pair lines, colour groups, selection events and the epoch animation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.io
import pytest

from gapviz.app.shared import frames, scatter


@pytest.fixture
def layout():
    rng = np.random.default_rng(0)
    n = 40
    coords = np.vstack([rng.normal(size=(n, 2)) + [2, 0], rng.normal(size=(n + 10, 2)) - [2, 0]])
    index = np.concatenate([np.arange(n), np.arange(10)])  # images 0..9 have two captions
    captions = [f"caption <b>{j}</b> & more" for j in range(n + 10)]
    return coords, n, index, captions


def _points(layout, **kwargs):
    coords, n, index, captions = layout
    return frames.scatter_frames(coords, n, index, captions, **kwargs)


def test_every_point_carries_its_joint_row(layout):
    coords, n, index, captions = layout
    points, lines, arrow, _ = _points(layout)
    figure = scatter.scatter_figure(
        points, lines=lines, arrow=arrow, first_caption=frames.first_captions(n, index, captions)
    )
    kinds = [(t.type, t.mode, t.name) for t in figure.data]
    assert kinds == [
        ("scattergl", "lines", "pairs"),
        ("scattergl", "markers", "image"),
        ("scattergl", "markers", "text"),
    ]
    for trace in figure.data[1:]:
        rows = np.asarray(trace.customdata)
        assert np.allclose(np.column_stack([trace.x, trace.y]), coords[rows])  # the row is where the point is drawn
    assert sorted(np.concatenate([np.asarray(t.customdata) for t in figure.data[1:]]).tolist()) == list(
        range(len(coords))
    )
    (annotation,) = figure.layout.annotations
    centroids = coords[:n].mean(axis=0), coords[n:].mean(axis=0)
    assert (annotation.x, annotation.y) == pytest.approx(tuple(centroids[0]))  # the head at the image centroid
    assert (annotation.ax, annotation.ay) == pytest.approx(tuple(centroids[1]))


def test_hover_labels_escape_captions_and_name_the_partner(layout):
    coords, n, index, captions = layout
    points, _, _, _ = _points(layout)
    texts = scatter.hover_texts(points, frames.first_captions(n, index, captions))
    by_row = dict(zip(points["row"], texts, strict=True))
    assert "caption &lt;b&gt;3&lt;/b&gt; &amp; more" in by_row[3]  # image 3's caption, shown as typed
    assert "<b>3</b>" not in by_row[3]
    second = n + n + 2  # the second caption of image 2
    assert "image 2" in by_row[second] and "caption &lt;b&gt;42&lt;/b&gt;" in by_row[second]
    assert "first caption: caption &lt;b&gt;2&lt;/b&gt;" in by_row[second]
    assert "first caption" not in by_row[n + 20]  # a single caption: no repeat


def test_pair_lines_are_gapped_segments(layout):
    coords, n, index, _ = layout
    points, lines, _, _ = _points(layout, max_lines=5)
    trace = scatter.line_trace(lines)
    xs, ys = np.asarray(trace.x, dtype=float), np.asarray(trace.y, dtype=float)
    assert len(xs) == 15 and np.isnan(xs[2::3]).all()
    assert xs[0] == coords[n, 0] and xs[1] == coords[index[0], 0] and ys[1] == coords[index[0], 1]
    assert trace.hoverinfo == "skip"


def test_colour_by_category_and_by_number(layout):
    points, _, _, _ = _points(layout)
    points["shape"] = np.where(points["pair"] % 2 == 0, "even", "odd")
    points["score"] = points["pair"].astype(float) * 0.5
    by_shape = scatter.scatter_figure(points, color_by="shape")
    assert [t.name for t in by_shape.data] == ["even · image", "even · text", "odd · image", "odd · text"]
    assert {t.marker.symbol for t in by_shape.data} == {"circle", "diamond"}  # modality stays as the shape
    by_score = scatter.scatter_figure(points, color_by="score")
    assert all(t.marker.coloraxis == "coloraxis" for t in by_score.data)
    colours = np.concatenate([np.asarray(t.marker.color) for t in by_score.data])
    rows = np.concatenate([np.asarray(t.customdata) for t in by_score.data])
    assert np.allclose(colours, points.set_index("row").loc[rows, "score"].to_numpy())


def test_many_categories_fold_into_other():
    frame = pd.DataFrame(
        {
            "x": np.arange(30.0),
            "y": 0.0,
            "modality": "image",
            "pair": np.arange(30),
            "row": np.arange(30),
            "caption": "",
            "tag": [f"t{i}" for i in range(30)],
        }
    )
    names = [t.name for t in scatter.scatter_figure(frame, color_by="tag").data]
    assert len(names) == scatter.MAX_CATEGORIES and names[-1] == "other · image"


def test_selection_events_map_to_rows():
    event = {
        "selection": {
            "points": [{"customdata": 5}, {"customdata": [3]}, {"x": 1.0}, {"customdata": 5}],
            "box": [{"x": [0, 1]}],
            "lasso": [],
        }
    }
    assert scatter.selected_rows(event).tolist() == [3, 5]
    assert not scatter.is_click(event)
    click = {"selection": {"points": [{"customdata": 7, "curve_number": 1}], "box": [], "lasso": []}}
    assert scatter.is_click(click) and scatter.selected_rows(click).tolist() == [7]
    assert scatter.selected_rows(None).tolist() == [] and not scatter.is_click({})


def test_a_hundred_thousand_pairs_serialise_compactly():
    n = 100_000
    coords = np.random.default_rng(2).normal(size=(2 * n, 2))
    captions = [f"pair {i}" for i in range(n)]
    points, lines, arrow, note = frames.scatter_frames(coords, n, None, captions, max_pairs=n, max_lines=2000)
    assert len(points) == 2 * n and note == f"lines for 2000 of {n:,} pairs"
    spec = json.loads(plotly.io.to_json(scatter.scatter_figure(points, lines=lines, arrow=arrow), validate=False))
    assert spec["data"][1]["x"].keys() == {"dtype", "bdata"}  # typed arrays, not 100k JSON numbers


def test_epoch_animation_has_a_frame_per_epoch_and_fixed_axes():
    rng = np.random.default_rng(3)
    layouts = {e: rng.normal(size=(20, 2)) * (1 + e) for e in range(4)}
    rows = np.array([0, 1, 2, 10, 11, 12])
    figure = scatter.epoch_animation(layouts, 10, rows)
    assert [f.name for f in figure.frames] == ["0", "1", "2", "3"]
    assert np.allclose(figure.frames[2].data[0].x, layouts[2][[0, 1, 2], 0])
    assert np.allclose(figure.frames[2].data[1].y, layouts[2][[10, 11, 12], 1])
    lo, hi = figure.layout.xaxis.range
    every = np.concatenate([layouts[e][rows, 0] for e in layouts])
    assert lo < every.min() and hi > every.max()
    assert figure.layout.updatemenus[0].buttons[0].method == "animate"


def test_svg_export_of_the_scatter(layout):
    from gapviz.app.explore.views import scatter_svg

    coords, n, index, captions = layout
    points, lines, arrow, _ = _points(layout)
    svg = scatter_svg(points, lines, arrow, n, "PCA")
    assert svg.lstrip().startswith("<svg") and "PCA" in svg
    assert svg.count("<path") > 1  # points and lines drawn as vector paths


def test_a_clicked_point_its_partner_and_neighbours_are_ringed(layout):
    points, _, _, _ = _points(layout)
    figure = scatter.scatter_figure(points, highlight={"point": [41], "partner": [1], "neighbours": [3, 50, 999]})
    rings = {t.name: t for t in figure.data if t.marker.symbol == "circle-open"}
    assert list(rings) == ["clicked point", "partner", "neighbours"]
    assert len(rings["neighbours"].x) == 2  # row 999 is not drawn: no ring
    xy = points.set_index("row").loc[[3, 50], ["x", "y"]].to_numpy()
    assert np.allclose(np.c_[rings["neighbours"].x, rings["neighbours"].y], xy)
    assert all(t.hoverinfo == "skip" for t in rings.values())  # a click on a ring reaches the point below
    assert not [t for t in scatter.scatter_figure(points).data if t.marker.symbol == "circle-open"]
