"""The access gate (app/shared/gate.py) against a real `gapviz up`: nothing but the health check answers without a
session; ``?token=`` opens one in an HttpOnly, SameSite=Strict cookie named per port; a restart ends every session."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest
import websockets
from app_fixtures import GapvizUp

from gapviz.app.shared import access

pytestmark = pytest.mark.slow


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _get(url: str, cookie: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with _opener.open(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def _login(server: GapvizUp, path: str = "/") -> tuple[str, dict[str, str]]:
    """The session cookie ("name=value") a login with the token gets, and the response's headers."""
    sep = "&" if "?" in path else "?"
    status, headers, _ = _get(f"{server.url}{path}{sep}token={server.token}")
    assert status == 303, status
    return headers["set-cookie"].split(";")[0], headers


def _websocket_opens(server: GapvizUp, cookie: str | None) -> bool:
    async def attempt() -> bool:
        url = server.url.replace("http://", "ws://") + "/_stcore/stream"
        headers = {"Cookie": cookie} if cookie else {}
        try:
            async with websockets.connect(url, additional_headers=headers, open_timeout=20):
                return True
        except (websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed):
            return False

    return asyncio.run(attempt())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with GapvizUp(tmp_path_factory.mktemp("gate") / "home", workers=0) as up:
        yield up


PATHS = ("/", "/live?run=x", "/_stcore/metrics", "/_stcore/host-config", "/media/x.png", "/static/js/x.js")


@pytest.mark.parametrize("path", PATHS)
def test_nothing_answers_without_a_session(server, path):
    status, headers, body = _get(server.url + path)
    assert status == 403 and body.decode() == access.LOCKED_MESSAGE
    assert headers["content-type"].startswith("text/plain")
    assert _get(server.url + "/_stcore/health")[0] == 200
    assert _get(f"{server.url}{path}{'&' if '?' in path else '?'}token=wrong-{server.token}")[0] == 403


def test_the_token_opens_a_random_httponly_session_named_per_port(server):
    cookie, headers = _login(server, "/live?run=abc")
    assert headers["location"] == "/live?run=abc"
    flags = [part.strip() for part in headers["set-cookie"].split(";")]
    assert "HttpOnly" in flags and "SameSite=Strict" in flags and "Path=/" in flags
    name, value = cookie.split("=", 1)
    assert name == f"gapviz_session_{server.port}"
    assert server.token not in value and len(value) >= 40
    assert _login(server)[0] != cookie  # a new random session per login, not a digest of the token
    for path in ("/", "/live?run=x", "/_stcore/metrics"):
        assert _get(server.url + path, cookie)[0] == 200, path
    assert _get(server.url + "/", f"gapviz_session_{server.port + 1}={value}")[0] == 403  # another port's name
    assert _get(server.url + "/", f"{name}=forged-{value}")[0] == 403


def test_the_websocket_needs_a_session(server):
    assert not _websocket_opens(server, None)
    assert _websocket_opens(server, _login(server)[0])


def test_the_redirect_stays_on_this_host(server):
    _, headers = _login(server, "//evil.example/x")
    assert headers["location"] == "/evil.example/x"


def test_a_restart_with_a_new_token_ends_every_session(tmp_path):
    with GapvizUp(tmp_path / "home", workers=0, token="first-token-1") as first:
        cookie, _ = _login(first)
        assert _get(first.url + "/", cookie)[0] == 200
    second = GapvizUp(tmp_path / "home", workers=0, token="second-token-2")
    second.port, second.url = first.port, first.url
    with second:
        assert _get(second.url + "/", cookie)[0] == 403


def test_sessions_expire_and_are_bounded():
    session = access.open_session(now=0.0)
    assert access.session_valid(session, now=access.SESSION_TTL_S - 1)
    assert not access.session_valid(session, now=access.SESSION_TTL_S + 1)
    assert not access.session_valid(None) and not access.session_valid("unknown")
    for _ in range(access.MAX_SESSIONS + 5):
        access.open_session()
    assert len(access._sessions) <= access.MAX_SESSIONS
