"""The Streamlit app: one feature package per page, what several pages use in ``shared/``.

``main.py`` registers the pages (``st.navigation`` over ``shared.common.PAGE_TABLE``; each page is its package's
``page.py``) and ``serve.py`` is the ASGI entry ``gapviz up`` starts. Feature packages (``explore/``,
``launch/``, ``live/``, ``compare/``, ``theory/``) import ``shared/`` and themselves only; ``shared/`` imports no
feature package; nothing below the app imports it (tests/test_code_health.py checks all three).
"""
