"""`gapviz up`: start Redis (unless REDIS_URL is given), N workers and the Streamlit app; keep them
running; stop them all on Ctrl-C or SIGTERM.

Each child runs in its own session, so a Ctrl-C in the terminal reaches only the supervisor,
which then stops the children in order: the app, the workers (SIGTERM: a running job stops at
its next step and is queued again to resume; SIGKILL after ``grace_s``), then the Redis server
it started (SIGTERM: it flushes its append-only file). On Linux each child also gets SIGTERM
if the supervisor itself dies (PR_SET_PDEATHSIG), so nothing is orphaned. A child that dies
while the supervisor runs is restarted, with a back-off when it keeps dying.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, TextIO

from gapviz.errors import EXIT_OK, GapvizError
from gapviz.fsio import atomic_write_bytes, open_private_append, private_umask, tighten_tree
from gapviz.queue import APP_HOST, DEFAULT_APP_PORT
from gapviz.queue.uplock import UpLock
from gapviz.runs.store import gapviz_home

DEFAULT_PORT = DEFAULT_APP_PORT
TOKEN_ENV = "GAPVIZ_TOKEN"
"""The app's access token: read by `gapviz up` (else generated) and passed to the app (gapviz.app.shared.access)."""
TOKEN_FILE = "app_token"
"""Beside the Redis record ($GAPVIZ_HOME/redis/), readable by the owner only."""
ADDRESS_FILE = "app_address"
"""Beside the token: "host port" of the app while `gapviz up` runs it (`gapviz explore` reuses that app)."""
POLL_S = 0.5
REAP_INTERVAL_S = 10.0
STOP_GRACE_S = 30.0
"""How long workers get to stop their job at a step boundary before they are killed."""
BACKOFF_MAX_S = 30.0
STABLE_S = 60.0
"""A child that ran this long before dying is restarted at once (its back-off resets)."""


def _pdeathsig() -> Callable[[], None] | None:
    """preexec_fn: SIGTERM this child when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None

    def set_pdeathsig() -> None:
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG

    return set_pdeathsig


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path | None = None
    cwd: Path | None = None
    """Working folder; the app's is its own, so its .streamlit/config.toml applies."""
    restart: bool = True
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float = 0.0
    backoff: float = 1.0
    _log: BinaryIO | None = field(default=None, repr=False)

    def start(self) -> None:
        if self.log_path is not None:
            self._log = open_private_append(self.log_path)  # kept open while the child runs
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
            start_new_session=True,
            preexec_fn=_pdeathsig(),
        )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            assert self.process is not None
            try:
                self.process.send_signal(signum)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float) -> bool:
        if self.process is None:
            return True
        try:
            self.process.wait(timeout=max(0.0, timeout))
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait()
        self.close_log()

    def close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class SupervisorError(GapvizError):
    """`gapviz up` cannot start as asked (a bad argument, a busy port, an unsafe host)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_path(home: str | Path) -> Path:
    from gapviz.queue.redis_server import server_dir

    return server_dir(home) / TOKEN_FILE


def app_token(home: str | Path, *, enabled: bool = True) -> str:
    """The access token of the app: $GAPVIZ_TOKEN, else a new random one; stored 0600 under $GAPVIZ_HOME/redis.

    ``enabled=False`` (--no-token) removes a stored token and returns "" (every page open).
    """
    import secrets

    path = token_path(home)
    if not enabled:
        path.unlink(missing_ok=True)
        return ""
    token = os.environ.get(TOKEN_ENV, "").strip() or secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    atomic_write_bytes(path, (token + "\n").encode())  # created 0600
    return token


def app_url(host: str, port: int, token: str, params: dict[str, str] | None = None) -> str:
    """The address `gapviz up` prints: opening it grants access (the token is in its query); ``params`` open the
    first page on a view (`gapviz explore`: ``{"source": "file", "path": ...}``)."""
    from urllib.parse import quote, urlencode

    query = ({"token": token} if token else {}) | dict(params or {})
    tail = f"?{urlencode(query, quote_via=quote)}" if query else ""
    return f"http://{socket_host(host)}:{port}/{tail}"


def address_path(home: str | Path) -> Path:
    return token_path(home).with_name(ADDRESS_FILE)


def running_app(home: str | Path) -> tuple[str, int, str] | None:
    """(host, port, token) of the app a `gapviz up` runs on ``home`` now, or None (none runs, or without an app)."""
    from gapviz.queue.uplock import is_held

    try:
        host, port = address_path(home).read_text().split()
        token = token_path(home).read_text().strip() if token_path(home).is_file() else ""
    except (OSError, ValueError):
        return None
    return (host, int(port), token) if is_held(home) and port.isdigit() else None


def socket_host(host: str) -> str:
    """A host name a browser can open for a bind address (0.0.0.0 and :: name this machine)."""
    import socket

    if host in ("0.0.0.0", "::", ""):
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def find_app() -> Path:
    """streamlit_app.py of this checkout, else the packaged entry (gapviz/app/main.py) of an installed gapviz."""
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent / "streamlit_app.py"
    return checkout if checkout.is_file() else package / "app" / "main.py"


class Supervisor:
    """Runs Redis, workers and the app until told to stop; see the module docstring."""

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        workers: int = 1,
        queues: list[str] | None = None,
        devices: list[str] | None = None,
        port: int = DEFAULT_PORT,
        app: bool = True,
        grace_s: float = STOP_GRACE_S,
        skip_umap_warmup: bool = False,
        out: TextIO | None = None,
        host: str = APP_HOST,
        token: bool = True,
    ):
        if workers < 0:
            raise SupervisorError("--workers must be 0 or more")
        if not 1 <= port <= 65535:
            raise SupervisorError("--port must be in 1..65535")
        if app and not token and not is_loopback(host):
            raise SupervisorError(
                f"--host {host} lets other machines reach the app: it needs the access token (drop --no-token)"
            )
        self.home = gapviz_home(home)
        self.host, self.use_token, self.token = host, token, ""
        self.n_workers, self.queues, self.devices = workers, list(queues or []), list(devices or [])
        self.port, self.with_app, self.grace_s = port, app, grace_s
        self.skip_umap_warmup = skip_umap_warmup
        self.out = out or sys.stdout
        self.redis: Any = None  # RedisServer we own, if any
        self.redis_url = ""
        self.children: list[Child] = []
        self._stopping = False
        self._last_reap = 0.0

    # ---- life cycle ----------------------------------------------------------------------------
    def say(self, message: str) -> None:
        print(f"gapviz up: {message}", file=self.out, flush=True)

    def request_stop(self, signum: int = signal.SIGTERM, frame: Any = None) -> None:
        self._stopping = True

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for (or everything has stopped)."""
        return self._stopping

    def app_ready(self) -> bool:
        """Whether the app this supervisor started runs and answers its health check now."""
        import urllib.request

        if not any(child.name == "app" and child.alive() for child in self.children):
            return False
        try:
            with urllib.request.urlopen(f"http://{socket_host(self.host)}:{self.port}/_stcore/health", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def run(self) -> int:
        """Take the home's lock, make the home private, start everything, supervise until SIGINT/SIGTERM,
        stop everything; returns an exit code."""
        private_umask()
        with UpLock(self.home):
            self.make_home_private()
            self.remove_stale_temp_files()
            previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                self.start()
                while not self._stopping:
                    self.tick()
                    time.sleep(POLL_S)
                return EXIT_OK
            finally:
                self.shutdown()
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    def make_home_private(self) -> None:
        """chmod -R go-rwx the home (one made by an older gapviz or under a loose umask) and say so if it changed."""
        changed = tighten_tree(self.home)  # the up lock has made it if it was missing
        if changed:
            self.say(f"made {self.home} private (owner-only): {changed} file(s)/folder(s) had group or other access")

    def remove_stale_temp_files(self) -> None:
        """Delete what atomic writes killed by SIGKILL left in the runs (under the up lock: no other up writes)."""
        from gapviz.runs.store import RunStore

        removed = RunStore(self.home).remove_stale_temp_files()
        if removed:
            self.say(f"removed {len(removed)} stale temporary file(s) left by killed writers")

    def start(self) -> None:
        app_path = self._check_app() if self.with_app else None
        self.redis_url = self._start_redis()
        env = dict(os.environ, GAPVIZ_HOME=str(self.home), REDIS_URL=self.redis_url, TOKENIZERS_PARALLELISM="false")
        env.pop(TOKEN_ENV, None)  # only the app gets the token
        if self.skip_umap_warmup:
            env["GAPVIZ_SKIP_UMAP_WARMUP"] = "1"
        logs = self.home / "logs"
        for index in range(self.n_workers):
            argv = [sys.executable, "-m", "workers.worker"]
            for queue in self.queues:
                argv += ["--queue", queue]
            if self.devices:
                argv += ["--device", self.devices[index % len(self.devices)]]
            self.children.append(Child(f"worker-{index + 1}", argv, env, logs / f"worker-{index + 1}.log"))
        if app_path is not None:
            self.children.append(self._app_child(app_path, env, logs))
        for child in self.children:
            child.start()
        self.say(f"{self.n_workers} worker(s) starting (logs: {logs})")
        if self.with_app:
            atomic_write_bytes(address_path(self.home), f"{self.host} {self.port}\n".encode())
            self.say(f"app at {app_url(self.host, self.port, self.token)}")
            if self.token:
                self.say(f"(the access token is also in {token_path(self.home)}, readable by you only)")
            else:
                self.say("no access token (--no-token): any local user can open the app")
        self.say("Ctrl-C stops everything")

    def _app_child(self, app_path: Path, env: dict[str, str], logs: Path) -> Child:
        """The Streamlit app on host:port behind the access gate (gapviz/app/serve.py), given the access token
        ("" = open) and the page script in its environment only."""
        self.token = app_token(self.home, enabled=self.use_token)
        serve = Path(__file__).resolve().parents[1] / "app" / "serve.py"
        argv = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(serve),
            "--server.address",
            self.host,
            "--server.port",
            str(self.port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ]
        child_env = dict(env, **{TOKEN_ENV: self.token, "GAPVIZ_APP_SCRIPT": str(app_path)})
        return Child("app", argv, child_env, logs / "app.log", cwd=app_path.parent)

    def _check_app(self) -> Path:
        from gapviz.queue.redis_server import port_free

        app_path = find_app()
        if not port_free(self.host, self.port):
            raise SupervisorError(f"port {self.port} on {self.host} is in use; choose another with --port")
        return app_path

    def _start_redis(self) -> str:
        url = os.environ.get("REDIS_URL", "").strip()
        if url:
            self.say("using the Redis at $REDIS_URL")
            return url
        from gapviz.queue.redis_server import record_path, running_server, start_embedded

        info = running_server(self.home)
        if info is not None:
            self.say(f"using the embedded Redis already running at {info.host}:{info.port} (pid {info.pid})")
            return info.url
        self.redis = start_embedded(self.home, preexec_fn=_pdeathsig())
        self.say(f"embedded Redis on {self.redis.host}:{self.redis.port} (password in {record_path(self.home)})")
        return self.redis.url

    def tick(self) -> None:
        """Restart whatever died; mark runs of dead workers failed."""
        now = time.monotonic()
        if self.redis is not None and not self.redis.running() and not self._stopping:
            self.say("Redis stopped; restarting it")
            try:
                from gapviz.queue.redis_server import write_record

                self.redis.restart()
                write_record(self.home, self.redis.info)
            except Exception as error:  # noqa: BLE001 - try again next tick
                self.say(f"Redis would not restart: {error}")
        for child in self.children:
            if child.alive() or not child.restart or self._stopping:
                continue
            if child.next_start == 0.0:
                code = child.process.returncode if child.process else None
                ran = now - child.started_at
                child.backoff = 1.0 if ran >= STABLE_S else min(BACKOFF_MAX_S, child.backoff * 2)
                child.next_start = now + (0.0 if ran >= STABLE_S else child.backoff)
                child.close_log()
                self.say(f"{child.name} (pid {child.pid}) exited with {code}; restarting")
            if now >= child.next_start:
                child.next_start = 0.0
                child.restarts += 1
                child.start()
        if now - self._last_reap >= REAP_INTERVAL_S:
            self._last_reap = now
            self._reap()

    def _reap(self) -> None:
        try:
            from gapviz.queue.connection import connect
            from gapviz.queue.status import reap_abandoned

            conn = connect(url=self.redis_url)
            try:
                reap_abandoned(conn)
            finally:
                conn.close()
        except Exception:  # noqa: BLE001 - Redis restarting: next time
            pass

    def shutdown(self) -> None:
        """App first, then workers (their jobs stop at a step and are requeued), then our Redis."""
        self._stopping = True
        apps = [c for c in self.children if c.name == "app"]
        workers = [c for c in self.children if c.name != "app"]
        if any(c.alive() for c in self.children):
            self.say("stopping")
        self._stop_group(apps, 10.0)
        self._stop_group(workers, self.grace_s)
        if workers:
            self._reap()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        self.children = []
        address_path(self.home).unlink(missing_ok=True)

    def _stop_group(self, children: list[Child], grace: float) -> None:
        for child in children:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in children:
            if not child.wait(deadline - time.monotonic()):
                self.say(f"{child.name} (pid {child.pid}) did not stop in {grace:.0f} s; killing it")
                child.kill()
            child.close_log()
