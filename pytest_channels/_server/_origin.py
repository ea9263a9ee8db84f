"""Which pages may open a connection: Phoenix's `check_origin`, for any transport.

A browser sends an `Origin` header with every WebSocket (and cross-site) request; it is the
one thing that tells a page of another site, riding on the visitor's cookies, from ours.
Phoenix checks it by default against the endpoint's host, and so do we, against the host the
request was addressed to. A request without an `Origin` is not a browser's cross-site request
(node, Python clients, curl): Phoenix lets it through, and so do we.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
