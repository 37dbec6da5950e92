"""The ASGI entry `gapviz up` starts (`streamlit run gapviz/app/serve.py`): the app behind the access gate.

``$GAPVIZ_APP_SCRIPT`` names the page script (the checkout's streamlit_app.py, else gapviz/app/main.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from gapviz.app.shared.gate import AccessGate

SCRIPT_ENV = "GAPVIZ_APP_SCRIPT"

app = st.App(
    os.environ.get(SCRIPT_ENV) or str(Path(__file__).resolve().parent / "main.py"),
    middleware=[Middleware(AccessGate)],
)
