"""What a server admits, and how fast: the checks every transport makes before and while it serves.

`Admission` decides at the door (the origin, the number of connections, the size of the
connect params) and says how to refuse on the wire; `Rate` counts a connection's messages.
Both know nothing about WebSockets: a transport asks them, then refuses in its own way.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from ._origin import CheckOrigin, OriginCheck

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_REFUSED = 1008  # a close before accept: the server answers the upgrade with HTTP 403


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused, and the HTTP status that says so."""

    status: int
    reason: str


class Admission:
    """The door of a server: who may connect, and how many at once.

    Args:
        check_origin: see `CheckOrigin` (True: the request's own host).
        max_connections: connections served at once; None for no limit.
        max_params_size: bytes the query string (the connect params) may have.

    Example:
        >>> door = Admission(check_origin=True, max_connections=1, max_params_size=100)
        >>> scope = {"headers": [(b"host", b"chat.example"), (b"origin", b"https://evil.example")]}
        >>> door.check(scope, open_connections=0)
        Refusal(status=403, reason="origin 'https://evil.example' is not allowed (check_origin)")
        >>> door.check({"query_string": b"vsn=2.0.0"}, open_connections=1).status
        503
    """

    def __init__(self, *, check_origin: CheckOrigin, max_connections: int | None, max_params_size: int) -> None:
        if max_connections is not None and (not isinstance(max_connections, int) or max_connections < 1):
            raise ValueError(f"max_connections must be an int >= 1 or None (got {max_connections!r})")
        if not isinstance(max_params_size, int) or max_params_size < 1:
            raise ValueError(f"max_params_size must be an int >= 1 (got {max_params_size!r})")
        self.origins = OriginCheck(check_origin)
        self.max_connections = max_connections
        self.max_params_size = max_params_size

    def check(self, scope: Scope, *, open_connections: int) -> Refusal | None:
        """The refusal for this request, or None when it may go on to `connect`."""
        origin = header(scope, b"origin")
        if not self.origins.allows(origin, host=header(scope, b"host")):
            return Refusal(403, f"origin {origin!r} is not allowed (check_origin)")
        if self.max_connections is not None and open_connections >= self.max_connections:
            return Refusal(503, f"{self.max_connections} connections are open already (max_connections)")
        size = len(scope.get("query_string", b""))
        if size > self.max_params_size:
            return Refusal(414, f"connect params of {size} bytes, over max_params_size ({self.max_params_size})")
        return None


async def refuse_websocket(scope: Scope, send: Send, status: int) -> None:
    """Refuse a WebSocket before accepting it: with `status` where the server can, else with 403."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": b""})
    else:
        await send({"type": "websocket.close", "code": _REFUSED})


class Rate:
    """A token bucket: `per_second` messages a second on average, bursts of as many.

    Example:
        >>> rate = Rate(2)
        >>> [rate.allow(now) for now in (0.0, 0.0, 0.0, 0.5, 0.5)]
        [True, True, False, True, False]
    """

    def __init__(self, per_second: float) -> None:
        if not (isinstance(per_second, (int, float)) and math.isfinite(per_second) and per_second > 0):
            raise ValueError(f"max_messages_per_second must be a finite number > 0 or None (got {per_second!r})")
        self.per_second = float(per_second)
        self._tokens = self._burst = max(1.0, self.per_second)
        self._at: float | None = None

    def allow(self, now: float) -> bool:
        """Take one message at `now` (seconds on any monotonic clock); False when over the rate."""
        if self._at is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the request header `name` (lower case), or None."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
