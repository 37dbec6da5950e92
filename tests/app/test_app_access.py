"""The app's access token (AppTest): without ?token= a page shows one line; with it, the session opens."""

from __future__ import annotations

import pytest
from app_fixtures import APP_SCRIPT, make_run, texts
from streamlit.testing.v1 import AppTest

from gapviz.app.shared import access
from gapviz.runs.store import RunStore

TOKEN = "s3cret-Token_1"


@pytest.fixture
def locked(home, monkeypatch):
    monkeypatch.setenv(access.TOKEN_ENV, TOKEN)
    return home


def _app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP_SCRIPT, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


@pytest.mark.parametrize("query", [None, {"token": "wrong"}, {"token": ""}, {"token": TOKEN[:-1]}])
def test_without_the_token_a_page_shows_only_one_line(locked, query):
    make_run(RunStore(), "private run", epochs=1)
    at = _app(query)
    assert not at.exception
    assert [e.value for e in at.error] == [access.LOCKED_MESSAGE]
    assert not at.title and "private run" not in texts(at) and not at.selectbox and not at.button


def test_the_token_opens_every_page_for_the_session_and_leaves_the_url(locked):
    run_id = make_run(RunStore(), "mine", epochs=1)
    at = _app({"token": TOKEN})
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [t.value for t in at.title] == ["Explore the modality gap"]
    assert "token" not in at.query_params
    at.switch_page("gapviz/app/live/live.py")
    at.query_params["run"] = run_id
    at.run()
    assert not at.error and "mine" in texts(at)


def test_no_token_configured_means_open(home, monkeypatch):
    monkeypatch.delenv(access.TOKEN_ENV, raising=False)
    assert [t.value for t in _app().title] == ["Explore the modality gap"]


def test_token_checks():
    assert access.token_matches(TOKEN, TOKEN)
    assert not access.token_matches(None, TOKEN) and not access.token_matches(TOKEN + "x", TOKEN)
    assert access.session_cookie_name(8501) != access.session_cookie_name(8502)
