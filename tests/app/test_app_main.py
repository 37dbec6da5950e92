"""The app entry (AppTest): st.navigation over the five pages; each opens without an error."""

from __future__ import annotations

import pytest
from app_fixtures import APP_SCRIPT, make_run, texts
from streamlit.testing.v1 import AppTest

from gapviz.runs.store import RunStore


def test_navigation_lists_the_five_pages_and_opens_explore(home):
    at = AppTest.from_file(APP_SCRIPT, default_timeout=60).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Explore the modality gap"]


@pytest.mark.parametrize(
    ("page", "title"),
    [
        ("explore", "Explore the modality gap"),
        ("launch", "Launch a run"),
        ("live", "Live"),
        ("compare", "Compare runs"),
        ("theory", "Theory sandbox"),
    ],
)
def test_every_page_opens(home, page, title):
    make_run(RunStore(), "one", epochs=1)
    at = AppTest.from_file(APP_SCRIPT, default_timeout=60).run()
    at.switch_page(f"gapviz/app/{page}/{page}.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert title in texts(at)
