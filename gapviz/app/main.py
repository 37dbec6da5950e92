"""App entry: page config, the access token, and `st.navigation` over the pages (``<page>/<page>.py``).

`streamlit_app.py` at the repository root calls :func:`run`; so can any other entry script,
since page paths are taken from this package, not from the working directory.
"""

from __future__ import annotations

import streamlit as st

from gapviz.app.shared import access, common
from gapviz.fsio import private_umask

METRIC_STYLE = (
    "<style>[data-testid='stMetricValue'] { font-size: 1.3rem; line-height: 1.35; }"
    " [data-testid='stMetricValue'] * { white-space: normal !important; overflow: visible !important; }</style>"
)
"""Metric cards carry a value and its 95% interval: smaller, and wrapped rather than cut off."""


def pages() -> list:
    """st.Page objects of common.PAGE_TABLE (the first is the default page)."""
    return [
        st.Page(common.PAGES[url], title=title, icon=icon, url_path=url, default=(index == 0))
        for index, (url, title, icon) in enumerate(common.PAGE_TABLE)
    ]


def run() -> None:
    """Draw the page the URL names, after the access check; a failure is one line, never a traceback."""
    private_umask()  # caches and thumbnails the app writes under $GAPVIZ_HOME are owner-only
    st.set_page_config(page_title="gapviz — modality gap", page_icon=str(common.FAVICON), layout="wide")
    # Also in .streamlit/config.toml; set here too in case the app starts from another folder.
    st.set_option("client.showErrorDetails", "none")
    if not access.require_access():
        return
    st.html(METRIC_STYLE)
    navigation = st.navigation(pages(), position="top")
    with common.guard("This page failed"):
        navigation.run()


if __name__ == "__main__":
    run()
