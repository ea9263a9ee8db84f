"""A PubSub adapter that carries broadcasts between processes and machines through Redis pub/sub.

Every node publishes each broadcast once on one Redis channel shared by the application and
hands what it receives from the others to its own PubSub, as Phoenix's Redis adapter does:
at most once, no ack, no retry. One task publishes in the order `publish` was called, so one
publisher's broadcasts stay in order. When the server goes away the adapter says so (publish
raises `BrokerUnreachable`, which `Runtime.broadcast` returns as a `BroadcastError`) and
reconnects with backoff; what was published meanwhile is lost.

It needs the asyncio event loop (redis-py's client is asyncio only).
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import socket
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc
import redis.asyncio as aioredis
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from redis.exceptions import RedisError

from ._clock import Clock
from ._errors import BrokerUnreachable
from ._messages import Broadcast
from ._pubsub import PubSub

logger = logging.getLogger("pytest_channels")

RECONNECT_AFTER = (0.05, 0.1, 0.2, 0.5, 1.0)
"""Seconds between reconnect attempts (then the last one, again and again)."""

_SCHEMES = ("redis", "rediss", "unix")
_FAILURES = (RedisError, OSError, TimeoutError)


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
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in _SCHEMES:
            raise ValueError(f"not a Redis URL: {redact(str(url))!r}; expected redis://host:port/db")
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
        self._listener: Any = None
        self._connected = False
        self._up = anyio.Event()
        self._published = self._received = self._lost = self._reconnects = 0

    def __repr__(self) -> str:
        state = "connected" if self._connected else "not connected"
        return f"<RedisAdapter {redact(self.url)} node={self.node_name!r} channel={self.channel!r} {state}>"

    @property
    def connected(self) -> bool:
        """Whether the adapter is subscribed and can publish now."""
        return self._connected

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
        if self._outbox is None:
            raise BrokerUnreachable(
                f"the Redis adapter for {redact(self.url)} is not connected: "
                "run the runtime inside `async with adapter.connect(pubsub):`"
            )
        if not self._connected:
            self._lost += 1
            raise BrokerUnreachable(f"Redis at {redact(self.url)} is unreachable (reconnecting); the broadcast is lost")
        message = {
            "node": self.node_name,
            "instance": self._instance,
            "topic": broadcast.topic,
            "event": broadcast.event,
            "payload": broadcast.payload,
        }
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
        client = self._client()
        self._listener = client.pubsub()
        try:
            await self._subscribe(self._listener)
        except BaseException:
            await _close(self._listener, client)
            raise
        outbox, inbox = anyio.create_memory_object_stream[bytes](math.inf)
        self._pubsub, self._clock, self._outbox = pubsub, clock, outbox
        self._set_connected(True)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._listen, client)
                tg.start_soon(self._publish_all, client, inbox)
                try:
                    yield self
                finally:
                    tg.cancel_scope.cancel()
        finally:
            self._set_connected(False)
            self._pubsub = self._clock = self._outbox = None
            outbox.close()
            inbox.close()
            with anyio.CancelScope(shield=True):
                await _close(self._listener, client)

    async def wait_connected(self, timeout: float) -> None:
        """Wait (in real time) until the adapter is connected, for example after Redis restarted.

        Raises:
            BrokerUnreachable: still not connected after `timeout` seconds.
        """
        with anyio.move_on_after(timeout):
            while not self._connected:
                await self._up.wait()
            return
        raise BrokerUnreachable(f"Redis at {redact(self.url)} was still unreachable after {timeout}s")

    # -- internals -------------------------------------------------------------------------------

    def _client(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self.connect_timeout,
            health_check_interval=max(self.connect_timeout, 1.0),
        )

    async def _subscribe(self, listener: Any) -> None:
        try:
            with anyio.fail_after(self.connect_timeout):
                await listener.subscribe(self.channel)
                while True:  # only once Redis confirms is the subscription live: what others publish now arrives
                    confirmed = await listener.get_message(timeout=self.connect_timeout)
                    if confirmed is not None and confirmed.get("type") == "subscribe":
                        break
        except (*_FAILURES, TimeoutError) as exc:
            raise BrokerUnreachable(
                f"could not connect to Redis at {redact(self.url)} within {self.connect_timeout:g}s: {_why(exc)}"
            ) from exc

    def _set_connected(self, connected: bool) -> None:
        self._connected = connected
        if connected:
            self._up.set()
        else:
            self._up = anyio.Event()

    async def _listen(self, client: aioredis.Redis) -> None:
        failures = 0
        while True:
            listener = self._listener
            try:
                if failures:
                    await self._subscribe(listener)
                    self._reconnects += 1
                    self._set_connected(True)
                    logger.info("Redis adapter %s reconnected to %s", self.node_name, redact(self.url))
                    failures = 0
                async for message in listener.listen():
                    if message.get("type") == "message":
                        self._receive(message["data"])
            except (*_FAILURES, BrokerUnreachable) as exc:
                if not failures:
                    logger.warning("Redis adapter %s lost %s: %s", self.node_name, redact(self.url), _why(exc))
                self._set_connected(False)
                await _close(listener)
                # Every pooled connection went with the server: publishing on one would lose the next broadcast.
                with suppress(*_FAILURES):
                    await client.connection_pool.disconnect()
                self._listener = client.pubsub()
                delay = self.reconnect_after[min(failures, len(self.reconnect_after) - 1)]
                failures += 1
                await anyio.sleep(delay)  # real-time: the backoff between attempts on a real server

    async def _publish_all(self, client: aioredis.Redis, inbox: MemoryObjectReceiveStream[bytes]) -> None:
        async for data in inbox:
            try:
                with anyio.fail_after(self.connect_timeout):
                    await client.publish(self.channel, data)
                self._published += 1
            except _FAILURES as exc:
                self._lost += 1
                logger.warning("Redis adapter %s lost a broadcast: %s", self.node_name, _why(exc))

    def _receive(self, data: bytes) -> None:
        try:
            message = json.loads(data)
            if message["instance"] == self._instance:
                return  # its own: local subscribers had it already
            at_ns = self._clock.now_ns() if self._clock is not None else 0
            broadcast = Broadcast(message["topic"], message["event"], message["payload"], at_ns, message["node"])
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("Redis adapter %s ignored a message it cannot read: %r (%s)", self.node_name, data, exc)
            return
        self._received += 1
        if self._pubsub is not None:
            self._pubsub.local_broadcast(broadcast)


async def _close(*closables: Any) -> None:
    for closing in (closable.aclose for closable in closables):
        with suppress(*_FAILURES):
            await closing()


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
