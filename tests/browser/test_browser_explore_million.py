"""Explore opens a big embeddings file by path in Debian's Chromium: 200,000 pairs from $GAPVIZ_HOME/embeddings are
drawn whole by the bundled scatter component (400,000 points sent as bytes), the metrics say the sample they used,
hover names a point, a click lists its nearest neighbours (a chunked search over every row) and a box selects a
region, all in the component's one frame. The million-pair timing is benchmarks/bench_explore_million.py's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
from app_fixtures import CHROMIUM, GapvizUp, launch_browser

from benchmarks.bench_explore_million import COMPONENT_FRAME, point_on_page, scatter_frame
from gapviz.data.embedding_access import registry_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

PAIRS = 200_000


@pytest.fixture(scope="module")
def gapviz_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GapvizUp]:
    with GapvizUp(tmp_path_factory.mktemp("million") / "home", workers=0) as server:
        yield server


def test_a_big_file_opened_by_path_draws_every_point_with_its_sample_size(gapviz_up):
    path = registry_dir(gapviz_up.home) / "big.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = rng.normal(size=(PAIRS, 16)).astype(np.float32)
    np.save(path, np.stack([base + 1.0, base - 1.0 + 0.3 * rng.normal(size=base.shape).astype(np.float32)]))
    query = urlencode({"token": gapviz_up.token, "source": "file", "path": str(path)})
    with sync_api.sync_playwright() as playwright:
        browser = launch_browser(playwright)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{gapviz_up.url}/?{query}")
        frame = scatter_frame(page, 2 * PAIRS, 120_000)
        page.get_by_text(f"retrieval on 10,000 of {PAIRS:,} pairs").first.wait_for(timeout=120_000)
        page.locator(COMPONENT_FRAME).scroll_into_view_if_needed()
        x, y = point_on_page(page, frame, "text")
        page.mouse.move(x, y)
        label = frame.locator(".hovertext").first
        label.wait_for(timeout=30_000)
        assert (label.text_content() or "").startswith("caption ")
        page.mouse.click(x, y)
        page.get_by_text("Nearest images (cosine, full space)").wait_for(timeout=60_000)
        frame.locator(".modebar-btn[data-val='select']").click()  # Box Select, then a box around the centre
        box = page.locator(COMPONENT_FRAME).bounding_box()
        page.mouse.move(box["x"] + 0.45 * box["width"], box["y"] + 0.45 * box["height"])
        page.mouse.down()
        page.mouse.move(box["x"] + 0.55 * box["width"], box["y"] + 0.55 * box["height"], steps=4)
        page.mouse.up()
        page.get_by_text("The selected region is measured below the plot.").wait_for(timeout=60_000)
        browser.close()
