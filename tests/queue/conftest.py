"""The queue layer's fixtures (Redis itself, ``redis_server`` and ``conn``, comes from tests/conftest.py, since
the app and reproduce layers use it too)."""

import pytest

from gapviz.runs.store import RunStore


@pytest.fixture
def store(home) -> RunStore:
    """A RunStore in this test's private GAPVIZ_HOME (the one workers and the CLI started by the test see)."""
    return RunStore(home)
