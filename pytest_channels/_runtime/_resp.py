"""Just enough of the Redis protocol (RESP2) for pub/sub, over anyio streams: asyncio and trio alike.

The Redis adapter needs four commands (AUTH, SUBSCRIBE, PUBLISH and the replies to them).
redis-py's asyncio client runs on asyncio only, and its blocking client would stall the
event loop or need a thread per wait that no cancel scope can stop; so this module speaks
the protocol itself, on `anyio.connect_tcp` (TLS included) and `anyio.connect_unix`, where
every wait can be cancelled and timed out on either backend.

The protocol: a command is an array of bulk strings (``*2\\r\\n$4\\r\\nPING\\r\\n...``); a
reply is a simple string (``+``), an error (``-``), an integer (``:``), a bulk string
(``$``, ``$-1`` for none) or an array of replies (``*``).
"""

from __future__ import annotations

import contextlib
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

_MAX_LINE = 64 * 1024  # a header line (a type and a length), never a payload
_SCHEMES = ("redis", "rediss", "unix")


class RespError(Exception):
    """The server answered with an error (``-ERR ...``), or with bytes that are not RESP."""


FAILURES = (
    OSError,  # refused, unreachable, unknown host, TLS (ssl.SSLError is one)
    TimeoutError,
    anyio.EndOfStream,
    anyio.IncompleteRead,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.DelimiterNotFound,
    RespError,
)
"""What a connection raises when the server or the network fails, or the server refuses."""


@dataclass(frozen=True)
class Address:
    """Where a Redis server is and how to log in, from a URL.

    Attributes:
        host, port: for `redis://` and `rediss://` (TLS).
        path: the socket file for `unix://`.
        tls: whether to speak TLS (`rediss://`).
        username, password: for AUTH, when the URL has them.
    """

    host: str | None
    port: int
    path: str | None
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> Address:
        """Read `redis://[user:password@]host[:port][/db]`, `rediss://...` or `unix://[:password@]/path`.

        The database number is accepted and unused: Redis pub/sub channels are the same in
        every database.

        Raises:
            ValueError: not a URL of those forms.
        """
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in _SCHEMES:
            raise ValueError("unknown scheme")
        try:
            port = parts.port or 6379
        except ValueError:
            raise ValueError("bad port") from None
        if parts.scheme == "unix":
            if not parts.path:
                raise ValueError("no socket path")
            return cls(None, port, parts.path, False, parts.username or None, _unquote(parts.password))
        if not parts.hostname:
            raise ValueError("no host")
        username = _unquote(parts.username) or None
        return cls(parts.hostname, port, None, parts.scheme == "rediss", username, _unquote(parts.password))


def _unquote(value: str | None) -> str | None:
    return None if value is None else urllib.parse.unquote(value)


class RespConnection:
    """One connection to a Redis server. Open it with `RespConnection.open(address)`."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream
        self._buffered = BufferedByteReceiveStream(stream)

    @classmethod
    async def open(cls, address: Address) -> RespConnection:
        """Connect and log in (AUTH) when the address has a password.

        Raises:
            OSError: the server could not be reached.
            RespError: it refused the login.
        """
        stream: anyio.abc.ByteStream
        if address.path is not None:
            stream = await anyio.connect_unix(address.path)
        else:
            assert address.host is not None
            if address.tls:
                context = ssl.create_default_context()
                stream = await anyio.connect_tcp(address.host, address.port, ssl_context=context)
            else:
                stream = await anyio.connect_tcp(address.host, address.port)
        connection = cls(stream)
        try:
            if address.password is not None:
                login = (address.username, address.password) if address.username else (address.password,)
                await connection.command("AUTH", *login)
        except BaseException:
            await connection.aclose()
            raise
        return connection

    async def command(self, *args: str | bytes) -> Any:
        """Send one command and return its reply.

        Raises:
            RespError: the reply is an error.
        """
        await self.send(*args)
        reply = await self.read()
        if isinstance(reply, RespError):
            raise reply
        return reply

    async def send(self, *args: str | bytes) -> None:
        """Send one command without waiting for a reply (as after SUBSCRIBE, whose replies are pushes)."""
        await self._stream.send(encode(*args))

    async def read(self) -> Any:
        """The next reply: str, int, bytes, None, a list of replies, or a `RespError` (returned, not raised)."""
        line = await self._buffered.receive_until(b"\r\n", _MAX_LINE)
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode(errors="replace"))
        if kind in (b":", b"$", b"*"):
            try:
                number = int(rest)
            except ValueError:
                raise RespError(f"not a Redis reply: {line[:80]!r}") from None
            if kind == b":":
                return number
            if number < 0:
                return None
            if kind == b"$":
                return (await self._buffered.receive_exactly(number + 2))[:-2]
            return [await self.read() for _ in range(number)]
        raise RespError(f"not a Redis reply: {line[:80]!r}")

    async def aclose(self) -> None:
        """Close the connection; failures while closing are ignored (the connection is gone either way)."""
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(*FAILURES):
                await self._stream.aclose()


def encode(*args: str | bytes) -> bytes:
    """A command as RESP: an array of bulk strings.

    Example:
        >>> encode("PUBLISH", "room", b"hi")
        b'*3\\r\\n$7\\r\\nPUBLISH\\r\\n$4\\r\\nroom\\r\\n$2\\r\\nhi\\r\\n'
    """
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)
