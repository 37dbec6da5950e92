"""The `gapviz` command when its reader goes away or its target is wrong: quiet exit, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from app_fixtures import make_run

from gapviz.errors import EXIT_BROKEN_PIPE, EXIT_ERROR
from gapviz.runs.store import RunStore


def gapviz(home, *argv: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, GAPVIZ_HOME=str(home))
    return subprocess.Popen([sys.executable, "-m", "gapviz.cli.main", *argv], env=env, stderr=subprocess.PIPE, **kwargs)


@pytest.fixture(scope="module")
def runs_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("cli-errors")
    store = RunStore(home)
    for index in range(3):
        make_run(store, f"run {index}", epochs=1, seed=index, n=8)
    return home


@pytest.mark.slow  # over 2 s: out of the fast lane
@pytest.mark.parametrize("argv", [("runs", "list"), ("runs", "list", "--json"), ("reproduce", "--list")])
def test_a_closed_pipe_ends_the_command_quietly(runs_home, argv):
    """issue 10.13: `gapviz runs list | head -3` ended in a BrokenPipeError traceback."""
    process = gapviz(runs_home, *argv, stdout=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before anything is written: every write fails with EPIPE
    _, err = process.communicate(timeout=120)
    assert process.returncode == EXIT_BROKEN_PIPE and err.decode() == ""


def test_head_in_a_shell_pipeline(runs_home):
    env = dict(os.environ, GAPVIZ_HOME=str(runs_home))
    cmd = f"{sys.executable} -m gapviz.cli.main runs list --json | head -c 100 >/dev/null"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr and result.stderr == ""


def test_export_to_an_existing_file_is_one_line(runs_home, tmp_path):
    """issue 10.10: `gapviz runs export ID --dest /etc/passwd` raised FileExistsError."""
    target = tmp_path / "passwd"
    target.write_text("keep me\n")
    run_id = RunStore(runs_home).run_ids()[0]
    process = gapviz(runs_home, "runs", "export", run_id, "--dest", str(target), stdout=subprocess.PIPE)
    out, err = process.communicate(timeout=120)
    lines = err.decode().strip().splitlines()
    assert process.returncode == EXIT_ERROR and len(lines) == 1, err
    assert lines[0] == f"gapviz: error: --dest {target} is a file; give a folder to write the run's files into"
    assert target.read_text() == "keep me\n" and out == b""


def test_export_into_a_folder_it_may_not_write_is_one_line(runs_home, tmp_path):
    if os.geteuid() == 0:
        folder = "/proc/gapviz-cannot-exist"  # even root cannot create folders in /proc
    else:
        folder = str(tmp_path / "locked" / "inside")
        (tmp_path / "locked").mkdir(mode=0o500)
    run_id = RunStore(runs_home).run_ids()[0]
    process = gapviz(runs_home, "runs", "export", run_id, "--dest", folder, stdout=subprocess.PIPE)
    _, err = process.communicate(timeout=120)
    lines = err.decode().strip().splitlines()
    assert process.returncode == EXIT_ERROR and len(lines) == 1 and lines[0].startswith("gapviz: error: "), err
    assert "Traceback" not in err.decode()
