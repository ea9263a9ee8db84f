"""What a server checks as it starts: a secret that outlives it, and a PubSub that spans its workers.

Phoenix refuses to start in production without `secret_key_base`; a random secret would
make every token die at the next restart, and a token signed by one worker process fail in
another. And each worker process has a PubSub of its own: without an adapter that crosses
processes (Redis), a broadcast reaches only the clients of the worker that sent it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import AsyncIterator

from .._runtime._pubsub import LocalAdapter
from .._runtime._runtime import Runtime

logger = logging.getLogger("pytest_channels")

NO_SECRET = (
    "ChannelsApp will not start without a token secret: a random one would make every token die "
    "at the next restart, and a token signed by one worker process fail in another. Set the "
    "SECRET_KEY_BASE environment variable (the same in every process), or pass "
    "Runtime(secret_key_base=...); make one with: "
    'python -c "import secrets; print(secrets.token_urlsafe(48))"'
)


class StartupError(Exception):
    """The server must not start as configured; the message says what to change."""


def worker_process() -> str | None:
    """How this process is one of several serving the same app, or None when nothing says so."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        return f"a worker process (pid {os.getpid()}) started by process {parent.pid}, as `--workers N` does"
    concurrency = os.environ.get("WEB_CONCURRENCY", "")
    if concurrency.isdigit() and int(concurrency) > 1:
        return f"one of WEB_CONCURRENCY={concurrency} worker processes"
    return None


def check(runtime: Runtime) -> None:
    """Refuse what would break in production; warn about what may.

    Raises:
        StartupError: the runtime's token secret is random (`Runtime.ephemeral_secret`).
    """
    if runtime.ephemeral_secret:
        raise StartupError(NO_SECRET)
    worker = worker_process()
    if worker is not None and isinstance(runtime.pubsub.adapter, LocalAdapter):
        logger.warning(
            "ChannelsApp serves in %s with a single-process PubSub: a broadcast reaches only the clients "
            "of the process that sends it. Give the runtime an adapter that crosses processes: "
            "Runtime(pubsub=PubSub(RedisAdapter(url))) (see docs/running-for-real.md, Production checklist)",
            worker,
        )


@contextlib.asynccontextmanager
async def adapter_connected(runtime: Runtime) -> AsyncIterator[None]:
    """Connect the PubSub's adapter for as long as the block runs, unless it is connected already."""
    adapter = runtime.pubsub.adapter
    connect = getattr(adapter, "connect", None)
    if connect is None or getattr(adapter, "connected", True):
        yield
        return
    async with connect(runtime.pubsub, clock=runtime.clock):
        yield
