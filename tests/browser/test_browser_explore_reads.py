"""Explore answers first, read in Debian's Chromium (Playwright) at 1400 × 900 on `gapviz up` (no workers):

the plot and the headline numbers (gap with its interval, relative gap, R@1 both ways, probe) are inside the
viewport without scrolling, the other metrics are folded, a clicked point's neighbours are ringed in the
scatter and listed beside it, and a data set without classes shows no zero-shot anywhere.

Set GAPVIZ_SCREENSHOTS=<folder> to keep docs/screenshots/explore-answers.png and explore-neighbours.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from app_fixtures import CHROMIUM, launch_browser, settle, shoot

from gapviz.app.explore import metric_groups
from gapviz.science import catalog

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

VIEWPORT = {"width": 1400, "height": 900}
POINTS_DRAWN = """(n) => { const g = document.querySelector('.js-plotly-plot');
  if (!g || !g._fullData) return false;
  return g._fullData.filter(t => t.name === 'image' || t.name === 'text').reduce((s, t) => s + t.x.length, 0) >= n; }"""
POINT_XY = """([trace, i]) => { const g = document.querySelector('.js-plotly-plot');
  const r = g.getBoundingClientRect(); const xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis;
  const d = g._fullData.find(t => t.name === trace);
  return [r.left + xa._offset + xa.d2p(d.x[i]), r.top + ya._offset + ya.d2p(d.y[i]), d.customdata[i]]; }"""
RINGED = """() => { const g = document.querySelector('.js-plotly-plot');
  const names = ['clicked point', 'partner', 'neighbours'];
  return !!g && !!g._fullData && names.every(n => g._fullData.some(t => t.name === n)); }"""
BOX = "e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }"


def inside(box: list[float]) -> bool:
    """Whether a [left, top, right, bottom] box lies in the viewport as first shown (no scrolling)."""
    return box[0] >= 0 and box[1] >= 0 and box[2] <= VIEWPORT["width"] and box[3] <= VIEWPORT["height"]


def headline_boxes(page) -> dict[str, list[float]]:
    """label → box of each headline tile (st.metric)."""
    boxes = {}
    for label in (catalog.short(k) for k in metric_groups.HEADLINE):
        tile = page.get_by_test_id("stMetric").filter(has=page.get_by_test_id("stMetricLabel").get_by_text(label))
        boxes[label] = tile.first.evaluate(BOX)
    return boxes


def classless_upload(path: Path, n: int = 200) -> Path:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(n, 16)).astype(np.float32)
    np.savez(path, image=base + 1.0, text=base - 1.0 + 0.3 * rng.normal(size=(n, 16)).astype(np.float32))
    return path


def test_explore_answers_first_at_1400_by_900(gapviz_up, tmp_path):
    started = time.perf_counter()
    with sync_api.sync_playwright() as playwright:
        browser = launch_browser(playwright)
        page = gapviz_up.new_context(browser, viewport=VIEWPORT).new_page()
        page.goto(gapviz_up.url + "/?source=tiny")  # the session's shared home may hold runs the front door shows
        page.wait_for_function(POINTS_DRAWN, arg=1024, timeout=120_000)
        page.get_by_test_id("stMetricLabel").get_by_text("probe accuracy").wait_for(timeout=60_000)
        settle(page)
        # the plot and the headline numbers, without scrolling
        plot = page.locator(".js-plotly-plot").first.evaluate(BOX)
        assert inside(plot), plot
        tiles = headline_boxes(page)
        assert all(inside(box) for box in tiles.values()), tiles
        # every other metric folded away
        folded = page.get_by_test_id("stExpander").filter(has_text="All metrics, grouped").locator("details")
        assert folded.first.get_attribute("open") is None
        shoot(page, "explore-answers", height=VIEWPORT["height"])

        # a click rings the point, its partner and its neighbours, and lists them beside the plot
        x, y, row = page.evaluate(POINT_XY, ["text", 5])
        page.mouse.click(x, y)
        page.wait_for_function(RINGED, timeout=60_000)
        page.get_by_text(f"Point {row}", exact=False).wait_for(timeout=30_000)
        nearest = page.get_by_text("Nearest images", exact=False).first
        nearest.wait_for()
        settle(page)
        listed = nearest.evaluate(BOX)
        assert listed[0] >= page.locator(".js-plotly-plot").first.evaluate(BOX)[2] - 1 and inside(listed), listed
        page.mouse.move(5, 5)
        shoot(page, "explore-neighbours", height=VIEWPORT["height"])

        # a data set without classes: no zero-shot tile, table row or chart anywhere on the page
        page.goto(gapviz_up.url + "/?source=upload")
        page.locator("input[type=file]").wait_for(state="attached", timeout=60_000)
        page.locator("input[type=file]").set_input_files(str(classless_upload(tmp_path / "pairs.npz")))
        page.wait_for_function(POINTS_DRAWN, arg=400, timeout=60_000)
        page.get_by_text("Embedding shift").wait_for(timeout=60_000)
        settle(page)
        page.get_by_text("All metrics, grouped").click()
        settle(page)
        assert page.get_by_text("zero-shot", exact=False).count() == 0
        assert "zero-shot" not in page.inner_text("body")
        browser.close()
    print(f"explore reads: {time.perf_counter() - started:.1f} s in the browser")
