"""An ASGI application that serves socket handlers over WebSocket, speaking Phoenix's V2 protocol.

No web framework is needed: any ASGI server with WebSocket support runs it (uvicorn and
hypercorn are tested). The runtime serves for as long as the application's lifespan lasts,
so the server must run the ASGI lifespan protocol (uvicorn and hypercorn do by default).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine, Mapping, MutableMapping
from typing import Any

import anyio
import anyio.abc

import pytest_channels._server._startup as _startup

from .._runtime._errors import BrokerUnreachable
from .._runtime._eventloop import running_trio
from .._runtime._results import Error
from .._runtime._runner import Resume
from .._runtime._runtime import Runtime
from .._runtime._socket import SocketHandler
from ._drain import Drainer
from ._limits import Admission, CheckOrigin, Rate, Scope, Send, header, refuse_websocket
from ._longpoll import LongPoll, LongPollServer
from ._multiplexer import (
    GOING_AWAY,
    POLICY_VIOLATION,
    SERVICE_RESTART,
    TOO_BIG,
    Connection,
)
from ._serializer import decode_params
from ._serializers import VsnError, negotiate

logger = logging.getLogger("pytest_channels")

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_AUTH_TOKEN_PREFIX = "base64url.bearer.phx."
_MAX_PARAMS = 100
_REFUSED = 1008  # a close before accept: the server answers the upgrade with HTTP 403


class ChannelsApp:
    """Serves socket handlers to real clients, such as the official `phoenix` JavaScript client.

    Each handler is mounted at a path, as Phoenix's `socket "/socket", UserSocket` is: the
    client connects to `<path>/websocket?vsn=2.0.0&...`, which is what phoenix.js does for
    `new Socket("<path>")`. The query parameters are the connect params.

    Args:
        sockets: path -> socket handler, for example `{"/socket": UserSocket}`.
        runtime: the runtime to serve (on the system clock); a new one by default. Keep it to
            broadcast from application code (`app.runtime.broadcast(...)`).
        idle_timeout: real seconds a connection may stay silent before the server closes it
            (Phoenix: 60 s), checked every quarter of it. The client's heartbeat (every 30 s)
            keeps a live one open.
        max_frame_size: bytes a client frame may have; a larger one closes the connection (1009).
        max_channels: channels one connection may join (Phoenix: 100).
        join_timeout: real seconds a join may take before it is refused with "join timeout".
        connect_timeout: real seconds `connect` and `id` may take before the connection is refused.
        fallback: an ASGI application for every other request (a page, an API); without one
            they get a 404.
        check_origin: which pages may connect, by their `Origin` header (Phoenix's
            `check_origin`): True (the default) only pages of the host the request was sent
            to; a list such as `["https://example.com", "//*.example.org"]`; a function of
            the header's value; or False for any. This stops other sites' pages from using a
            visitor's cookies to connect (HTTP 403). A request without the header (not a
            browser) is let through, as in Phoenix.
        max_connections: connections served at once; one more is refused with HTTP 503.
            None for no limit.
        max_params_size: bytes the connect params (the query string) may have; a longer
            one is refused with HTTP 414.
        max_messages_per_second: frames a connection may send a second, on average, in
            bursts of as many; a faster client is closed with 1008 (a LongPoll session ends,
            its POST answered 429). None (the default) for no limit.
        max_outgoing_bytes: bytes that may wait for a client that reads too slowly; past
            them the waiting frames are dropped and the connection closed with 1013.
        send_timeout: real seconds one frame may take to go out; a client that takes longer
            (it stopped reading) is let go, its channels stopped, within half as long again.
        max_mailbox: frames from a client that may wait for a busy channel; then the server
            stops reading that connection until the channel catches up (backpressure).
        longpoll: serve Phoenix's LongPoll transport at `<path>/longpoll` too (off by default,
            as in Phoenix): True for Phoenix's window and token age, or a `LongPoll(...)`.
        drainer: how the lifespan's shutdown closes the connections (Phoenix's socket
            drainer): True for Phoenix's defaults, a `Drainer(...)`, or False to close them
            all at once.

    Example:
        >>> from pytest_channels import SocketHandler
        >>> class UserSocket(SocketHandler): ...
        >>> app = ChannelsApp({"/socket": UserSocket})
        >>> app.paths
        ['/socket/websocket']
    """

    def __init__(
        self,
        sockets: Mapping[str, type[SocketHandler]],
        *,
        runtime: Runtime | None = None,
        idle_timeout: float = 60.0,
        max_frame_size: int = 1_000_000,
        max_channels: int = 100,
        join_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        fallback: ASGIApp | None = None,
        check_origin: CheckOrigin = True,
        max_connections: int | None = 10_000,
        max_params_size: int = 8_192,
        max_messages_per_second: float | None = None,
        max_outgoing_bytes: int = 8_000_000,
        send_timeout: float = 10.0,
        max_mailbox: int = 100,
        longpoll: LongPoll | bool = False,
        drainer: Drainer | bool = True,
    ) -> None:
        self._handlers: dict[str, type[SocketHandler]] = {}
        self._longpolls: dict[str, type[SocketHandler]] = {}
        for path, handler in sockets.items():
            if not path.startswith("/"):
                raise ValueError(f"a socket path must start with / (got {path!r})")
            if not (isinstance(handler, type) and issubclass(handler, SocketHandler)):
                raise TypeError(f"the socket at {path!r} must be a SocketHandler subclass (got {handler!r})")
            self._handlers[path.rstrip("/") + "/websocket"] = handler
            if longpoll:
                self._longpolls[path.rstrip("/") + "/longpoll"] = handler
        for name, value in (
            ("idle_timeout", idle_timeout),
            ("join_timeout", join_timeout),
            ("connect_timeout", connect_timeout),
            ("send_timeout", send_timeout),
        ):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number of seconds > 0 (got {value!r})")
        for name, count in (
            ("max_frame_size", max_frame_size),
            ("max_channels", max_channels),
            ("max_outgoing_bytes", max_outgoing_bytes),
            ("max_mailbox", max_mailbox),
        ):
            if not isinstance(count, int) or count < 1:
                raise ValueError(f"{name} must be an int >= 1 (got {count!r})")
        self.runtime = runtime if runtime is not None else Runtime()
        self.idle_timeout = idle_timeout
        self.max_frame_size = max_frame_size
        self.max_channels = max_channels
        self.join_timeout = join_timeout
        self.connect_timeout = connect_timeout
        self.fallback = fallback
        self.admission = Admission(
            check_origin=check_origin, max_connections=max_connections, max_params_size=max_params_size
        )
        if max_messages_per_second is not None:
            Rate(max_messages_per_second)  # refuses a bad rate now rather than at the first connection
        self.max_messages_per_second = max_messages_per_second
        self.max_outgoing_bytes = max_outgoing_bytes
        self.send_timeout = send_timeout
        self.max_mailbox = max_mailbox
        self._admitted = 0
        self._wires: dict[Connection, _Wire] = {}
        self._tasks: anyio.abc.TaskGroup | None = None  # the lifespan's: connections' writers run in it
        self._loop: asyncio.AbstractEventLoop | None = None  # on asyncio, writers are bare tasks (cheaper)
        self._writers: set[asyncio.Task[None]] = set()
        self.now: Callable[[], float] = anyio.current_time
        """The clock of idle and send timeouts: the event loop's own on asyncio, read per frame (anyio's
        `current_time` looks up the running library first, ten times the cost)."""
        self.connections: set[Connection] = set()
        self._serving = False
        self._longpoll = LongPollServer(self, LongPoll() if longpoll is True else longpoll) if longpoll else None
        self.drainer = Drainer() if drainer is True else drainer or None

    @property
    def serving(self) -> bool:
        """Whether the runtime serves: between the lifespan's startup and its shutdown."""
        return self._serving

    @property
    def paths(self) -> list[str]:
        """The paths served: WebSocket ones, then LongPoll ones."""
        return [*self._handlers, *self._longpolls]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        handler = self._handlers.get(scope.get("path", ""))
        if kind == "websocket" and handler is not None:
            await self._websocket(scope, receive, send, handler)
        elif kind == "http" and self._longpoll is not None and (polled := self._longpolls.get(scope.get("path", ""))):
            await self._longpoll.handle(scope, receive, send, polled)
        elif self.fallback is not None:
            await self.fallback(scope, receive, send)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": _REFUSED})
        elif kind == "http":
            text = b"Not found: this server speaks Phoenix channels over WebSocket at " + ", ".join(self.paths).encode()
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": text})

    # -- lifespan ---------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        _startup.ensure_handler()
        async with contextlib.AsyncExitStack() as stack:
            try:
                _startup.check(self.runtime)
                await stack.enter_async_context(_startup.adapter_connected(self.runtime))
            except (_startup.StartupError, BrokerUnreachable) as exc:
                logger.error("ChannelsApp did not start: %s", exc)
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await stack.enter_async_context(self.runtime.serving())
            tasks = self._tasks = await stack.enter_async_context(anyio.create_task_group())
            tasks.start_soon(self._watch)
            stack.callback(tasks.cancel_scope.cancel)
            stack.callback(setattr, self, "_tasks", None)
            self._loop = None if running_trio() else asyncio.get_running_loop()
            self.now = anyio.current_time if self._loop is None else self._loop.time
            stack.callback(setattr, self, "now", anyio.current_time)
            stack.callback(self._stop_writers)
            self._serving = True
            await send({"type": "lifespan.startup.complete"})
            try:
                await receive()  # lifespan.shutdown
                if self.drainer is not None:
                    await self.drain()
            finally:
                self._serving = False
                if self._longpoll is not None:  # their channels stop before the runtime does
                    self._longpoll.end_all(GOING_AWAY, "server stopping")
        await send({"type": "lifespan.shutdown.complete"})

    def _spawn(self, work: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Start a connection's writer; False once the server is stopping."""
        if self._loop is not None:  # a bare asyncio task costs a fraction of a task group's start_soon
            task = self._loop.create_task(work())
            self._writers.add(task)
            task.add_done_callback(self._writers.discard)
        elif self._tasks is not None:
            self._tasks.start_soon(work)
        else:
            return False
        return True

    def _stop_writers(self) -> None:
        self._loop = None
        for task in list(self._writers):
            task.cancel()

    async def drain(self, drainer: Drainer | None = None) -> int:
        """Close every connection, in batches, so that clients reconnect elsewhere without a stampede.

        Phoenix's socket drainer: `drainer` (this app's, or Phoenix's defaults) says how many
        connections close at once, how long to wait between batches and how long it may all
        take (what is left then closes at once). A WebSocket closes with 1012 (service restart)
        and a LongPoll session ends, so phoenix.js reconnects and rejoins; each channel's
        `terminate` runs with ("shutdown", "draining"). The lifespan's shutdown runs it first.
        Returns how many connections it closed.
        """
        return await (drainer or self.drainer or Drainer()).drain(self.connections, self._drain_one)

    def _drain_one(self, connection: Connection) -> None:
        connection.end_reason = ("shutdown", "draining")
        connection.request_close(SERVICE_RESTART, "service restart")

    # -- connections ----------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, handler: type[SocketHandler]) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        name = self._name_of(scope, handler)
        refusal = self.admission.check(scope, open_connections=self.open_connections)
        if refusal is not None:
            logger.warning("%s refused: %s", name, refusal.reason)
            await refuse_websocket(scope, send, refusal.status)
            return
        self._admitted += 1
        try:
            connection = await self._connect_for(scope, handler, name)
            if connection is None:
                await send({"type": "websocket.close", "code": _REFUSED})
                return
            subprotocols = scope.get("subprotocols") or []
            await send({"type": "websocket.accept", "subprotocol": "phoenix" if "phoenix" in subprotocols else None})
            # One task per connection, the ASGI server's own, reads; a writer task lives only while
            # there is something to send, so an idle connection holds no task of ours.
            wire = self._wires[connection] = _Wire(self, connection, send)
            connection.on_output = wire.wake
            connection.send_now = wire.send_now
            connection.last_frame = self.now()
            self.connections.add(connection)
            try:
                # The read loop is here, not in a coroutine of its own: one frame less held per connection.
                per_second, max_size = self.max_messages_per_second, self.max_frame_size
                rate = Rate(per_second) if per_second is not None else None
                # Until the client leaves, or breaks a limit (then the connection is to close, and says why).
                while connection.close_code is None and not connection.gone:
                    message = await receive()
                    if message["type"] == "websocket.disconnect":
                        connection.gone = True  # the client went away: nothing more to send
                        break
                    connection.last_frame = now = self.now()
                    if rate is not None and not rate.allow(now):
                        logger.warning("%s: closed: over max_messages_per_second (%s)", connection.name, per_second)
                        connection.request_close(POLICY_VIOLATION, "too many messages")
                        break
                    data = message.get("text")
                    if data is None:
                        data = message.get("bytes") or b""
                    if _size(data, max_size) > max_size:
                        logger.warning("%s: closed: a frame over max_frame_size (%d bytes)", connection.name, max_size)
                        connection.request_close(TOO_BIG, "frame too big")
                        break
                    connection.receive(data)
                    while (hold := connection.hold_reading()) is not None:
                        wire.held = True
                        await hold.wait()
                        wire.held = False
                        connection.last_frame = self.now()
                await wire.finish()
            finally:
                wire.end()
        finally:
            self._admitted -= 1

    @property
    def open_connections(self) -> int:
        """Connections admitted and not yet gone, of every transport (what `max_connections` counts)."""
        return self._admitted + (len(self._longpoll.sessions) if self._longpoll is not None else 0)

    def _name_of(self, scope: Scope, handler: type[SocketHandler]) -> str:
        """How log lines name a connection: its handler and peer."""
        client = scope.get("client")
        peer = f"{client[0]}:{client[1]}" if client else "an unknown peer"
        return f"{handler.__qualname__} connection from {peer}"

    async def _connect_for(
        self, scope: Scope, handler: type[SocketHandler], name: str, *, text_only: bool = False
    ) -> Connection | None:
        """Check the request, negotiate the version, run the handler's connect: the state machine of
        one accepted connection, whatever transport carries its frames; None if refused (the reason
        is logged).

        Every transport comes through here, so the checks and limits apply to all of them.
        `text_only` is for a transport without binary frames (LongPoll).
        """
        if not self._serving:
            logger.error("%s refused: the runtime is not serving (run the ASGI server with its lifespan on)", name)
            return None
        try:
            raw = scope.get("query_string", b"").decode("latin-1")
            params: dict[str, Any] = dict(decode_params(raw, max_params=_MAX_PARAMS))
        except ValueError as exc:
            logger.warning("%s refused: bad query string: %s", name, exc)
            return None
        try:
            serializer = negotiate(params.get("vsn"))
        except VsnError as exc:
            logger.warning("%s refused: %s", name, exc)
            return None
        try:
            with anyio.fail_after(self.connect_timeout):
                result = await self.runtime.connect(handler, params, _connect_info(scope))
        except TimeoutError:
            logger.error("%s refused: %s.connect took over %ss", name, handler.__qualname__, self.connect_timeout)
            return None
        except Exception:
            logger.exception("%s refused: %s.connect raised", name, handler.__qualname__)
            return None
        if isinstance(result, Error):
            logger.info("%s refused by %s.connect: %r", name, handler.__qualname__, result.reply)
            return None
        return Connection(
            self.runtime,
            result.socket,
            name=name,
            max_channels=self.max_channels,
            join_timeout=self.join_timeout,
            max_outgoing_bytes=self.max_outgoing_bytes,
            max_mailbox=self.max_mailbox,
            serializer=serializer.text_only if text_only else serializer,
        )

    def _origin_allowed(self, scope: Scope, name: str) -> bool:
        """Phoenix's `check_origin`, which every request of every transport passes."""
        origin = header(scope, b"origin")
        if self.admission.origins.allows(origin, host=header(scope, b"host")):
            return True
        logger.warning("%s refused: origin %r is not allowed (check_origin)", name, origin)
        return False

    async def _watch(self) -> None:
        """Close the connections that fell silent for `idle_timeout`, and let go of those whose send
        has taken `send_timeout` (their client stopped reading).

        One look at every connection now and then costs less than a timer around every
        receive and every send: a silent connection closes up to a quarter of `idle_timeout` late.
        """
        idle = self.idle_timeout
        every = min(idle / 4, self.send_timeout / 2)
        while True:
            await anyio.sleep(every)
            now = self.now()
            for connection, wire in list(self._wires.items()):
                if wire.since is not None and now - wire.since >= self.send_timeout:
                    logger.warning(
                        "%s: slow consumer: a frame could not be sent within send_timeout (%ss): letting it go",
                        connection.name,
                        self.send_timeout,
                    )
                    wire.end()
                elif not wire.held and connection.close_code is None and now - connection.last_frame >= idle:
                    logger.info("%s: closed after %ss without a frame", connection.name, self.idle_timeout)
                    connection.request_close(GOING_AWAY, "idle timeout")


class _Wire:
    """A WebSocket connection's sending side: frames go out at once, or in a writer task while one must wait.

    On asyncio a frame is sent in the code that queued it (a reply, a fastlaned broadcast),
    as long as no frame waits before it and the ASGI server's `send` completes at once, which
    it does while the socket's buffer has room: a task per frame costs more than sending it (a
    broadcast to 1,000 connections made 1,000 tasks). A send that must wait, the frames queued
    behind it, a close, and every send on trio go through a writer task, which lives only
    while there is something to send.

    Once the close is sent (or the client is let go) the connection ends at once: its channels
    stop, and the reader's task returns when the ASGI server reports the disconnect.
    """

    __slots__ = ("app", "closed", "connection", "done", "ended", "held", "send", "since", "writing")

    def __init__(self, app: ChannelsApp, connection: Connection, send: Send) -> None:
        self.app = app
        self.connection = connection
        self.send = send
        self.writing = False  # a writer task runs
        self.since: float | None = None  # when the frame being sent started to go out
        self.held = False  # the reader waits for the connection (a join, a full mailbox), not the client
        self.closed = False
        self.ended = False
        self.done: anyio.Event | None = None  # made when the reader ends while the writer still writes

    def wake(self) -> None:
        """The connection queued frames or wants to close: start a writer if none runs."""
        if self.writing or self.closed or self.ended:
            return
        self.writing = True
        if not self.app._spawn(self._write):  # the server is stopping, and closes its sockets itself
            self.writing = False
            self.end()

    def end(self) -> None:
        """The connection is over: stop its channels and forget it.

        A send under way is left to the ASGI server: a client that stopped reading holds the
        socket, not the channels.
        """
        if self.ended:
            return
        self.ended = True
        connection = self.connection
        connection.gone = True
        connection.on_output = connection.send_now = None
        self.app._wires.pop(connection, None)
        self.app.connections.discard(connection)
        connection.shutdown()

    def send_now(self, data: str | bytes) -> bool:
        """Send one frame here and now, if no other waits; False if a writer task must send it.

        A send that cannot complete at once is handed, where it waits, to a writer task. A
        send that fails ends the connection from the event loop, not here: the caller may be
        a channel's callback, and ending stops its channels.
        """
        loop = self.app._loop
        if self.writing or self.closed or self.ended or loop is None or self.connection.close_code is not None:
            return False
        sending = self.send(_message(data)).__await__()
        try:
            waiting = sending.send(None)
        except StopIteration:
            return True
        except Exception as exc:  # the client vanished; the server has logged the details
            logger.debug("%s: sending failed: %r", self.connection.name, exc)
            loop.call_soon(self.end)
            return True
        self.writing = True
        if not self.app._spawn(functools.partial(self._write, Resume(sending, waiting))):
            self.writing = False
            sending.close()
            loop.call_soon(self.end)
        return True

    async def _write(self, paused: Resume | None = None) -> None:
        """Send what is queued, and the close once it is due; first, a send that `send_now` left waiting."""
        connection = self.connection
        try:
            if paused is not None:
                self.since = self.app.now()
                await paused
            # What was taken counts no more against max_outgoing_bytes: a slow client holds at
            # most that batch beside it.
            while not self.ended and (frames := connection.take_outgoing()):
                for data in frames:
                    self.since = self.app.now()
                    await self.send(_message(data))
                self.since = None
            if connection.close_code is not None and not self.closed and not self.ended:
                self.closed = True
                self.since = self.app.now()
                await self.send(
                    {"type": "websocket.close", "code": connection.close_code, "reason": connection.close_reason}
                )
                self.end()
        except Exception as exc:  # the client vanished mid-send; the server has logged the details
            logger.debug("%s: sending failed: %r", connection.name, exc)
            self.end()
        finally:
            self.since = None
            self.writing = False
            if self.done is not None:
                self.done.set()

    async def finish(self) -> None:
        """The reader is done: send what is left and the close (unless the client went away)."""
        if self.writing:
            self.done = anyio.Event()
            await self.done.wait()
        if not self.ended and not self.connection.gone and self.connection.close_code is not None:
            await self._write()


def _message(data: str | bytes) -> dict[str, Any]:
    """The ASGI event that sends one frame."""
    if isinstance(data, str):
        return {"type": "websocket.send", "text": data}
    return {"type": "websocket.send", "bytes": data}


def _size(data: str | bytes, limit: int) -> int:
    """The frame's size in bytes, without encoding a text frame that is surely under `limit`."""
    if isinstance(data, bytes) or 4 * len(data) <= limit:  # UTF-8 needs at most 4 bytes a character
        return len(data)
    return len(data.encode("utf-8"))


def _connect_info(scope: Scope) -> dict[str, Any]:
    """What Phoenix's `connect_info` offers: peer data, the URI, x- headers, and the auth token."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    client = scope.get("client")
    info: dict[str, Any] = {
        "peer_data": {"address": client[0], "port": client[1]} if client else None,
        "uri": scope.get("path", ""),
        "x_headers": {k: v for k, v in headers.items() if k.startswith("x-")},
        "user_agent": headers.get("user-agent"),
    }
    if "x-phoenix-authtoken" in headers:  # phoenix.js's LongPoll sends the auth token in this header
        info["auth_token"] = headers["x-phoenix-authtoken"]
    for protocol in scope.get("subprotocols") or []:
        if protocol.startswith(_AUTH_TOKEN_PREFIX):
            encoded = protocol[len(_AUTH_TOKEN_PREFIX) :]
            try:
                info["auth_token"] = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                info["auth_token"] = None
    return info
