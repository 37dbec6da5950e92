"""The app's access: the token `gapviz up` passes as ``$GAPVIZ_TOKEN``, and the sessions it opens.

Under `gapviz up` an ASGI layer in front of Streamlit (gapviz/app/shared/gate.py) answers nothing without a
session, `/_stcore/health` excepted: a request carrying ``?token=<token>`` gets a random session id in an
``HttpOnly``, ``SameSite=Strict`` cookie named per port (``gapviz_session_<port>``), and is redirected to the
same URL without the token. Sessions live in this process only and expire, so a restart (a new token)
ends them all. The page script checks again (require_access): a valid session cookie, or ``?token=`` itself
where no gate runs (AppTest, a bare ``streamlit run`` with ``$GAPVIZ_TOKEN`` set). With no
``$GAPVIZ_TOKEN`` (``gapviz up --no-token``, or a bare ``streamlit run``) every page is open.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time

import streamlit as st

TOKEN_ENV = "GAPVIZ_TOKEN"
TOKEN_PARAM = "token"
SESSION_KEY = "gapviz_access_granted"
SESSION_COOKIE_PREFIX = "gapviz_session_"
SESSION_TTL_S = 12 * 3600
MAX_SESSIONS = 256
"""Open sessions kept at most; the oldest is dropped first (every input is bounded)."""
LOCKED_MESSAGE = "This gapviz app needs its access token: open the URL that `gapviz up` printed (it ends in ?token=…)."

_sessions: dict[str, float] = {}
_sessions_lock = threading.Lock()


def expected_token() -> str:
    """The token pages require ("" when access is open)."""
    return os.environ.get(TOKEN_ENV, "").strip()


def session_cookie_name(port: int) -> str:
    """One cookie per port: browsers send a host's cookies to all its ports, so two apps must not share a name."""
    return f"{SESSION_COOKIE_PREFIX}{int(port)}"


def open_session(now: float | None = None) -> str:
    """A new random session id (256 bits, not derived from the token), valid for SESSION_TTL_S."""
    now = time.monotonic() if now is None else now
    session = secrets.token_urlsafe(32)
    with _sessions_lock:
        for expired in [s for s, until in _sessions.items() if until <= now]:
            del _sessions[expired]
        while len(_sessions) >= MAX_SESSIONS:
            del _sessions[min(_sessions, key=_sessions.__getitem__)]
        _sessions[session] = now + SESSION_TTL_S
    return session


def session_valid(session: str | None, now: float | None = None) -> bool:
    """True for a session this process opened that has not expired."""
    if not session:
        return False
    now = time.monotonic() if now is None else now
    with _sessions_lock:
        until = _sessions.get(session)
    return until is not None and until > now


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    return bool(given) and hmac.compare_digest(str(given).encode(), token.encode())


def _has_session() -> bool:
    """A valid gapviz session cookie on this page's request (HttpOnly cookies reach the server all the same)."""
    try:
        cookies = dict(st.context.cookies)
    except Exception:  # noqa: BLE001 - no request context (bare mode): no cookie
        return False
    return any(name.startswith(SESSION_COOKIE_PREFIX) and session_valid(value) for name, value in cookies.items())


def require_access() -> bool:
    """True when this session may see pages; otherwise draws the one-line message and returns False."""
    token = expected_token()
    if not token:
        return True
    if st.session_state.get(SESSION_KEY):
        if TOKEN_PARAM in st.query_params:
            del st.query_params[TOKEN_PARAM]
        return True
    if token_matches(st.query_params.get(TOKEN_PARAM), token):
        st.session_state[SESSION_KEY] = True
        del st.query_params[TOKEN_PARAM]
        return True
    if _has_session():
        st.session_state[SESSION_KEY] = True
        return True
    st.error(LOCKED_MESSAGE)
    return False
