"""The access gate: an ASGI layer in front of Streamlit that answers nothing without a session.

Streamlit cannot set an ``HttpOnly`` cookie from a page (its scripts run over a websocket), so this small
in-process middleware does it, on the same port, through ``st.App(middleware=…)`` (gapviz/app/serve.py).
Every HTTP request and websocket (pages, static files, media, uploads, ``/_stcore/metrics``) needs a valid
session cookie, ``/_stcore/health`` excepted. A request with ``?token=`` opens a session (access.open_session)
and is redirected to the same path without the token. Without the token configured the gate is open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from gapviz.app.shared.access import (
    LOCKED_MESSAGE,
    SESSION_TTL_S,
    TOKEN_PARAM,
    expected_token,
    open_session,
    session_cookie_name,
    session_valid,
    token_matches,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/_stcore/health"})
"""Paths that answer without a session: the liveness probe `gapviz up` and load balancers poll."""
POLICY_VIOLATION = 1008


def request_cookies(scope: Scope) -> dict[str, str]:
    """The request's cookies by name (the last of a repeated name wins)."""
    cookies: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name.lower() == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key:
                    cookies[key] = val
    return cookies


def _port(scope: Scope) -> int:
    server = scope.get("server") or ("", 0)
    return int(server[1] or 0)


def _same_path_without_token(scope: Scope, query: list[tuple[str, str]]) -> str:
    """A local redirect target: this path (never a '//host' one) and the query without the token."""
    path = "/" + str(scope.get("path", "/")).lstrip("/")
    rest = [(k, v) for k, v in query if k != TOKEN_PARAM]
    return quote(path) + (f"?{urlencode(rest)}" if rest else "")


async def _grant(scope: Scope, send: Send, query: list[tuple[str, str]]) -> None:
    """303 to the same URL without the token, with a new session in an HttpOnly, SameSite=Strict cookie."""
    cookie = (
        f"{session_cookie_name(_port(scope))}={open_session()}; Path=/; HttpOnly; SameSite=Strict; "
        f"Max-Age={SESSION_TTL_S}"
    )
    headers = [
        (b"location", _same_path_without_token(scope, query).encode("latin-1")),
        (b"set-cookie", cookie.encode("latin-1")),
        (b"cache-control", b"no-store"),
        (b"content-length", b"0"),
    ]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _deny(scope: Scope, receive: Receive, send: Send) -> None:
    """HTTP: 403 with the one-line message as plain text. Websocket: closed before it opens."""
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})
        return
    body = LOCKED_MESSAGE.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AccessGate:
    """ASGI middleware: pass a request with a valid session, open one for ``?token=``, refuse the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = expected_token()
        if scope["type"] not in ("http", "websocket") or not token or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if session_valid(request_cookies(scope).get(session_cookie_name(_port(scope)))):
            await self.app(scope, receive, send)
            return
        query = parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1"), keep_blank_values=True)
        given = next((value for key, value in query if key == TOKEN_PARAM), None)
        if scope["type"] == "http" and token_matches(given, token):
            await _grant(scope, send, query)
            return
        await _deny(scope, receive, send)
