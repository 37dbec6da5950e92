"""The gapviz web app: `streamlit run streamlit_app.py` (or `gapviz up`, which also starts the queue)."""

from gapviz.app.main import run

run()
