"""The app as a user starts it, for the browser benchmarks: `gapviz up` (the public CLI) and headless Chromium.

Nothing here imports gapviz.app: the app is a process started by the CLI and a page driven through Playwright.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "gapviz-bench-token"
"""$GAPVIZ_TOKEN of the `gapviz up` a benchmark starts (its pages need it, as users' do)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_browser(playwright: Any) -> Any:
    """Debian's headless Chromium through Playwright."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def metric_value(page: Any, label: str) -> str:
    """The value of the st.metric labelled ``label`` as the browser shows it."""
    box = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    )
    return str(box.first.get_by_test_id("stMetricValue").inner_text()).strip()


def healthy(url: str) -> bool:
    """Whether the app at ``url`` answers Streamlit's health check."""
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class GapvizUp:
    """`gapviz up --port P --workers N` in its own process group, on a private GAPVIZ_HOME, with GAPVIZ_TOKEN."""

    def __init__(self, home: Path, workers: int = 1, log: Path | None = None) -> None:
        """The command's settings; nothing starts before :meth:`start`."""
        self.home, self.workers = Path(home), workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or (self.home.parent / "gapviz-up.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 240.0) -> GapvizUp:
        """Start it and wait until the app answers and its workers are registered."""
        self.home.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, GAPVIZ_HOME=str(self.home), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        env.update(GAPVIZ_TOKEN=TOKEN, PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
        env.pop("REDIS_URL", None)
        command = [sys.executable, "-m", "gapviz.cli.main", "--home", str(self.home), "up"]
        command += ["--port", str(self.port), "--workers", str(self.workers), "--skip-umap-warmup"]
        with open(self.log, "ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gapviz up exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            if healthy(self.url) and self.worker_count() >= self.workers:
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"gapviz up did not come up in {timeout:.0f} s: {self.log.read_text()[-2000:]}")

    def new_context(self, browser: Any, **kwargs: Any) -> Any:
        """A browser context that has opened the URL `gapviz up` prints (?token=), so its pages open."""
        context = browser.new_context(**kwargs)
        page = context.new_page()
        page.goto(f"{self.url}/?token={TOKEN}")
        page.get_by_test_id("stApp").wait_for(timeout=60_000)
        page.close()
        return context

    def connection(self) -> Any:
        """A Redis connection to its queue (gapviz.queue.client.connect)."""
        from gapviz.queue import client as queue

        return queue.connect(self.home)

    def worker_count(self) -> int:
        """Workers registered with its queue (0 while Redis is not up)."""
        if self.workers == 0:
            return 0
        try:
            from rq import Worker

            return int(Worker.count(connection=self.connection()))
        except Exception:  # noqa: BLE001 - Redis not up yet
            return 0

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the supervisor stops its app, workers and Redis), SIGKILL of its group if that hangs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
