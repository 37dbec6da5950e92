"""Sweeps and Live as a reader sees them, in Debian's Chromium (Playwright) against a real `gapviz up` (no worker):

1. typing "temp" in Launch's sweep picker finds τ by its words, with no "Select all", and τ's range ends at 0.7;
2. a finished run on Live shows its last train loss, τ, samples/s and learning rate as numbers, not "—".

Set GAPVIZ_SCREENSHOTS=<folder> to keep screenshots of the sweep form and of Live (docs/app.md uses them).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from app_fixtures import CHROMIUM, launch_browser, make_run, settle, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

TAU_OPTION = "temperature · τ (softmax temperature)"


def _choose_tau(page, picker, attempts: int = 3) -> None:
    """Type "temp" in the picker and choose τ, which must be listed first; again if a rerun closed the list."""
    for attempt in range(attempts):
        picker.click()
        page.keyboard.press("Control+A")  # a retry replaces what the last attempt typed
        page.keyboard.type("temp")
        option = page.get_by_role("option", name=TAU_OPTION, exact=True)
        option.wait_for(timeout=60_000)
        assert page.get_by_role("option").first.inner_text() == TAU_OPTION  # τ first, found by words
        assert page.get_by_text("Select all").count() == 0
        try:
            option.click(timeout=10_000)
            picker.get_by_text(TAU_OPTION, exact=True).first.wait_for(timeout=15_000)  # chosen: shown as a chip
            return
        except sync_api.Error:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
            settle(page)


def test_the_sweep_picker_finds_tau_and_a_finished_run_shows_numbers(gapviz_up, monkeypatch):
    from gapviz.runs.records import StepProgress
    from gapviz.runs.store import RunStore

    monkeypatch.setenv("GAPVIZ_HOME", str(gapviz_up.home))
    store = RunStore(gapviz_up.home)
    finished = make_run(store, "finished run", epochs=2)
    last = StepProgress(2, 4, 4, 8, 8, loss=1.25, tau=0.06, lr=3e-4, samples_per_s=512.0)
    store.record_progress(finished, last.to_dict())
    with sync_api.sync_playwright() as playwright:
        browser = launch_browser(playwright)
        try:
            page = gapviz_up.new_context(browser, viewport={"width": 1400, "height": 1100}).new_page()
            page.goto(gapviz_up.url + "/launch")
            page.get_by_text("Launch a run", exact=True).wait_for(timeout=60_000)
            settle(page)
            page.get_by_text("Sweep (grid)", exact=True).click()
            settle(page)  # the mode switch reruns the form; a list opened before it ends is torn down
            picker = page.get_by_test_id("stMultiSelect").filter(has_text="Sweep settings").first
            _choose_tau(page, picker)
            page.keyboard.press("Escape")
            settle(page)
            stop = page.get_by_label("τ to", exact=True).first
            try:
                stop.wait_for(timeout=60_000)  # the rerun that draws the axis can take long on a loaded machine
            except sync_api.Error:
                page.screenshot(path="/tmp/gapviz-e2e-stuck-sweep.png", full_page=True)
                raise
            assert stop.input_value() == "0.7"  # 0.07 × 10 without float noise
            shoot(page, "launch-sweep-picker")

            page.goto(f"{gapviz_up.url}/live?run={finished}")
            page.get_by_text("finished 2 epochs").wait_for(timeout=60_000)
            settle(page)
            shown = {
                m.get_by_test_id("stMetricLabel").inner_text().strip(): m.get_by_test_id("stMetricValue").inner_text()
                for m in page.get_by_test_id("stMetric").all()
            }
            assert shown["train loss (last step)"] == "1.2500", shown
            assert shown["τ (last step)"] == "0.0600" and shown["samples/s"] == "512", shown
            assert shown["learning rate"] == "3.00e-04" and shown["eval loss (epoch 2)"] != "—", shown
            shoot(page, "live-finished")
        finally:
            browser.close()
