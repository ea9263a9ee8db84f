"""A PubSub adapter that carries broadcasts between processes and machines through Redis pub/sub.

Every node publishes each broadcast once on one Redis channel shared by the application and
hands what it receives from the others to its own PubSub, as Phoenix's Redis adapter does:
at most once, no ack, no retry. One task publishes in the order `publish` was called, so one
publisher's broadcasts stay in order. When the server goes away the adapter says so (publish
raises `BrokerUnreachable`, which `Runtime.broadcast` returns as a `BroadcastError`) and
reconnects with backoff; what was published meanwhile is lost.

It speaks the Redis protocol itself, just enough of RESP2 for pub/sub (AUTH, SUBSCRIBE, PUBLISH
and their replies), over anyio, so it runs on asyncio and trio: redis-py's asyncio client runs
on asyncio only, and its blocking client would stall the event loop or need a thread per wait
that no cancel scope can stop. Here every wait can be cancelled and timed out on either
backend. A command is an array of bulk strings (``*2\\r\\n$4\\r\\nPING\\r\\n...``); a reply is a
simple string (``+``), an error (``-``), an integer (``:``), a bulk string (``$``, ``$-1`` for
none) or an array of replies (``*``).

On a virtual clock (a `VirtualTimeLoop`, trio's `MockClock`) every wait for Redis is a
`real_io` block: time waits for the server in real time, and its timeouts are real seconds,
so a silent server fails clearly instead of instantly or never.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import secrets
import socket
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._clock import Clock
from ._errors import BrokerUnreachable
from ._eventloop import real_io
from ._messages import Broadcast
from ._pubsub import PubSub

logger = logging.getLogger("pytest_channels")

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
        unix = parts.scheme == "unix"
        if not (parts.path if unix else parts.hostname):
            raise ValueError("no socket path" if unix else "no host")
        host, path = (None, parts.path) if unix else (parts.hostname, None)
        return cls(
            host, port, path, parts.scheme == "rediss", _unquote(parts.username) or None, _unquote(parts.password)
        )


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
        await self._stream.send(encode(*args))
        reply = await self.read()
        if isinstance(reply, RespError):
            raise reply
        return reply

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


# -- the adapter -------------------------------------------------------------------------------------

RECONNECT_AFTER = (0.05, 0.1, 0.2, 0.5, 1.0)
"""Seconds between reconnect attempts (then the last one, again and again)."""

_FAILURES = (*FAILURES, BrokerUnreachable)


def redact(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class RedisStatistics:
    """What the adapter did since it was made.

    Attributes:
        published: broadcasts handed to Redis.
        received: broadcasts from other nodes handed to the local PubSub.
        lost: broadcasts that could not be published (Redis was unreachable).
        reconnects: connections re-established after a failure.
    """

    published: int
    received: int
    lost: int
    reconnects: int


class RedisAdapter:
    """Broadcasts across processes and machines through Redis. Give it to `PubSub`, then connect it.

    Args:
        url: the server, as `redis://host:port/db` (`rediss://` for TLS, `unix://` for a socket).
        node_name: this node's name: the `origin` of its broadcasts. Unique per node; the host
            name and process id by default.
        channel: the Redis channel; every node of one application uses the same one.
        connect_timeout: seconds a connection attempt may take before it fails.
        reconnect_after: seconds between reconnect attempts, the last repeated.

    Raises:
        ValueError: a URL Redis would not understand (the message names it).

    Example:
        >>> adapter = RedisAdapter("redis://:secret@localhost:6379/0", node_name="web-1")
        >>> adapter
        <RedisAdapter redis://:***@localhost:6379/0 node='web-1' channel='pytest_channels' not connected>

    Run it next to the runtime::

        adapter = RedisAdapter("redis://localhost:6379/0", node_name="web-1")
        runtime = Runtime(pubsub=PubSub(adapter))
        async with adapter.connect(runtime.pubsub, clock=runtime.clock), runtime.serving():
            ...
    """

    def __init__(
        self,
        url: str,
        *,
        node_name: str | None = None,
        channel: str = "pytest_channels",
        connect_timeout: float = 2.0,
        reconnect_after: Sequence[float] = RECONNECT_AFTER,
    ) -> None:
        try:
            if not isinstance(url, str):
                raise ValueError("not a str")
            self._address = Address.parse(url)
        except ValueError:
            raise ValueError(f"not a Redis URL: {redact(str(url))!r}; expected redis://host:port/db") from None
        if not (isinstance(connect_timeout, (int, float)) and math.isfinite(connect_timeout) and connect_timeout > 0):
            raise ValueError(f"connect_timeout must be a number of seconds > 0 (got {connect_timeout!r})")
        if not reconnect_after or any(not (isinstance(s, (int, float)) and s >= 0) for s in reconnect_after):
            raise ValueError(f"reconnect_after must be seconds >= 0, at least one (got {reconnect_after!r})")
        self.url = url
        self.node_name = node_name or f"{socket.gethostname()}:{os.getpid()}"
        self.channel = channel
        self.connect_timeout = float(connect_timeout)
        self.reconnect_after = tuple(float(s) for s in reconnect_after)
        self._instance = secrets.token_hex(8)  # tells its own messages apart, whatever the node names
        self._pubsub: PubSub | None = None
        self._clock: Clock | None = None
        self._outbox: MemoryObjectSendStream[bytes] | None = None
        self._listener: RespConnection | None = None
        self._publisher: RespConnection | None = None
        self._up = anyio.Event()  # set while connected
        self._published = self._received = self._lost = self._reconnects = 0

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<RedisAdapter {redact(self.url)} node={self.node_name!r} channel={self.channel!r} {state}>"

    @property
    def connected(self) -> bool:
        """Whether the adapter is subscribed and can publish now."""
        return self._up.is_set()

    def statistics(self) -> RedisStatistics:
        return RedisStatistics(self._published, self._received, self._lost, self._reconnects)

    # -- PubSubAdapter ---------------------------------------------------------------------------

    def publish(self, broadcast: Broadcast) -> None:
        """Queue the broadcast for the other nodes (fire and forget).

        Raises:
            BrokerUnreachable: the adapter is not connected (never was, or Redis went away):
                the broadcast is lost, as at-most-once delivery allows; the runtime returns
                this as a `BroadcastError`.
        """
        self._send(broadcast, None)

    def direct_publish(self, node_name: str, broadcast: Broadcast) -> None:
        """Queue the broadcast for the node named `node_name` only (`runtime.direct_broadcast`).

        It travels on the application's one channel, and only that node delivers it: the
        others read and drop it. Phoenix's Redis adapter gives each node a channel of its
        own instead; what each node's subscribers receive is the same. A name no node has is
        not an error, as in Phoenix: nobody delivers it.

        Raises:
            BrokerUnreachable: as `publish`.
        """
        self._send(broadcast, node_name)

    def _send(self, broadcast: Broadcast, to: str | None) -> None:
        if self._outbox is None:
            raise BrokerUnreachable(
                f"the Redis adapter for {redact(self.url)} is not connected: "
                "run the runtime inside `async with adapter.connect(pubsub):`"
            )
        if not self.connected:
            self._lost += 1
            raise BrokerUnreachable(f"Redis at {redact(self.url)} is unreachable (reconnecting); the broadcast is lost")
        message = {
            "node": self.node_name,
            "instance": self._instance,
            "topic": broadcast.topic,
            "event": broadcast.event,
            "payload": broadcast.payload,
        }
        if to is not None:
            message["to"] = to
        self._outbox.send_nowait(json.dumps(message).encode())

    # -- running -----------------------------------------------------------------------------------

    @asynccontextmanager
    async def connect(self, pubsub: PubSub, *, clock: Clock | None = None) -> AsyncIterator[RedisAdapter]:
        """Connect, subscribe, and carry broadcasts until the block exits.

        Args:
            pubsub: the PubSub this adapter belongs to; what other nodes broadcast goes to it.
            clock: stamps received broadcasts with its time (the runtime's clock), if given.

        Raises:
            BrokerUnreachable: Redis could not be reached within `connect_timeout` (the message
                names the URL and what went wrong).
        """
        if self._pubsub is not None:
            raise RuntimeError(f"{self!r} is already connected")
        if pubsub.adapter is not self:
            raise ValueError("connect(pubsub) takes the PubSub this adapter was given to: PubSub(adapter)")
        self._listener = await self._subscribe()
        outbox, inbox = anyio.create_memory_object_stream[bytes](math.inf)
        self._pubsub, self._clock, self._outbox = pubsub, clock, outbox
        self._set_connected(True)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._listen)
                tg.start_soon(self._publish_all, inbox)
                try:
                    yield self
                finally:
                    tg.cancel_scope.cancel()
        finally:
            self._set_connected(False)
            self._pubsub = self._clock = self._outbox = None
            outbox.close()
            inbox.close()
            await self._drop(listener=True)

    async def wait_connected(self, timeout: float) -> None:
        """Wait (in real time, on a virtual clock too) until the adapter is connected, for example after
        Redis restarted.

        Raises:
            BrokerUnreachable: still not connected after `timeout` seconds.
        """
        with real_io(timeout), anyio.move_on_after(timeout):
            while not self.connected:  # connected, and perhaps lost again before this wait woke
                await self._up.wait()
            return
        raise BrokerUnreachable(f"Redis at {redact(self.url)} was still unreachable after {timeout}s")

    # -- internals -------------------------------------------------------------------------------

    async def _subscribe(self) -> RespConnection:
        """A new connection subscribed to the channel: only once Redis confirms is the subscription
        live, so what others publish from now on arrives."""
        try:
            with real_io(self.connect_timeout), anyio.fail_after(self.connect_timeout):
                connection = await RespConnection.open(self._address)
                try:
                    await connection.command("SUBSCRIBE", self.channel)  # its reply is the confirmation
                    return connection
                except BaseException:
                    await connection.aclose()
                    raise
        except FAILURES as exc:
            raise BrokerUnreachable(
                f"could not connect to Redis at {redact(self.url)} within {self.connect_timeout:g}s: {_why(exc)}"
            ) from exc

    def _set_connected(self, connected: bool) -> None:
        if connected:
            self._up.set()
        elif self._up.is_set():  # an event not yet set stays: whoever waits for the connection waits on it
            self._up = anyio.Event()

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                if self._listener is None:
                    self._listener = await self._subscribe()
                    self._reconnects += 1
                    self._set_connected(True)
                    logger.info("Redis adapter %s reconnected to %s", self.node_name, redact(self.url))
                    failures = 0
                while True:  # waiting for the next message is no wait for a reply: time may move meanwhile
                    message = await self._listener.read()
                    if isinstance(message, list) and len(message) == 3 and message[0] == b"message":
                        self._receive(message[2])
            except _FAILURES as exc:
                if not failures:
                    logger.warning("Redis adapter %s lost %s: %s", self.node_name, redact(self.url), _why(exc))
                self._set_connected(False)
                # The publishing connection went with the server: publishing on it would lose the next broadcast.
                await self._drop(listener=True)
                delay = self.reconnect_after[min(failures, len(self.reconnect_after) - 1)]
                failures += 1
                with real_io(delay):
                    await anyio.sleep(delay)  # real-time: the backoff between attempts on a real server

    async def _publish_all(self, inbox: MemoryObjectReceiveStream[bytes]) -> None:
        async for data in inbox:
            try:
                with real_io(self.connect_timeout), anyio.fail_after(self.connect_timeout):
                    if self._publisher is None:
                        self._publisher = await RespConnection.open(self._address)
                    await self._publisher.command("PUBLISH", self.channel, data)
                self._published += 1
            except FAILURES as exc:
                self._lost += 1
                logger.warning("Redis adapter %s lost a broadcast: %s", self.node_name, _why(exc))
                await self._drop(listener=False)

    async def _drop(self, *, listener: bool) -> None:
        """Close the publishing connection, and the subscribed one too if `listener`."""
        dropped = [self._publisher, self._listener if listener else None]
        self._publisher = None
        if listener:
            self._listener = None
        for connection in dropped:
            if connection is not None:
                await connection.aclose()

    def _receive(self, data: bytes) -> None:
        try:
            message = json.loads(data)
            if message["instance"] == self._instance:
                return  # its own: local subscribers had it already
            if message.get("to", self.node_name) != self.node_name:
                return  # a direct broadcast to another node
            at_ns = self._clock.now_ns() if self._clock is not None else 0
            broadcast = Broadcast(message["topic"], message["event"], message["payload"], at_ns, message["node"])
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("Redis adapter %s ignored a message it cannot read: %r (%s)", self.node_name, data, exc)
            return
        self._received += 1
        if self._pubsub is not None:
            self._pubsub.local_broadcast(broadcast)


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
