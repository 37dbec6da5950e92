"""Markdown injection (issue 20): text from the URL's query parameters and from runs (name, tags, error) is
escaped before any Markdown element shows it, on every page that reads the URL. Driven with AppTest, and fuzzed
with hypothesis."""

from __future__ import annotations

import re

import pytest
from app_fixtures import make_run, open_page
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gapviz.app.shared.common import md_escape
from gapviz.runs.records import RunState
from gapviz.runs.store import RunStore

MARKUP = (
    "![i](http://example.invalid/x.png)",
    "[click](http://example.invalid)",
    "<img src=x>",
    "<a href='http://example.invalid'>a</a>",
    "http://example.invalid/auto",
    ":red[alert] **bold** `code` $x$",
)
PAGE_PARAMS = {
    "explore": ("source", "run", "epoch", "method"),
    "launch": ("from", "finetune"),
    "live": ("run",),
    "compare": ("group", "runs"),
    "theory": ("run",),
}
"""Every page and the query parameters it reads (grep query_params, init_from_url); theory reads none."""
RENDERED = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success", "toast")
"""AppTest elements whose text Streamlit renders as Markdown."""
UNESCAPED = re.compile(r"(?<!\\)\]\(|(?<!\\)<[a-zA-Z/!]|(?<!\\)!\[|://")
"""A link or image (``](``, ``![``), an HTML tag, or an autolink (``://``): none may survive md_escape."""


def _rendered(at) -> list[str]:
    """The text of every Markdown-rendered element of the page."""
    values = []
    for kind in RENDERED:
        values.extend(str(getattr(element, "value", "")) for element in getattr(at, kind, []))
    return values


def _assert_inert(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    found = [value for value in _rendered(at) if UNESCAPED.search(value)]
    assert not found, found


@pytest.fixture
def markup_runs(home) -> dict[str, str]:
    """A finished and a failed run whose name, tags, group and error are markup."""
    store = RunStore(home)
    done = make_run(store, MARKUP[0], epochs=1, group=MARKUP[1], tags=(MARKUP[2], MARKUP[1]))
    failed = make_run(store, MARKUP[1], epochs=1, state=RunState.FAILED, error="boom " + MARKUP[0])
    return {"done": done, "failed": failed}


def test_the_pattern_catches_raw_markup_and_passes_escaped_text():
    for value in MARKUP[:5]:
        assert UNESCAPED.search(value), value
        assert not UNESCAPED.search(md_escape(value)), value


@pytest.mark.parametrize("param", ["from", "finetune"])
@pytest.mark.parametrize("value", MARKUP)
def test_launch_shows_a_markup_run_id_escaped(home, param, value):
    at = open_page("launch", {param: value})
    _assert_inert(at)
    assert any("could not open run" in e.value for e in at.error)  # the error box is there, escaped


@pytest.mark.slow  # over 2 s: out of the fast lane
@pytest.mark.parametrize("page", sorted(PAGE_PARAMS))
def test_every_page_escapes_markup_in_its_query_parameters_and_runs(markup_runs, page):
    for value in MARKUP[:3]:
        at = open_page(page, {param: value for param in PAGE_PARAMS[page]})
        _assert_inert(at)


def test_a_markup_run_opened_by_its_id_shows_its_name_and_error_escaped(markup_runs):
    at = open_page("launch", {"from": markup_runs["done"]})
    _assert_inert(at)
    assert any("The form holds" in i.value for i in at.info)
    at = open_page("live", {"run": markup_runs["failed"]})
    _assert_inert(at)
    assert any("boom" in e.value for e in at.error)


QUERY_TEXT = st.one_of(
    st.sampled_from(MARKUP),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.lists(st.sampled_from(["[", "]", "(", ")", "!", "<", ">", "img", "http", "://", "*", "\\", "\n"])).map("".join),
)


@pytest.mark.slow  # over 2 s: out of the fast lane
@pytest.mark.parametrize("page", sorted(PAGE_PARAMS))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(QUERY_TEXT, min_size=4, max_size=4))
def test_fuzzed_query_parameters_never_raise_or_render_markup(markup_runs, page, values):
    params = PAGE_PARAMS[page]
    at = open_page(page, dict(zip(params, values[: len(params)], strict=True)))
    _assert_inert(at)
