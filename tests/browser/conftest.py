"""The browser layer's one server: a session-scoped `gapviz up` (token, one worker) shared by every Chromium test.

Starting `gapviz up` (Redis, a worker that warms torch, Streamlit) once instead of once per module is most of a
module's set-up. Each module adds the runs it needs to ``gapviz_up.home`` itself and finds them by its own name
or group, so modules do not depend on each other's runs or order.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from app_fixtures import GapvizUp


@pytest.fixture(scope="session")
def gapviz_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GapvizUp]:
    """`gapviz up` on a free port over a private home, with one worker, for the whole browser session."""
    with GapvizUp(tmp_path_factory.mktemp("browser") / "home", workers=1) as server:
        yield server
