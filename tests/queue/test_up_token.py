"""`gapviz up` and the app's access token: where it comes from, where it is kept, when up refuses to start."""

from __future__ import annotations

import stat
import subprocess
import sys

import pytest

from gapviz.queue import supervisor
from gapviz.queue.supervisor import Supervisor, SupervisorError, app_token, app_url, is_loopback, token_path


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org", ""])
def test_other_hosts(host):
    assert not is_loopback(host)


def test_token_from_the_environment_is_stored_owner_only(tmp_path, monkeypatch):
    monkeypatch.setenv(supervisor.TOKEN_ENV, "from-env")
    assert app_token(tmp_path) == "from-env"
    path = token_path(tmp_path)
    assert path.read_text().strip() == "from-env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_token_is_generated_when_none_is_given_and_removed_by_no_token(tmp_path, monkeypatch):
    monkeypatch.delenv(supervisor.TOKEN_ENV, raising=False)
    first, second = app_token(tmp_path), app_token(tmp_path)
    assert len(first) >= 24 and first != second and token_path(tmp_path).read_text().strip() == second
    assert app_token(tmp_path, enabled=False) == "" and not token_path(tmp_path).exists()


def test_the_printed_url_carries_the_token():
    assert app_url("127.0.0.1", 8501, "a/b c") == "http://127.0.0.1:8501/?token=a%2Fb%20c"
    assert app_url("127.0.0.1", 8501, "") == "http://127.0.0.1:8501/"


def test_a_non_loopback_host_needs_the_token(tmp_path):
    with pytest.raises(SupervisorError, match="--host 0.0.0.0 lets other machines reach the app"):
        Supervisor(tmp_path, workers=0, host="0.0.0.0", token=False)
    assert Supervisor(tmp_path, workers=0, host="0.0.0.0", token=True).use_token
    assert not Supervisor(tmp_path, workers=0, host="127.0.0.1", token=False).use_token


@pytest.mark.parametrize(
    "args, message",
    [
        (["--host", "0.0.0.0", "--no-token"], "needs the access token"),
        (["--workers", "-1"], "--workers must be 0 or more"),
        (["--port", "0"], "--port must be in 1..65535"),
    ],
)
def test_up_refuses_with_one_line(tmp_path, args, message):
    result = subprocess.run(
        [sys.executable, "-m", "gapviz.cli.main", "--home", str(tmp_path), "up", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
