"""Shared test setup: offline open_clip, a private GAPVIZ_HOME per test, a real Redis server per module, and a
marker per layer (the folder a test sits in: ``pytest -m science``, or ``pytest tests/science``).

The fast lane for local work: ``python -m pytest -q -m "not slow and not browser"``."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from gapviz.queue.redis_server import RedisServer  # noqa: E402

LAYER_MARKERS = {"browser": "browser_layer"}
"""Folder → marker where they differ (``browser`` already marks every Chromium test, wherever it sits)."""


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist, one compute thread per worker process (torch, BLAS, numba): two workers with a pool each on
    two cores spin against each other. Processes the tests start (RQ workers, `gapviz up`) keep their default."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    threadpool_limits(limits=1)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks (loadgroup)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its layer (the folder under tests/ it sits in) and skip the gpu-marked ones without
    CUDA. Under ``-n 2 --dist loadgroup`` each module runs on one xdist worker (its module fixtures start once)
    and the browser tests, which share one `gapviz up` (tests/browser/conftest.py), go first on one worker while
    the other takes the rest; without xdist they run last, so that server is not idle beside the rest."""
    root = Path(__file__).parent
    for item in items:
        parts = Path(str(item.fspath)).relative_to(root).parts
        if len(parts) > 1:
            item.add_marker(LAYER_MARKERS.get(parts[0], parts[0]))
        browser = item.get_closest_marker("browser") is not None
        item.add_marker(pytest.mark.xdist_group("browser" if browser else item.nodeid.split("::")[0]))
    parallel = bool(getattr(config.option, "numprocesses", None))
    items.sort(key=lambda item: (item.get_closest_marker("browser") is not None) != parallel)  # stable
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_tests:
        import torch

        if not torch.cuda.is_available():
            for item in gpu_tests:
                item.add_marker(pytest.mark.skip(reason="needs CUDA (benchmarks/gpu_check.sh runs it on a GPU)"))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh GAPVIZ_HOME for one test."""
    path = tmp_path / "gapviz-home"
    monkeypatch.setenv("GAPVIZ_HOME", str(path))
    return path


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server (gapviz's embedded starter) on a free port, for one test module."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def conn(redis_server: RedisServer) -> Iterator[Any]:
    """A client of the module's server, flushed before the test (modules without shared workers)."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    try:
        yield client
    finally:
        client.close()
