"""The Theory page read in Debian's Chromium (Playwright) against a real `gapviz up` (no workers: numpy only).

With the defaults the gap levels off at ≈ 1.0 (issue 22): the page must say so in words, report the
gap·log²t check as not informative, and name each fit of the gap at its line's end (the gap chart is
drawn as SVG, so its labels are text in the page); clicking a fit in the legend shows it alone.

Set GAPVIZ_SCREENSHOTS=<folder> to keep a screenshot of the page (docs/screenshots/theory.png).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from app_fixtures import CHROMIUM, launch_browser, shoot

from gapviz.science.theory import CANDIDATE_FITS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def opacity(page, label: str) -> str:
    """The opacity of the end label ``label`` in the gap chart (an SVG text)."""
    return page.evaluate(
        "l => [...document.querySelectorAll('svg text')].find(t => t.textContent === l).getAttribute('opacity')", label
    )


def test_theory_says_the_gap_levels_off_and_names_its_fits(gapviz_up):
    with sync_api.sync_playwright() as pw:
        browser = launch_browser(pw)
        try:
            page = gapviz_up.new_context(browser, viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(gapviz_up.url + "/theory")
            said = page.get_by_text("The gap is not closing: it levels off at ≈ 1.00", exact=False)
            said.first.wait_for(timeout=60_000)
            assert said.first.is_visible()
            assert "plateau c of a / log²t + c" in said.first.inner_text()
            page.get_by_text("gap·log²t never falling is trivially true when the gap does not close").wait_for()
            cell = page.locator("td[role=gridcell]", has_text="not informative: the gap levels off")
            cell.first.wait_for(state="attached", timeout=30_000)  # a canvas grid: its cells are in the DOM, hidden
            labels = page.locator("[data-testid=stVegaLiteChart] svg text")
            labels.first.wait_for(timeout=30_000)
            drawn = set(labels.all_text_contents())
            assert set(CANDIDATE_FITS) <= drawn, drawn  # each fit named at its end (and in the legend)
            for name in CANDIDATE_FITS:
                assert page.locator("svg text", has_text=name).first.is_visible()
            shoot(page, "theory")
            page.locator("svg text", has_text="fit: a / log²t + c").first.click()  # the legend: show that fit alone
            page.wait_for_function(
                "() => [...document.querySelectorAll('svg text')].some("
                "t => t.textContent === 'a / log²t' && t.getAttribute('opacity') === '0.15')",
                timeout=10_000,
            )
            assert opacity(page, "a / log²t + c") == "1" and opacity(page, "a·t^(−p) + c") == "0.15"
            assert page.get_by_text("Traceback").count() == 0
        finally:
            browser.close()
