"""App entry: page config and `st.navigation` over the five pages (files in pages/).

`streamlit_app.py` at the repository root calls :func:`run`; so can any other entry script,
since page paths are taken from this package, not from the working directory.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parent / "pages"
PAGES = (
    ("explore.py", "Explore", ":material/scatter_plot:", "explore"),
    ("launch.py", "Launch", ":material/rocket_launch:", "launch"),
    ("live.py", "Live", ":material/monitoring:", "live"),
    ("compare.py", "Compare", ":material/compare_arrows:", "compare"),
    ("theory.py", "Theory", ":material/functions:", "theory"),
)


def pages() -> list:
    return [
        st.Page(PAGES_DIR / filename, title=title, icon=icon, url_path=url, default=(url == "explore"))
        for filename, title, icon, url in PAGES
    ]


def run() -> None:
    st.set_page_config(page_title="gapviz — modality gap", page_icon=":material/scatter_plot:", layout="wide")
    # Also in .streamlit/config.toml; set here too in case the app starts from another folder.
    st.set_option("client.showErrorDetails", "none")
    navigation = st.navigation(pages(), position="top")
    try:
        navigation.run()
    except Exception as error:  # noqa: BLE001 - a message, never a traceback
        st.error(f"This page failed: {type(error).__name__}: {error}")


if __name__ == "__main__":
    run()
