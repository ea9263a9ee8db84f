"""What a server admits, and how fast: the checks every transport makes before and while it serves.

`Admission` decides at the door (the origin, the number of connections, the size of the
connect params) and says how to refuse on the wire; `Rate` counts a connection's messages.
Both know nothing about WebSockets: a transport asks them, then refuses in its own way.

The origin check is Phoenix's `check_origin`. A browser sends an `Origin` header with every
WebSocket (and cross-site) request; it is the one thing that tells a page of another site,
riding on the visitor's cookies, from ours. Phoenix checks it by default against the
endpoint's host, and so do we, against the host the request was addressed to. A request
without an `Origin` is not a browser's cross-site request (node, Python clients, curl):
Phoenix lets it through, and so do we.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

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


# -- the origin check -------------------------------------------------------------------------------

CheckOrigin = bool | Sequence[str] | Callable[[str], bool]
"""True (the request's own host), False (no check), origins such as `["https://example.com",
"//other.com", "https://*.example.com"]`, or a function of the `Origin` header's value."""

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True)
class _Allowed:
    """One allowed origin; None in a field matches anything, as Phoenix's nil does."""

    scheme: str | None
    host: str | None
    port: int | None

    def matches(self, scheme: str | None, host: str, port: int | None) -> bool:
        if self.scheme is not None and scheme != self.scheme:
            return False
        if self.port is not None and port != self.port:
            return False
        if self.host is None:
            return True
        if self.host.startswith("*."):
            return host == self.host[2:] or host.endswith(self.host[1:])
        return host == self.host


def _split(origin: str) -> tuple[str | None, str | None, int | None]:
    """(scheme, host, port) of an origin, the port filled in from the scheme as URI.parse does."""
    try:
        parts = urllib.parse.urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None, None, None
    scheme = parts.scheme.lower() or None
    if port is None and scheme is not None:
        port = _DEFAULT_PORTS.get(scheme)
    return scheme, parts.hostname or None, port


class OriginCheck:
    """Decides whether a request's `Origin` header may connect.

    Args:
        check_origin: see `CheckOrigin`.

    Raises:
        ValueError: a listed origin without a host (the message shows the forms that work).
        TypeError: something that is none of the accepted kinds.

    Example:
        >>> check = OriginCheck(["https://example.com", "//*.example.org"])
        >>> check.allows("https://example.com", host="ignored"), check.allows("http://example.com", host="")
        (True, False)
        >>> check.allows("https://a.example.org:8443", host=""), check.allows(None, host="")
        (True, True)
        >>> OriginCheck(True).allows("http://evil.example", host="chat.example:4000")
        False
    """

    def __init__(self, check_origin: CheckOrigin) -> None:
        self._function: Callable[[str], bool] | None = None
        self._allowed: list[_Allowed] | None = None
        self.enabled = check_origin is not False
        if isinstance(check_origin, bool):
            pass
        elif isinstance(check_origin, str):
            raise TypeError(f"check_origin must be a list of origins, not one string (got {check_origin!r})")
        elif callable(check_origin):
            self._function = check_origin
        elif isinstance(check_origin, Sequence):
            self._allowed = [self._parse(origin) for origin in check_origin]
        else:
            raise TypeError(f"check_origin must be True, False, a list of origins or a function (got {check_origin!r})")

    @staticmethod
    def _parse(origin: object) -> _Allowed:
        scheme, host, port = _split(origin) if isinstance(origin, str) else (None, None, None)
        if host is None:
            raise ValueError(
                f"check_origin: {origin!r} is not an origin with a host; write them as "
                '"https://example.com", "//another.com:888", "//other.com" or "https://*.example.com"'
            )
        return _Allowed(scheme, host, port)

    def allows(self, origin: str | None, *, host: str | None) -> bool:
        """Whether a request with this `Origin` header, addressed to `host` (its Host header), may connect."""
        if origin is None or not self.enabled:
            return True
        if self._function is not None:
            return bool(self._function(origin))
        scheme, origin_host, port = _split(origin)
        if origin_host is None:  # "null" (a sandboxed page, a file://) has no host to trust
            return False
        if self._allowed is not None:
            return any(allowed.matches(scheme, origin_host, port) for allowed in self._allowed)
        _, request_host, _ = _split(f"//{host or ''}")
        return request_host is not None and origin_host == request_host
