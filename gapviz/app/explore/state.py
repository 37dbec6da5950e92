"""Explore's view state: every ``explore_*`` session key by name, and the URL round trip of the view.

The URL keeps the view (``?source=&run=&epoch=&method=&path=``): :meth:`ExploreState.from_url` seeds a widget from
it the first time the page draws that widget, :meth:`ExploreState.to_url` writes the widget's value back.
Widgets own their values (Streamlit's ``key=``), so the keys below are the names of that state.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

import streamlit as st

from gapviz.app.shared import common

MAIN = "explore"
"""Key prefix of the run picker that shows the main source (its run and epoch are in the URL)."""
CMP = "explore_cmp"
"""Key prefix of the comparison's widgets (its run picker is not in the URL)."""

# ---- the source (explore.py) ----
SOURCE = "explore_source"
UPLOAD = "explore_upload"
FILE_PATH = "explore_file_path"
"""The path field of the "file" source (seeded from ?path=, checked against the allowed folders before use)."""
DATA_SOURCE = "explore_data_source"
EVAL_SIZE = "explore_eval_size"
DATA_SEED = "explore_data_seed"
DATA_PATH = "explore_data_path"
IMAGE_ROOT = "explore_image_root"
ARCH = "explore_arch"
TAG = "explore_tag"
LOCAL_ARCH = "explore_local_arch"
LOCAL_PATH = "explore_local_path"
CKPT_RUN = "explore_ckpt_run"
CKPT_EPOCH = "explore_ckpt_epoch"
GO = "explore_go"
LAST_KEY = "explore_last_key"
"""The cache key of the source last analysed: the page redraws it without another click."""
RUN = MAIN + "_run"
RUN_EPOCH = MAIN + "_run_epoch"

# ---- the scatter, selection and cone (views.py) ----
METHOD = "explore_method"
UMAP = "explore_umap"
COLOR = "explore_color"
LINES = "explore_lines"
ARROW = "explore_arrow"
SCATTER = "explore_scatter"
BIG_SCATTER = "explore_big_scatter"
"""The big-set scatter component's value (gapviz.app.explore.big_scatter): the joint rows last clicked or selected."""
PICKED = "explore_picked"
"""Joint rows last picked in the scatter (a click or a region), kept by its on_select callback: the figure that
rings a clicked point's neighbours is a new chart to Streamlit, which forgets the chart's own selection."""
DIGITS = "explore_digits"
UMAP_RETRY = "explore_umap_retry"
SVG = "explore_svg"
POINT = "explore_point"
NN_IMAGES = "explore_nn_images"
NN_TEXTS = "explore_nn_texts"
SELECTION_METRICS = "explore_selection_metrics"
SELECTION_PAIRS = "explore_selection_pairs"
METRICS_CSV = "explore_metrics_csv"
SELECTION_CSV = "explore_selection_csv"
CONE = "explore_cone"

# ---- the gap anatomy (anatomy.py) ----
SPECTRUM = "explore_spectrum"

# ---- the comparison and the epochs (compare.py) ----
CMP_OPEN = CMP + "_open"
CMP_SOURCE = CMP + "_source"
CMP_UPLOAD = CMP + "_upload"
CMP_SEED = CMP + "_seed"
CMP_FIX = CMP + "_fix"
CMP_TABLE = CMP + "_table"
CMP_CSV = CMP + "_csv"
EPOCHS_METHOD = "explore_epochs_method"
EPOCHS = "explore_epochs"

# ---- the shift sweep (shift.py) ----
LAMBDA = "explore_lambda"
TAU = "explore_tau"
SHIFT_SCATTER = "explore_shift_scatter"
SHIFT_CURVES = "explore_shift_curves"


def digits() -> int:
    """The significant digits chosen in the sidebar (metric_groups.SIGNIFICANT until the reader asks)."""
    from gapviz.app.explore.metric_groups import SIGNIFICANT

    return int(st.session_state.get(DIGITS, SIGNIFICANT))


URL_KEYS = {"source": SOURCE, "run": RUN, "epoch": RUN_EPOCH, "method": METHOD, "path": FILE_PATH}
"""URL parameter -> the session key it seeds and is written from."""


MAX_URL_PATH = 4096
"""Longest ?path= taken from the URL (longer is ignored; the path field then starts empty)."""


def run_key(prefix: str) -> str:
    """The run selectbox of the run picker with this prefix (MAIN or CMP)."""
    return f"{prefix}_run"


def epoch_key(prefix: str) -> str:
    """The epoch selectbox of the run picker with this prefix (MAIN or CMP)."""
    return f"{prefix}_run_epoch"


def cmp_scatter_key(name: str) -> str:
    """The comparison's scatter of one side (``name``)."""
    return f"{CMP}_{name}"


class ExploreState:
    """Typed access to Explore's view state in ``st.session_state`` and its URL round trip."""

    def __init__(self, state: MutableMapping[str, Any] | None = None) -> None:
        self.state: MutableMapping[str, Any] = st.session_state if state is None else state

    @property
    def source(self) -> str | None:
        """Which source Explore shows (a key of the page's SOURCES)."""
        return self.state.get(SOURCE)

    def default_source(self, source: str) -> None:
        """The source shown when neither the URL nor an earlier draw chose one."""
        self.state.setdefault(SOURCE, source)

    @property
    def last_key(self) -> str | None:
        """The cache key of the source last analysed, or None."""
        return self.state.get(LAST_KEY)

    @last_key.setter
    def last_key(self, key: str) -> None:
        self.state[LAST_KEY] = key

    @property
    def comparison_open(self) -> bool:
        """Whether the comparison with a second source is shown."""
        return bool(self.state.get(CMP_OPEN))

    def default_run(self, prefix: str, run_id: str) -> None:
        """The run the picker with ``prefix`` shows when none was chosen."""
        self.state.setdefault(run_key(prefix), run_id)

    def keep_epoch(self, prefix: str, epochs: Sequence[int]) -> None:
        """The picker's epoch, or the last of ``epochs`` when it is not one of them."""
        if self.state.get(epoch_key(prefix)) not in epochs:
            self.state[epoch_key(prefix)] = epochs[-1]

    def from_url(self, param: str, valid: Sequence[Any]) -> None:
        """Seed the widget of ``?param=`` from the URL the first time the page draws it (URL -> state)."""
        key = URL_KEYS[param]
        if param == "path":
            raw = st.query_params.get(param)
            if key not in self.state and raw is not None and len(raw) <= MAX_URL_PATH:
                self.state[key] = raw
            return
        if param != "epoch":
            common.init_from_url(key, param, [str(v) for v in valid], multi=False)
            return
        raw = st.query_params.get(param)
        if key not in self.state and raw is not None and raw.isdigit() and int(raw) in valid:
            self.state[key] = int(raw)

    def to_url(self, *params: str) -> None:
        """State -> URL for the parameters named (every one when none is), so the address reopens the view."""
        for param in params or tuple(URL_KEYS):
            value = self.state.get(URL_KEYS[param])
            common.sync_to_url(param, None if value is None else str(value))
