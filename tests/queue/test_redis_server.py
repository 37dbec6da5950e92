"""The embedded Redis: binary lookup, private config and record, password, AOF persistence, restart."""

from __future__ import annotations

import os
import stat

import pytest
import redis

from gapviz.queue import redis_server as rs

pytestmark = pytest.mark.timeout(60)


def test_binary_is_found_and_overridable(tmp_path, monkeypatch):
    binary = rs.find_redis_server()
    assert binary.is_file() and os.access(binary, os.X_OK)
    monkeypatch.setenv(rs.BINARY_ENV, str(binary))
    assert rs.find_redis_server() == binary.resolve()
    monkeypatch.setenv(rs.BINARY_ENV, str(tmp_path / "missing"))
    with pytest.raises(rs.RedisServerError, match="not an executable"):
        rs.find_redis_server()


def test_start_needs_password_binds_loopback_and_keeps_files_private(tmp_path):
    server = rs.RedisServer(tmp_path / "data")
    with server:
        info = server.info
        assert info.host == "127.0.0.1" and len(info.password) >= 32
        assert redis.Redis.from_url(info.url).ping()
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(host=info.host, port=info.port, retry=None).ping()
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(host=info.host, port=info.port, password="wrong", retry=None).ping()
        assert redis.Redis.from_url(info.url).client_info()["laddr"].startswith("127.0.0.1:")
        assert stat.S_IMODE(server.config_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
        assert "***" in info.safe_url and info.password not in info.safe_url
    assert not server.running()


DANGEROUS = [
    ("CONFIG", "SET", "dir", "/tmp"),
    ("CONFIG", "GET", "dir"),
    ("MODULE", "LOAD", "/tmp/evil.so"),
    ("DEBUG", "SLEEP", "0"),
    ("SAVE",),
    ("BGSAVE",),
    ("BGREWRITEAOF",),
    ("SHUTDOWN", "NOSAVE"),
    ("SLAVEOF", "127.0.0.1", "1"),
    ("REPLICAOF", "127.0.0.1", "1"),
    ("MIGRATE", "127.0.0.1", "1", "key", "0", "1000"),
    ("ACL", "SETUSER", "default", "+@all"),
    ("FAILOVER",),
    ("MONITOR",),
]


def test_dangerous_commands_are_refused_even_with_the_password(redis_server):
    client = redis.Redis.from_url(redis_server.url, retry=None)
    try:
        for command in DANGEROUS:
            with pytest.raises(redis.exceptions.ResponseError, match="no permissions"):
                client.execute_command(*command)
        assert client.ping() and redis_server.running()  # SHUTDOWN did nothing
        client.set("k", "v")  # ordinary commands and Lua (RQ's) still work
        assert client.get("k") == b"v" and client.eval("return redis.call('GET', KEYS[1])", 1, "k") == b"v"
    finally:
        client.delete("k")
        client.close()
    assert "requirepass" not in redis_server.config_path.read_text()
    assert redis_server.password not in redis_server.config_path.read_text()  # only its SHA-256


def test_embedded_record_is_owner_only_and_found(tmp_path):
    home = tmp_path / "home"
    assert rs.running_server(home) is None
    server = rs.start_embedded(home)
    try:
        record = rs.record_path(home)
        assert stat.S_IMODE(record.stat().st_mode) == 0o600
        found = rs.running_server(home)
        assert found is not None and found.port == server.port and found.password == server.password
        assert found.pid == server.pid
    finally:
        server.stop()
    assert rs.running_server(home) is None
    assert rs.read_record(home) is not None  # the record stays: next start reuses port and password


def test_queued_data_survives_sigkill_and_restart_on_same_address(tmp_path):
    home = tmp_path / "home"
    server = rs.start_embedded(home)
    client = redis.Redis.from_url(server.url)
    client.rpush("rq:queue:gapviz", "job-1")
    # No wait: Redis writes the AOF before it answers; everysec only delays the fsync (a machine crash).
    old_port, old_password = server.port, server.password
    server.kill()
    again = rs.start_embedded(home)
    try:
        assert (again.port, again.password) == (old_port, old_password)
        assert redis.Redis.from_url(again.url).lrange("rq:queue:gapviz", 0, -1) == [b"job-1"]
    finally:
        again.stop()


def test_restart_keeps_address(tmp_path):
    server = rs.RedisServer(tmp_path / "data")
    server.start()
    try:
        url = server.url
        server.restart()
        assert server.url == url
        assert redis.Redis.from_url(url).ping()
    finally:
        server.stop()


def test_a_taken_port_is_reported(tmp_path):
    with rs.RedisServer(tmp_path / "a") as first:
        second = rs.RedisServer(tmp_path / "b", port=first.port)
        with pytest.raises(rs.RedisServerError, match="did not start"):
            second.start(timeout=5)
