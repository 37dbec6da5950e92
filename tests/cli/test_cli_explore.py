"""`gapviz explore FILE`: starts the app (or reuses the one running on this home) and prints a URL that opens Explore
on the file by a path the app may open; a file outside the allowed folders is registered, never read by URL alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
from app_fixtures import free_port

from gapviz.data.embedding_access import registry_dir, resolve_allowed


def _explore(home, path, port: int) -> subprocess.Popen:
    env = dict(os.environ, GAPVIZ_HOME=str(home), GAPVIZ_TOKEN="cli-explore-token")
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "gapviz.cli.main", "explore", str(path), "--no-browser", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _printed_url(proc: subprocess.Popen, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if line.startswith("gapviz explore: "):
            return line.split()[2]
        assert line or proc.poll() is None, "gapviz explore exited without a URL"
    raise AssertionError("no URL printed")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.slow  # starts a real `gapviz up` (Redis, the app): about 15 s
def test_explore_starts_the_app_then_reuses_it_and_the_url_opens_the_file(home, tmp_path):
    data = tmp_path / "outside" / "pairs.npy"
    data.parent.mkdir()
    np.save(data, np.random.default_rng(0).normal(size=(2, 50, 8)).astype(np.float32))
    port = free_port()
    first = _explore(home, data, port)
    try:
        url = _printed_url(first)
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        assert (parts.port, parts.path, query["source"]) == (port, "/", "file")  # Explore is the first page
        link = query["path"]
        assert os.path.dirname(link) == str(registry_dir(home)) and resolve_allowed(link, home) == data.resolve()
        with pytest.raises(urllib.error.HTTPError) as granted:  # the token opens a session, then the same view
            urllib.request.build_opener(_NoRedirect).open(url, timeout=10)
        location = granted.value.headers["location"]
        assert granted.value.code == 303 and location.startswith("/?") and "token" not in location
        assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))["path"] == link
        again = _explore(home, data, free_port())
        assert again.wait(60) == 0 and _printed_url(again).startswith(f"http://127.0.0.1:{port}/?")
    finally:
        os.killpg(first.pid, signal.SIGTERM)
        first.wait(60)
