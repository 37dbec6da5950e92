"""Synthetic runs for app tests: RunStore runs with made-up EpochRecords, no training, no torch."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from benchmarks.browser import CHROMIUM, free_port, launch_browser, metric_value  # noqa: F401 - re-exported to the tests
from gapviz.config import RunConfig, preset
from gapviz.runs.records import EpochRecord, RunState
from gapviz.runs.store import RunStore

APP_ROOT = Path(__file__).resolve().parents[1]
APP_SCRIPT = str(APP_ROOT / "streamlit_app.py")


def pca2(points: np.ndarray) -> np.ndarray:
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:2].T).astype(np.float32)


CAPTION = "caption <b>{i}</b> of a shape"


def synthetic_epoch(
    epoch: int,
    n: int = 48,
    dim: int = 16,
    seed: int = 0,
    gap: float = 1.0,
    caption: str = CAPTION,
    methods: tuple[str, ...] = ("pca",),
) -> EpochRecord:
    """Paired unit embeddings whose modality gap shrinks with the epoch; caption i is ``caption.format(i=i)``."""
    rng = np.random.default_rng(seed * 1000 + epoch)
    base = rng.normal(size=(n, dim))
    offset = np.zeros(dim)
    offset[0] = gap / (1 + epoch)
    image = base + offset + 0.1 * rng.normal(size=(n, dim))
    text = base - offset + 0.1 * rng.normal(size=(n, dim))
    image /= np.linalg.norm(image, axis=1, keepdims=True)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    gap_distance = float(np.linalg.norm(image.mean(0) - text.mean(0)))
    metrics = {
        "gap_distance": gap_distance,
        "relative_gap": gap_distance / 2,
        "tau": 0.07 - 0.005 * epoch,
        "logit_scale": 1 / (0.07 - 0.005 * epoch),
        "loss": 3.0 / (1 + epoch) + 0.01 * seed,
        "i2t_r1": min(1.0, 0.1 * (epoch + 1) + 0.01 * seed),
        "i2t_r5": min(1.0, 0.3 + 0.1 * epoch),
        "i2t_r10": min(1.0, 0.5 + 0.1 * epoch),
        "t2i_r1": min(1.0, 0.12 * (epoch + 1)),
        "t2i_r5": min(1.0, 0.35 + 0.1 * epoch),
        "t2i_r10": min(1.0, 0.55 + 0.1 * epoch),
        "zero_shot": min(1.0, 0.2 + 0.1 * epoch),
        "pair_cosine": 0.2 + 0.05 * epoch,
        "cone_image": 0.3,
        "cone_text": 0.4,
    }
    captions = [caption.replace("{i}", str(i)) for i in range(n)]
    return EpochRecord(
        epoch=epoch,
        global_step=epoch * 4,
        metrics=metrics,
        image_embeddings=image.astype(np.float16),
        text_embeddings=text.astype(np.float16),
        text_image_index=np.arange(n, dtype=np.int32),
        projections={method: pca2(np.vstack([image, text])) for method in methods},
        captions=captions,
        labels=np.arange(n, dtype=np.int32) % 4,
    )


def make_run(
    store: RunStore,
    name: str = "synthetic",
    *,
    epochs: int = 3,
    seed: int = 0,
    state: RunState = RunState.FINISHED,
    group: str = "",
    overrides: dict | None = None,
    n: int = 48,
    error: str | None = None,
    tags: tuple[str, ...] = (),
    caption: str = CAPTION,
    methods: tuple[str, ...] = ("pca",),
) -> str:
    """A stored run with ``epochs`` + 1 evaluations (epoch 0 = before training)."""
    cfg: RunConfig = preset("tiny-test").replace(name=name, seed=seed)
    if overrides:
        cfg = cfg.with_overrides(overrides)
    cfg = cfg.with_overrides({"train.epochs": epochs})
    run_id = store.create(cfg, group=group, tags=tags)
    for epoch in range(epochs + 1):
        store.append_epoch(run_id, synthetic_epoch(epoch, n=n, seed=seed, caption=caption, methods=methods))
    set_state(store, run_id, RunState(state), error=error, epochs=epochs)
    return run_id


def set_state(store: RunStore, run_id: str, state: RunState, *, error: str | None = None, epochs: int = 0) -> None:
    """Move a stored run to ``state`` through the store's own transition (as training would)."""
    if state == RunState.QUEUED:
        store.queued(run_id, job_id="test-job", queue_name="gapviz")
    elif state == RunState.RUNNING:
        store.running(run_id)  # in this (live) process
    elif state == RunState.FINISHED:
        store.finished(run_id, epochs)
    elif state == RunState.FAILED:
        message = error or "RuntimeError: failed"
        store.failed(run_id, message, "Traceback (most recent call last):\n  ...\n" + message)
    elif state == RunState.CANCELLED:
        store.cancelled(run_id)
    elif state == RunState.INTERRUPTED:
        store.interrupted(run_id)


def open_page(page: str, query: dict | None = None, timeout: float = 60):
    """An AppTest of the whole app (navigation included) showing ``page`` with ``query`` in its URL."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP_SCRIPT, default_timeout=timeout)
    at.run()
    at.switch_page(f"gapviz/app/{page}/{page}.py")
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def plain(markdown: str) -> str:
    """Markdown text with its backslash escapes and word joiners removed: what the browser shows (user text is
    escaped, see gapviz.app.shared.common.md_escape)."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown)).replace("\u2060", "")


def texts(at) -> str:
    """Every text-like element of an AppTest page, one per line, escapes removed (for assertions)."""
    parts = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "text",
        "info",
        "warning",
        "error",
        "success",
        "code",
    ):
        parts.extend(str(element.value) for element in getattr(at, kind))
    parts.extend(f"{m.label}: {m.value}" for m in at.metric)
    return plain("\n".join(parts))


# ---- a real `gapviz up` for browser tests (Chromium and its helpers: benchmarks/browser.py) --------
TEST_TOKEN = "gapviz-test-token"
"""$GAPVIZ_TOKEN of the `gapviz up` that browser tests start (pages need it, as users' do)."""


class GapvizUp:
    """`gapviz up --port P --workers N` in its own process group, on a private GAPVIZ_HOME, with GAPVIZ_TOKEN."""

    def __init__(self, home: Path, workers: int = 1, log: Path | None = None, token: str = TEST_TOKEN):
        self.home, self.workers, self.token = Path(home), workers, token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or (self.home.parent / "gapviz-up.log")
        self.proc = None

    def start(self, timeout: float = 240.0) -> "GapvizUp":
        import os
        import subprocess
        import sys
        import time
        import urllib.request

        self.home.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, GAPVIZ_HOME=str(self.home), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        env["GAPVIZ_TOKEN"] = self.token
        env.pop("REDIS_URL", None)
        env["PYTHONPATH"] = str(APP_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        out = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self._out = out
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gapviz.cli.main",
                "--home",
                str(self.home),
                "up",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--skip-umap-warmup",
            ],
            cwd=APP_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gapviz up exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as response:
                    app_ok = response.status == 200
            except OSError:
                app_ok = False
            if app_ok and self.worker_count() >= self.workers:
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"gapviz up did not come up in {timeout:.0f} s: {self.log.read_text()[-2000:]}")

    def __enter__(self) -> "GapvizUp":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def new_context(self, browser, **kwargs):
        """A browser context that has opened the URL `gapviz up` printed (?token=), so its pages open."""
        context = browser.new_context(**kwargs)
        page = context.new_page()
        page.goto(f"{self.url}/?token={self.token}")
        page.get_by_test_id("stApp").wait_for(timeout=60_000)
        page.close()
        assert any(c["name"] == f"gapviz_session_{self.port}" for c in context.cookies()), "no session cookie"
        return context

    def connection(self):
        from gapviz.queue import client as queue

        return queue.connect(self.home)

    def worker_count(self) -> int:
        try:
            from rq import Worker

            return Worker.count(connection=self.connection())
        except Exception:  # noqa: BLE001 - Redis not up yet
            return 0

    def stop(self, timeout: float = 30.0) -> None:
        import os
        import signal
        import subprocess

        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the supervisor stops its app, workers and Redis
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own session: the supervisor and its children
                self.proc.wait()
        self._out.close()
        self.proc = None


def choose_option(page, label: str, option_prefix: str) -> None:
    """Pick an option of the Streamlit selectbox labelled ``label``."""
    import re

    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    option = page.get_by_role("option", name=re.compile("^" + re.escape(option_prefix))).first
    for _ in range(3):  # a rerun that ends while the list is open closes it: open it again
        box.scroll_into_view_if_needed()
        box.click()
        try:
            option.wait_for(timeout=10_000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            continue
        option.click()
        return
    raise AssertionError(f"selectbox {label!r} offers no option starting with {option_prefix!r}")


def shoot(page, name: str, height: int = 1900) -> None:
    """A screenshot of the whole page into $GAPVIZ_SCREENSHOTS (only when that is set: the README's pictures)."""
    import os

    folder = os.environ.get("GAPVIZ_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        size = page.viewport_size
        page.set_viewport_size({"width": 1400, "height": height})  # Streamlit scrolls inside the page
        page.evaluate(
            "() => { document.activeElement && document.activeElement.blur();"
            " document.querySelectorAll('[data-testid=stMain], section, div')"
            ".forEach(e => { if (e.scrollTop) e.scrollTop = 0; });"
            " window.scrollTo(0, 0); }"
        )
        page.wait_for_timeout(3000)  # let Vega and the data grids finish drawing
        page.screenshot(path=str(Path(folder) / f"{name}.png"))
        page.set_viewport_size(size)


def settle(page) -> None:
    """Until the app's script run ends (Streamlit shows its status widget while a run is going)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000)


def download(page, key: str) -> bytes:
    """The file the download button with widget key ``key`` gives."""
    button = page.locator(f".st-key-{key} button").first
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=60_000) as info:
        button.click()
    return Path(info.value.path()).read_bytes()


def svg_texts(svg: str) -> list[str]:
    """The text of every <text> element of an SVG (axis titles, tick labels, panel titles)."""
    return [re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)]
