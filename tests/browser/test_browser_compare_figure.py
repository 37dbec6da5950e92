"""A 3-τ × 2-seed sweep's figure on Compare in Debian's Chromium (Playwright) against a real `gapviz up`:
what a reader sees and exports. The axes read the catalogs' symbols (τ, gap ‖μ_I − μ_T‖), no band leaves the
metric's range (the τ = 0.1 seeds' t-interval of −1.66 to 3.96 stops at [0, 2]), n is shown, no panel is
empty, and the export gives SVG and PDF at a column width plus the CSV of the plotted data with its caption.

Set GAPVIZ_SCREENSHOTS=<folder> to keep a screenshot of the page (docs/screenshots/compare-figure.png).
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from app_fixtures import CHROMIUM, download, launch_browser, make_run, settle, shoot, svg_texts, synthetic_epoch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

TAUS = (0.01, 0.1, 1.0)
GAPS = {0: 0.05, 1: 1.6}
"""The last epoch's debiased gap of seeds 0 and 1: at τ = 0.1 their t-interval is −1.66 to 3.96 unclipped."""


def _sweep(store) -> None:
    """3 τ × 2 seeds finished runs in group tau-sweep, each with a debiased gap at its last epoch."""
    for tau in TAUS:
        for seed, gap in GAPS.items():
            run = make_run(
                store, f"tau {tau}", seed=seed, group="tau-sweep", epochs=2, overrides={"temperature.tau": tau}
            )
            record = synthetic_epoch(3, seed=seed)
            record.metrics.update(gap_distance_unbiased=gap, i2t_r1=0.99 if seed else 1.0)
            store.append_epoch(run, record)


def _number(text: str) -> float | None:
    try:
        return float(text.replace("−", "-").replace(",", ""))
    except ValueError:
        return None


def test_a_tau_sweep_figure_reads_the_catalogs_stays_in_range_and_exports(gapviz_up, monkeypatch):
    from gapviz.runs.store import RunStore

    monkeypatch.setenv("GAPVIZ_HOME", str(gapviz_up.home))
    _sweep(RunStore(gapviz_up.home))
    with sync_api.sync_playwright() as playwright:
        browser = launch_browser(playwright)
        try:
            context = gapviz_up.new_context(browser, viewport={"width": 1400, "height": 1100}, accept_downloads=True)
            page = context.new_page()
            page.goto(f"{gapviz_up.url}/compare?group=tau-sweep")
            page.get_by_text("Results against a setting", exact=True).wait_for(timeout=60_000)
            page.wait_for_function("() => document.querySelectorAll('.vega-embed canvas').length >= 2", timeout=60_000)
            settle(page)
            body = page.inner_text("body")
            assert "n = 2 per point" in body  # under the curves and the settings plot
            assert "band: 95% t-interval over seeds" in body and "settings varied: τ" in body

            svg = download(page, "settings_svg").decode()
            head = svg.split(">", 1)[0]
            assert 'width="252pt"' in head  # single column (3.5 in) by default
            texts = svg_texts(svg)
            assert "τ" in texts and "gap ‖μ_I − μ_T‖ (debiased)" in texts
            assert "temperature.tau" not in svg and "gap_distance" not in svg
            numbers = [n for n in map(_number, texts) if n is not None]
            assert numbers and min(numbers) >= 0.0  # no negative gap, no negative τ on any axis
            assert download(page, "settings_pdf").startswith(b"%PDF")

            csv = download(page, "settings_csv").decode()
            caption, _ = csv.split("\n", 1)
            assert caption.startswith("# settings varied: τ; seeds: n = 2 per point; estimator: Gap, debiased")
            table = pd.read_csv(io.StringIO(csv), comment="#")
            means = table[table["kind"] == "mean"]
            assert len(means) == 3 and set(means["n"]) == {2}
            assert means["lo"].min() == 0.0 and means["hi"].max() <= 2.0  # −1.66 to 3.96 clipped to [0, 2]

            curves = download(page, "curves_csv").decode()
            plotted = pd.read_csv(io.StringIO(curves), comment="#")
            assert plotted["lo"].min() >= 0.0 and plotted[plotted["metric"] == "i2t_r1"]["hi"].max() <= 1.0
            curve_svg = svg_texts(download(page, "curves_svg").decode())
            shown = {m for m in plotted["metric"].unique() if plotted[plotted["metric"] == m]["value"].notna().any()}
            titles = [t for t in curve_svg if t.startswith(("gap", "R@", "relative", "loss", "temperature", "τ"))]
            assert len(set(titles)) >= len(shown) and curve_svg.count("epoch") >= len(shown)  # a panel each, no empty
            assert not [t for t in curve_svg if (_number(t) or 0) % 1 and t in ("0.5", "1.5", "2.5")]  # integer epochs
            shoot(page, "compare-figure", height=2600)
        finally:
            browser.close()
