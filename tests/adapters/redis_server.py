"""A real redis-server for the adapter tests, started by the tests themselves on a free loopback port.

When no server can be started the Redis tests are skipped with the reason, except in CI
(`CI=true`), where they fail: CI installs Debian's redis-server and must run them. Test
modules make their fixtures with `running_redis` (a conftest here would clash with
tests/plugin/conftest.py as a module name for mypy).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

READY_WITHIN = 10.0
"""Real seconds a starting redis-server has to accept connections."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process of our own: no persistence, loopback only, in a temporary directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
        log = self.directory / f"redis-{self.port}.log"
        arguments = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        arguments += ["--dir", str(self.directory), "--logfile", str(log), "--daemonize", "no"]
        self.process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_WITHIN
        while not _ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                text = log.read_text() if log.exists() else "(no log)"
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{text[-2000:]}")
            time.sleep(0.02)  # real-time: a real server takes a moment to accept connections

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # abrupt, like a crash: clients see their connections drop
            self.process.wait(timeout=10)
        self.process = None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the Redis tests, but {reason}", pytrace=False)
    pytest.skip(f"no Redis server could be started: {reason}")


def _started(directory: Path) -> RedisServer:
    server = RedisServer(directory)
    try:
        server.start()
    except RuntimeError as exc:
        _unavailable(str(exc))
    return server


@contextlib.contextmanager
def running_redis(directory: Path) -> Iterator[RedisServer]:
    """A started redis-server, stopped afterwards; skips (or fails, in CI) when none can start."""
    server = RedisServer(directory)
    try:
        server.start()
    except RuntimeError as exc:
        _unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()
