"""Shared test setup: offline open_clip, a private GAPVIZ_HOME per test."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh GAPVIZ_HOME for one test."""
    path = tmp_path / "gapviz-home"
    monkeypatch.setenv("GAPVIZ_HOME", str(path))
    return path
