"""Security in Debian's Chromium (Playwright) against a real `gapviz up` with GAPVIZ_TOKEN:

- the access token: a browser without it sees one line; the printed URL opens the app and the
  browser is remembered (a new tab without the token opens too);
- user text is never markup: a Markdown/HTML payload in every user field (run name, tags, group,
  model name, data path, error message, captions, an uploaded file's name) yields no <a> or <img>
  on any page;
- nothing leaves 127.0.0.1: every request of every page is recorded, and so is every resource a page
  names (favicon, scripts, images, frames); any other host fails.
"""

from __future__ import annotations

import http.server
import re
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from app_fixtures import CHROMIUM, choose_option, launch_browser, make_run

from gapviz.app.shared.access import LOCKED_MESSAGE
from gapviz.runs.records import RunState

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

EVIL = "evil.example"
VIEWPORT = {"width": 1400, "height": 1100}


class Tracker:
    """A local HTTP server standing in for a tracking pixel: any hit means the browser loaded user markup."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                hits.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def payload(tracker: Tracker, field: str) -> str:
    """Markdown and HTML that would make a link, an image (fetching the tracker) and an autolink.

    Names and tags are at most 200 characters, so they get the short form (a link, both images, an autolink)."""
    if field in ("name", "tag"):
        return (
            f"[{field}](https://{EVIL}/l) ![i](http://127.0.0.1:{tracker.port}/{field}.png) "
            f"<img src='http://127.0.0.1:{tracker.port}/{field}-h.png'> www.{EVIL} **b**"
        )
    return (
        f"[{field}-link](https://{EVIL}/{field}) ![{field}-img](http://127.0.0.1:{tracker.port}/{field}.png) "
        f"<img src='http://127.0.0.1:{tracker.port}/{field}-html.png'> <a href='https://{EVIL}/a'>x</a> "
        f"www.{EVIL} https://{EVIL}/auto **bold** :red[red]"
    )


@pytest.fixture(scope="module")
def tracker():
    tracker = Tracker()
    yield tracker
    tracker.server.shutdown()


@pytest.fixture(scope="module")
def hostile(gapviz_up, tracker):
    """The shared `gapviz up` (token) with runs added whose every user field holds the payload."""
    from gapviz.runs.store import RunStore

    store = RunStore(gapviz_up.home)
    common = dict(epochs=2, n=24, group=payload(tracker, "group"), tags=(payload(tracker, "tag"),))
    failed = make_run(
        store,
        payload(tracker, "name"),
        state=RunState.FAILED,
        error=f"DataError: {payload(tracker, 'error')}",
        caption=payload(tracker, "caption") + " {i}",
        overrides={
            "model.name": payload(tracker, "model"),
            "data.source": "csv",
            "data.path": payload(tracker, "path"),
        },
        **common,
    )
    other = payload(tracker, "name").replace("name", "other")
    finished = make_run(store, other, seed=1, caption=payload(tracker, "caption2") + " {i}", **common)
    umap_run = make_run(store, "with umap", seed=2, n=24, methods=("pca", "umap"))
    return gapviz_up, failed, finished, umap_run


def _outside(requests: list[str]) -> list[str]:
    """Requests to anything but 127.0.0.1 (data: and blob: URLs stay in the page)."""
    local = ("data", "blob")
    return [url for url in requests if urlsplit(url).scheme not in local and urlsplit(url).hostname != "127.0.0.1"]


def _settle(page, seconds: float = 4.0) -> None:
    """Wait until Streamlit has drawn: its status widget gone, then a little longer for charts."""
    page.get_by_test_id("stApp").wait_for(timeout=60_000)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and page.get_by_test_id("stStatusWidget").count():
        time.sleep(0.25)
    time.sleep(seconds)


def _markup_from_payload(page, tracker: Tracker) -> list[str]:
    """<a> and <img> elements made from a payload: pointing at evil.example, the tracker or the file's names."""
    return page.evaluate(
        """([evil, port]) => [...document.querySelectorAll('a, img')]
            .map(e => e.tagName + ' ' + (e.getAttribute('href') || e.getAttribute('src') || ''))
            .filter(t => t.includes(evil) || t.includes(':' + port + '/') || t.endsWith('file.png')
                      || t === 'IMG x')""",
        [EVIL, tracker.port],
    )


def _foreign_resources(page) -> list[str]:
    """URLs the page would load from elsewhere: links (the favicon), scripts, images, frames, sources.

    Headless Chromium does not fetch favicons, so the request log alone would miss one on a CDN.
    """
    return page.evaluate(
        """() => [...document.querySelectorAll('link[href], script[src], img[src], iframe[src], source[src]')]
            .map(e => e.href || e.src)
            .filter(u => !/^(data|blob):/.test(u) && new URL(u).hostname !== '127.0.0.1')"""
    )


def _opened(page) -> None:
    """A page of the app drew (its title), not the locked message."""
    page.locator("[data-testid=stMain] h1").first.wait_for(timeout=60_000)
    assert LOCKED_MESSAGE.split(":")[0] not in page.locator("[data-testid=stMain]").inner_text()


def test_without_the_token_pages_show_one_line_and_the_printed_url_opens_them(hostile):
    server, failed, _, _ = hostile
    printed = re.search(r"app at (\S+)", server.log.read_text()).group(1)
    assert printed == f"{server.url}/?token={server.token}"
    with sync_api.sync_playwright() as playwright:
        browser = launch_browser(playwright)
        try:
            stranger = browser.new_context(viewport=VIEWPORT).new_page()
            for path in ("/", f"/live?run={failed}", "/compare", f"/?token=wrong-{server.token}"):
                response = stranger.goto(server.url + path)
                assert response.status == 403 and stranger.locator("body").inner_text().strip() == LOCKED_MESSAGE
                assert failed not in stranger.content()
            user = browser.new_context(viewport=VIEWPORT)
            page = user.new_page()
            page.goto(printed)
            _opened(page)
            page.wait_for_function("() => !location.search.includes('token=')", timeout=30_000)
            session = [c for c in user.cookies() if c["name"] == f"gapviz_session_{server.port}"]
            assert len(session) == 1 and session[0]["httpOnly"] and session[0]["sameSite"] == "Strict"
            assert server.token not in session[0]["value"]
            assert "gapviz_session_" not in page.evaluate("() => document.cookie")  # scripts cannot read it
            later = user.new_page()  # a new tab of the same browser, no token in its URL
            later.goto(f"{server.url}/live?run={failed}")
            _opened(later)
            later.get_by_text(failed).first.wait_for(timeout=60_000)
        finally:
            browser.close()


def test_user_text_is_never_markup_and_nothing_leaves_loopback(hostile, tracker, tmp_path):
    server, failed, finished, umap_run = hostile
    upload = tmp_path / f"[file-link](https:{EVIL}) ![file-img](file.png) <img src=x>.npz"
    rng = np.random.default_rng(0)
    np.savez(upload, image=rng.normal(size=(40, 8)), text=rng.normal(size=(40, 8)))
    pages = [
        "/",
        "/launch",
        f"/launch?from={failed}",
        f"/live?run={failed}",
        f"/live?run={finished}",
        f"/compare?runs={failed}&runs={finished}",
        "/theory",
    ]
    requests: list[str] = []
    found: dict[str, list[str]] = {}
    foreign: dict[str, list[str]] = {}
    with sync_api.sync_playwright() as playwright:
        browser = launch_browser(playwright)
        try:
            context = server.new_context(browser, viewport=VIEWPORT)
            context.on("request", lambda request: requests.append(request.url))
            page = context.new_page()
            for path in pages:
                page.goto(server.url + path)
                _opened(page)
                _settle(page)
                found[path] = _markup_from_payload(page, tracker)
                foreign[path] = _foreign_resources(page)
            page.goto(f"{server.url}/compare?runs={umap_run}&runs={failed}")  # "<name>: no umap projection saved"
            _opened(page)
            _settle(page)  # a rerun still drawing would close the dropdown under the click
            choose_option(page, "Projection", "umap")
            page.get_by_text("no umap projection saved", exact=False).first.wait_for(timeout=60_000)
            _settle(page)
            found["/compare (umap)"] = _markup_from_payload(page, tracker)
            page.goto(server.url + "/?source=upload")
            _opened(page)
            page.locator("input[type=file]").first.set_input_files(str(upload))
            page.get_by_text("file-link", exact=False).first.wait_for(timeout=60_000)
            _settle(page, 10.0)
            found["/ (upload)"] = _markup_from_payload(page, tracker)
        finally:
            browser.close()
    assert {path: links for path, links in found.items() if links} == {}
    assert tracker.hits == [], "the browser fetched an image from user text"
    assert _outside(requests) == [], "requests left 127.0.0.1"
    assert {path: urls for path, urls in foreign.items() if urls} == {}, "pages name resources outside 127.0.0.1"
    assert any(urlsplit(url).port == server.port for url in requests)
