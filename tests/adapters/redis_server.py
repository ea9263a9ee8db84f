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


class _PortTaken(Exception):
    """Another process bound the port between our probe and the server's start."""


def _server_pid(port: int) -> int | None:
    """The process id of the Redis server on `port` (from INFO), or None when none answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"INFO server\r\n")
            reply = b""
            while b"process_id:" not in reply or not reply.endswith(b"\r\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    return None
                reply += chunk
    except OSError:
        return None
    line = reply.split(b"process_id:", 1)[1].split(b"\r\n", 1)[0]
    return int(line) if line.isdigit() else None


class RedisServer:
    """One redis-server process of our own: no persistence, loopback only, in a temporary directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.started_once = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server; a restart keeps the port, a first start moves on if another took it."""
        attempts = 1 if self.started_once else 5
        for attempt in range(attempts):
            try:
                self._start_once()
            except _PortTaken:
                if attempt + 1 == attempts:
                    raise RuntimeError(f"redis-server could not bind port {self.port}: it was taken") from None
                self.port = _free_port()
            else:
                self.started_once = True
                return

    def _start_once(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
        log = self.directory / f"redis-{self.port}.log"
        arguments = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        arguments += ["--dir", str(self.directory), "--logfile", str(log), "--daemonize", "no"]
        process = self.process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_WITHIN
        # Ours is up when the server on the port reports our process id: under xdist another
        # worker's server may hold a port for a moment, and a ping alone would not tell them apart.
        while _server_pid(self.port) != process.pid:
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                text = log.read_text() if log.exists() else "(no log)"
                if "Address already in use" in text:
                    raise _PortTaken
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{text[-2000:]}")
            time.sleep(0.02)  # real-time: a real server takes a moment to accept connections

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # abrupt, like a crash: clients see their connections drop
            self.process.wait(timeout=10)
        self.process = None


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the Redis tests, but {reason}", pytrace=False)
    pytest.skip(f"no Redis server could be started: {reason}")


def _started(directory: Path) -> RedisServer:
    server = RedisServer(directory)
    try:
        server.start()
    except RuntimeError as exc:
        unavailable(str(exc))
    return server


@contextlib.contextmanager
def running_redis(directory: Path) -> Iterator[RedisServer]:
    """A started redis-server, stopped afterwards; skips (or fails, in CI) when none can start."""
    server = RedisServer(directory)
    try:
        server.start()
    except RuntimeError as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()
