"""Research workflows end to end in Debian's Chromium (Playwright) against a real `gapviz up` (one worker):

1. a finished run opens in Launch from Live ("Open in Launch"), τ is changed, and the edit is queued;
2. a sweep of 3 τ (log-spaced, picked by its name in words) × 2 seeds is queued from the form under the group
   name typed: 6 runs;
3. the group opens on Compare from the link, with the gap-vs-τ plot, and its figure is exported: SVG titles from
   the catalogs (τ, gap ‖μ_I − μ_T‖), a PDF, and a CSV whose caption gives n and whose bands stay at or above 0.

Set GAPVIZ_SCREENSHOTS=<folder> to keep screenshots of the form and the settings plot (README uses them).
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from app_fixtures import CHROMIUM, choose_option, download, launch_browser, make_run, settle, shoot, svg_texts

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

SMALL = {"training pairs": "64", "evaluation pairs": "32"}
"""Data sizes typed into the form so each queued run trains in seconds."""


def fill(page, label: str, value: str) -> None:
    """Type into the input labelled ``label`` and commit it (Streamlit reruns on blur)."""
    settle(page)
    box = page.get_by_label(label, exact=True).first
    box.fill(value)
    box.press("Tab")
    settle(page)


def add_option(page, label: str, option: str) -> None:
    """Pick ``option`` in the multiselect labelled ``label`` (and wait until it shows as chosen)."""
    settle(page)
    box = page.get_by_test_id("stMultiSelect").filter(has_text=label).first
    box.click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).first.click()
    page.keyboard.press("Escape")
    box.get_by_text(option, exact=True).first.wait_for(timeout=15_000)
    settle(page)


def queue_and_wait_link(page, pattern: str):
    page.get_by_role("button", name="Queue run(s)").click()
    link = page.get_by_role("link", name=re.compile(pattern))
    link.first.wait_for(timeout=60_000)
    return link.first


def wait_finished(store, run_ids: list[str], timeout: float = 420.0) -> None:
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {r: store.state(r).value for r in run_ids}
        if all(s in ("finished", "failed") for s in states.values()):
            break
        time.sleep(1.0)
    assert all(s == "finished" for s in states.values()), states


def test_rerun_with_an_edit_a_grid_sweep_and_its_settings_plot(gapviz_up, monkeypatch):
    from gapviz.runs.store import RunStore

    monkeypatch.setenv("GAPVIZ_HOME", str(gapviz_up.home))
    store = RunStore(gapviz_up.home)
    base = gapviz_up.url
    finished = make_run(store, "finished run", epochs=1)
    with sync_api.sync_playwright() as playwright:
        browser = launch_browser(playwright)
        try:
            page = gapviz_up.new_context(browser, viewport={"width": 1400, "height": 1100}).new_page()

            # 1. Live -> Open in Launch -> change τ -> queue
            page.goto(f"{base}/live?run={finished}")
            page.get_by_role("link", name="Open in Launch").click()
            page.wait_for_url(re.compile(rf"/launch\?from={finished}"))
            page.get_by_text(f"a copy of run {finished}").wait_for(timeout=60_000)
            fill(page, "τ", "0.03")
            existing = set(store.run_ids())  # the session's shared home holds other modules' runs too
            queue_and_wait_link(page, r"^Watch \S+ live")
            [edited] = [r for r in store.run_ids() if r not in existing]
            before, after = store.config(finished).to_dict(), store.config(edited).to_dict()
            assert after["temperature"].pop("tau") == pytest.approx(0.03)
            before["temperature"].pop("tau")
            assert after == before

            # 2. a 2 x 2 grid with 2 seeds from the form
            page.goto(base + "/launch")
            page.get_by_text("Launch a run", exact=True).wait_for(timeout=60_000)
            choose_option(page, "Preset", "tiny-test")
            page.wait_for_timeout(800)
            fill(page, "epochs", "1")
            for label, value in SMALL.items():
                fill(page, label, value)
            page.get_by_text("Training", exact=True).click()
            fill(page, "batch size", "32")
            fill(page, "seeds", "0-1")
            page.get_by_text("Sweep (grid)", exact=True).click()
            add_option(page, "Sweep settings", "temperature · τ (softmax temperature)")
            fill(page, "τ from", "0.02")
            fill(page, "τ to", "0.2")
            fill(page, "τ count", "3")
            fill(page, "group", "tau-grid")
            page.get_by_text("= 3 τ × 2 seeds").wait_for(timeout=30_000)
            assert page.get_by_text("6 runs", exact=True).count() == 1
            shoot(page, "launch-sweep")
            compare_link = queue_and_wait_link(page, r"^Compare the 6 runs of tau-grid")
            grid = [r for r in store.run_ids() if store.meta(r)["group"] == "tau-grid"]
            assert len(grid) == 6
            taus = sorted({store.config(r).temperature.tau for r in grid})
            assert taus == pytest.approx([0.02, 0.0632456, 0.2], rel=1e-4)
            wait_finished(store, grid)

            # 3. the group on Compare, against τ, and its figure exported with real labels, n and in-range bands
            compare_link.click()
            page.wait_for_url(re.compile(r"/compare\?group=tau-grid"))
            page.get_by_text("Results against a setting", exact=True).wait_for(timeout=60_000)
            page.get_by_text("Diamonds and bars: the mean and its 95% t-interval over seeds", exact=False).wait_for(
                timeout=30_000
            )
            setting = page.get_by_test_id("stSelectbox").filter(has_text="Setting (x)").first
            assert setting.locator("input").first.input_value() == "τ"
            page.wait_for_function("() => document.querySelectorAll('.vega-embed canvas').length >= 2", timeout=60_000)
            settle(page)
            assert "n = 2 per point" in page.inner_text("body")
            texts = svg_texts(download(page, "settings_svg").decode())
            assert "τ" in texts and "gap ‖μ_I − μ_T‖ (debiased)" in texts and "temperature.tau" not in texts
            assert download(page, "settings_pdf").startswith(b"%PDF")
            csv = download(page, "settings_csv").decode()
            assert csv.startswith("# settings varied: τ; seeds: n = 2 per point")
            table = pd.read_csv(io.StringIO(csv), comment="#")
            assert table["lo"].min() >= 0.0  # no band below a gap of 0
            shoot(page, "compare-settings", height=2600)
        finally:
            browser.close()
