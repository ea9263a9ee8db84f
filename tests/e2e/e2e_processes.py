"""uvicorn run as an operator runs it: its own command line, in its own processes, its log in a file.

The servers in e2e_servers.py run in a thread of the test process, under pytest's logging;
these do not, so what they print is what an operator's terminal shows.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from e2e_servers import WAIT

ROOT = Path(__file__).parents[2]
STARTUP = 30.0
"""Real seconds a server process (and its workers, each importing the app) has to start."""


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    address: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, within: float = WAIT, count: int = 1) -> str:
        """Wait until the output holds `text` (`count` times); the output."""
        pause = threading.Event()
        deadline = time.monotonic() + within
        while (output := self.output()).count(text) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {text!r} in the server's output after {within}s:\n{output[-3000:]}")
            pause.wait(0.05)  # real-time: polling another process's log
        return output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def uvicorn_process(
    app: str, app_dir: Path, log: Path, *, env: Mapping[str, str], args: Sequence[str] = ()
) -> Iterator[Served]:
    """`python -m uvicorn <app> --app-dir <app_dir> --host 127.0.0.1 --port <free> <args>`, from the
    repository root, with `env` on top of a clean environment (no inherited SECRET_KEY_BASE)."""
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY_BASE", "WEB_CONCURRENCY")}
    environment.update(env)
    command = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(app_dir), "--host", "127.0.0.1"]
    command += ["--port", str(port), *args]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)
    served = Served(process, f"127.0.0.1:{port}", log)
    try:
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # what Ctrl+C does: uvicorn shuts its workers down
            try:
                process.wait(timeout=STARTUP)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=WAIT)


def wait_for_exit(served: Served, within: float = STARTUP) -> int:
    """The exit code of a server that is expected to stop by itself."""
    return served.process.wait(timeout=within)
