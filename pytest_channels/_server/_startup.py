"""What a server checks and sets up as it starts: a secret that outlives it, a PubSub that spans its
workers, and log lines an operator can use.

Phoenix refuses to start in production without `secret_key_base`; a random secret would
make every token die at the next restart, and a token signed by one worker process fail in
another. And each worker process has a PubSub of its own: without an adapter that crosses
processes (Redis), a broadcast reaches only the clients of the worker that sent it.

Log lines: an ASGI server configures its own loggers only (uvicorn's default leaves the root
logger without a handler, so our records would fall to Python's last-resort handler, which
prints the bare message); and connect params travel in the URL, so a server's access log
records whatever token a client put there.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import re
import sys
from collections.abc import AsyncIterator, Iterable

from .._runtime._pubsub import LocalAdapter
from .._runtime._runtime import Runtime

LOGGER_NAME = "pytest_channels"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
logger = logging.getLogger(LOGGER_NAME)

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


# -- log lines -----------------------------------------------------------------------------------------

# A query string value: what follows `name=` up to the next `&`, space, quote or the end.
_QUERY_VALUE = re.compile(r"([?&][^=&\s\"']+=)[^&\s\"']*")
_KEEP = frozenset({"vsn"})  # the protocol version: useful, and never a secret


def ensure_handler() -> None:
    """Give our logger a handler when nothing would print its records properly.

    Nothing is added when the application (or pytest) configured logging: then our records go
    where it says.
    """
    logger = logging.getLogger(LOGGER_NAME)
    if logger.hasHandlers():
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def redact_query(text: str) -> str:
    """`text` with every query string value replaced by `***`, except `vsn`.

    Example:
        >>> redact_query('127.0.0.1:5000 - "WebSocket /socket/websocket?token=SFMyNTY.abc&vsn=2.0.0" [accepted]')
        '127.0.0.1:5000 - "WebSocket /socket/websocket?token=***&vsn=2.0.0" [accepted]'
    """

    def hide(match: re.Match[str]) -> str:
        name = match.group(1)
        return match.group(0) if name[1:-1] in _KEEP else f"{name}***"

    return _QUERY_VALUE.sub(hide, text) if "?" in text else text


class RedactQuery(logging.Filter):
    """A logging filter that keeps connect params (tokens) out of a server's log lines.

    Install it on the loggers that print URLs, uvicorn's for example:
    `install_redaction(["uvicorn.access", "uvicorn.error"])`.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_query(record.msg)
        return True


def install_redaction(loggers: Iterable[str] = ("uvicorn.access", "uvicorn.error")) -> RedactQuery:
    """Put one `RedactQuery` on each named logger (uvicorn's two by default); returns it."""
    redaction = RedactQuery()
    for name in loggers:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQuery) for f in logger.filters):
            logger.addFilter(redaction)
    return redaction
