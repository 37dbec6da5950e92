"""The Streamlit app: one feature package per page, what several pages use in ``shared/``.

``main.py`` registers the pages (``st.navigation`` over ``shared.common.PAGE_TABLE``) and ``serve.py`` is the
ASGI entry ``gapviz up`` starts. Each page is the file of its package's name (``explore/explore.py``, ...):
Streamlit and its AppTest know a page by that file name, which is also its URL path. Feature packages
(``explore/``, ``launch/``, ``live/``, ``compare/``, ``theory/``) import ``shared/`` and themselves only;
``shared/`` imports no feature package; nothing below the app imports it (tests/project/test_code_health.py checks it).
"""
