"""Log lines an operator can use: ours with their level, time and name, and no tokens in anyone's.

An ASGI server configures its own loggers only: uvicorn's default leaves the root logger
without a handler, so our records would fall to Python's last-resort handler, which prints
the bare message. And connect params travel in the URL, so a server's access log records
whatever token a client put there.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

LOGGER_NAME = "pytest_channels"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

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
