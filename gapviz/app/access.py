"""The app's access token, as Jupyter does it: `gapviz up` passes it as ``$GAPVIZ_TOKEN``.

A page opens when its URL carries ``?token=<token>``; the browser is then remembered, for the
session (st.session_state) and in a cookie holding a digest of the token, so later pages and
reloads need no token in the URL. Without either, a page shows one line and nothing else. With
no ``$GAPVIZ_TOKEN`` (``gapviz up --no-token``, or a bare ``streamlit run``) every page is open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

import streamlit as st

TOKEN_ENV = "GAPVIZ_TOKEN"
TOKEN_PARAM = "token"
SESSION_KEY = "gapviz_access_granted"
COOKIE_MAX_AGE_S = 30 * 24 * 3600
LOCKED_MESSAGE = "This gapviz app needs its access token: open the URL that `gapviz up` printed (it ends in ?token=…)."


def expected_token() -> str:
    """The token pages require ("" when access is open)."""
    return os.environ.get(TOKEN_ENV, "").strip()


def cookie_name(token: str) -> str:
    """One cookie per token, so two gapviz apps on one host (different ports) do not clash."""
    return "gapviz_access_" + hashlib.sha256(f"name:{token}".encode()).hexdigest()[:12]


def cookie_value(token: str) -> str:
    """A digest of the token: the cookie proves the token was given without holding it."""
    return hashlib.sha256(f"gapviz-access:{token}".encode()).hexdigest()


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    return bool(given) and hmac.compare_digest(str(given).encode(), token.encode())


def _cookie_matches(token: str) -> bool:
    try:
        presented = st.context.cookies.get(cookie_name(token))
    except Exception:  # noqa: BLE001 - no request context (bare mode): no cookie
        return False
    return bool(presented) and hmac.compare_digest(str(presented), cookie_value(token))


def _remember(token: str) -> None:
    """Set the access cookie in this browser (constant script: no user text in it)."""
    cookie = f"{cookie_name(token)}={cookie_value(token)}; path=/; max-age={COOKIE_MAX_AGE_S}; SameSite=Strict"
    st.html(f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True)


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
        _remember(token)
        del st.query_params[TOKEN_PARAM]
        return True
    if _cookie_matches(token):
        st.session_state[SESSION_KEY] = True
        return True
    st.error(LOCKED_MESSAGE)
    return False
