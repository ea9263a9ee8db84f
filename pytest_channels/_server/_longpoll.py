"""Phoenix's LongPoll transport: the `<path>/longpoll` endpoint beside `<path>/websocket`.

For clients that cannot hold a WebSocket, phoenix.js polls instead: a first GET opens a
session (`{"status": 410, "token": ...}`), later GETs with the token wait up to `window`
seconds for frames, POSTs carry client frames. docs/running-for-real.md#longpoll lists every
rule beside Phoenix's. As in Phoenix, every answer is HTTP 200 with the status in its JSON
body (the client reads only that), and a poll with a token that is forged, expired, from
another socket or of an ended session opens a new session: that is how phoenix.js learns its
old one is gone (it reconnects and rejoins).

Behind the transport is the same `Connection` a WebSocket drives, so both transports share
the channel state machine, the connect checks and the limits.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

import anyio

from .._runtime._errors import TokenError
from .._runtime._runtime import Runtime
from .._runtime._socket import SocketHandler
from ._limits import Admission, Rate, Scope, Send, header
from ._multiplexer import GOING_AWAY, INTERNAL_ERROR, INVALID_DATA, POLICY_VIOLATION, TOO_BIG, Connection

logger = logging.getLogger("pytest_channels")

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

_STATUS_OF = {INVALID_DATA: 400, INTERNAL_ERROR: 500}
"""The HTTP status of a POST whose frame closed the connection (a bad frame, a failure of ours)."""

MAX_BATCH = 100
"""Frames one POST may carry (phoenix.js sends at most 100, Phoenix reads no more)."""

MAX_BODY = 8_000_000
"""Bytes a POST body may have, Plug's `read_body` default, unless `max_frame_size` is larger."""

TOKEN_SALT = "pytest_channels longpoll session"
_TOKEN_HEADER = b"x-phoenix-longpoll-token"


class App(Protocol):
    """What LongPoll uses of the `ChannelsApp` it serves (that module imports this one, not the other way)."""

    runtime: Runtime
    admission: Admission
    connections: set[Connection]
    max_frame_size: int
    max_messages_per_second: float | None

    @property
    def open_connections(self) -> int: ...
    def _name_of(self, scope: Scope, handler: type[SocketHandler]) -> str: ...
    def _origin_allowed(self, scope: Scope, name: str) -> bool: ...
    async def _connect_for(
        self, scope: Scope, handler: type[SocketHandler], name: str, *, text_only: bool = False
    ) -> Connection | None: ...


@dataclass(frozen=True)
class LongPoll:
    """How `ChannelsApp` serves LongPoll: `ChannelsApp(..., longpoll=LongPoll(window=5.0))`.

    Args:
        window: real seconds a poll waits for frames before it is answered 204 (Phoenix's
            `window_ms`, 10 s); a session whose client polled last 1.5 windows ago ends.
        max_age: seconds a session token verifies (Phoenix's `crypto: [max_age: ...]`, two weeks).

    Example:
        >>> LongPoll().window
        10.0
    """

    window: float = 10.0
    max_age: float = 1_209_600.0

    def __post_init__(self) -> None:
        for name, value in (("window", self.window), ("max_age", self.max_age)):
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"LongPoll {name} must be a finite number of seconds > 0 (got {value!r})")


class _Session:
    """One LongPoll client: its connection, and what its polls and posts take turns on."""

    def __init__(self, server: LongPollServer, id: str, path: str, connection: Connection) -> None:
        self.server = server
        self.id = id
        self.path = path
        self.connection = connection
        self.token = server.app.runtime.tokens.sign(TOKEN_SALT, [id, path], max_age=server.config.max_age)
        self.frames = anyio.Lock()  # POSTed frames are handled one at a time, in order, as over a WebSocket
        self.ended = False
        self.left: list[str | bytes] = []  # what was queued when the session ended: its next poll gets it
        self.last_poll_ns = server.clock_ns()
        self.requests = 0  # in flight: a session that is polled or posted to now is not inactive
        per_second = server.app.max_messages_per_second  # per frame, as over a WebSocket, not per POST
        self.rate = Rate(per_second) if per_second is not None else None
        self._schedule()
        # The connection is to close (a "disconnect" broadcast, a limit): end now, as a WebSocket closes now.
        connection.on_close = lambda: self.end(connection.close_code or GOING_AWAY, connection.close_reason)

    def _schedule(self) -> None:
        # Phoenix's shutdown_if_inactive, every 1.5 windows; it also forgets an ended session one period on.
        self.server.app.runtime.clock.call_at(
            self.server.clock_ns() + self.server.inactive_ns, self._check_inactive, f"{self.connection.name}: idle?"
        )

    def _check_inactive(self) -> None:
        if self.ended:
            self.server.forget(self)
            return
        if not self.requests and self.server.clock_ns() - self.last_poll_ns > self.server.inactive_ns:
            logger.info("%s: ended: no poll for %ss", self.connection.name, self.server.config.window * 1.5)
            self.end(GOING_AWAY, "inactive")  # what was left waits one more period for a late poll
        self._schedule()

    def end(self, code: int, reason: str) -> None:
        """Stop the session's channels; frames already queued wait for the next poll."""
        if self.ended:
            return
        self.ended = True
        self.connection.request_close(code, reason)
        self.left = self.connection.take_outgoing()
        self.connection.shutdown()
        self.server.app.connections.discard(self.connection)

    async def poll(self) -> tuple[int, list[str | bytes]]:
        """Wait up to a window for frames: 200 and a batch, or 204."""
        self.last_poll_ns = self.server.clock_ns()
        connection = self.connection
        frames = connection.take_outgoing()
        if not frames and connection.close_code is None:
            ready = anyio.Event()
            connection.on_output = ready.set
            try:
                with anyio.move_on_after(self.server.config.window):
                    await ready.wait()
            finally:
                connection.on_output = None
            frames = connection.take_outgoing()
        if self.ended:  # it ended while this poll waited: the poll takes what was left
            frames, self.left = frames + self.left, []
        return (200, frames) if frames else (204, [])


class LongPollServer:
    """The sessions of one `ChannelsApp`'s LongPoll endpoints."""

    def __init__(self, app: App, config: LongPoll) -> None:
        self.app = app
        self.config = config
        self.inactive_ns = int(config.window * 1.5 * 1e9)
        self.sessions: dict[str, _Session] = {}

    def clock_ns(self) -> int:
        return self.app.runtime.clock.now_ns()

    def forget(self, session: _Session) -> None:
        if self.sessions.get(session.id) is session:
            del self.sessions[session.id]

    def end_all(self, code: int, reason: str) -> None:
        """End every session now (a drain, or the runtime stopping)."""
        for session in list(self.sessions.values()):
            session.end(code, reason)

    async def handle(self, scope: Scope, receive: Receive, send: Send, handler: type[SocketHandler]) -> None:
        name = f"{self.app._name_of(scope, handler)} (LongPoll)"
        method = scope.get("method", "GET")
        if method == "OPTIONS":
            # A CORS preflight: anyone may ask, since every request's origin is checked.
            requested = b", ".join(
                v for k, v in scope.get("headers", []) if k.lower() == b"access-control-request-headers"
            )
            headers = [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-allow-headers", requested),
                (b"access-control-allow-methods", b"get, post, options"),
                (b"access-control-max-age", b"3600"),
            ]
            await _respond(send, 200, b"", headers)
        elif method not in ("GET", "POST"):
            await _respond(send, 400, b"", [(b"access-control-allow-origin", b"*")])
        elif not self.app._origin_allowed(scope, name):
            await _answer(send, {"status": 403})
        elif method == "GET":
            await _answer(send, await self._get(scope, receive, handler, name))
        elif (status := await self._post(scope, receive)) is not None:
            await _answer(send, {"status": status})

    def _resume(self, scope: Scope) -> tuple[_Session | None, bytes]:
        """The live or ended session the request's token names, and the query string for `connect`."""
        query: bytes = scope.get("query_string", b"")
        token = header(scope, _TOKEN_HEADER)
        without = unverified = query
        if token is None:
            # phoenix.js before 1.8.17 sends the token as the URL's last `token` parameter (none at first),
            # after the connect params, which may have a `token` of their own.
            parts = query.split(b"&")
            found = [index for index, part in enumerate(parts) if part.startswith(b"token=")]
            if not found:
                return None, query
            token = unquote(parts[found[-1]][len(b"token=") :].decode("latin-1"))
            without = b"&".join(parts[: found[-1]] + parts[found[-1] + 1 :])
            # Of two, the last is surely the session's; a lone one is the session's only if it verifies.
            unverified = without if len(found) > 1 else query
        try:
            session_id, path = self.app.runtime.tokens.verify(TOKEN_SALT, token, max_age=self.config.max_age)
        except (TokenError, TypeError, ValueError) as exc:
            logger.info("LongPoll token refused (%s): a new session starts", exc)
            return None, unverified
        session = self.sessions.get(session_id)
        if session is None or path != scope.get("path") or session.path != path:
            return None, without  # an ended session's, or another socket's
        return session, without

    async def _get(self, scope: Scope, receive: Receive, handler: type[SocketHandler], name: str) -> dict[str, Any]:
        """The answer to a GET: a live session's frames, what an ended one left, or a new session's token."""
        session, query = self._resume(scope)
        if session is not None and session.ended and session.left:
            left, session.left = session.left, []
            return {"status": 200, "token": session.token, "messages": _texts(left)}
        if session is not None and not session.ended:
            session.requests += 1
            try:
                status, frames = await _until_disconnect(receive, session.poll)
            finally:
                session.requests -= 1
                session.last_poll_ns = self.clock_ns()
            return {"status": status, "token": session.token, "messages": _texts(frames)}
        if session is not None:
            self.forget(session)
        refusal = self.app.admission.check(scope, open_connections=self.app.open_connections)
        if refusal is not None:  # the same door as a WebSocket's: too many sessions, connect params too long
            logger.warning("%s refused: %s", name, refusal.reason)
            return {"status": refusal.status}
        connected = await self.app._connect_for({**scope, "query_string": query}, handler, name, text_only=True)
        if connected is None:
            return {"status": 403}
        new = _Session(self, secrets.token_urlsafe(16), scope.get("path", ""), connected)
        self.sessions[new.id] = new
        self.app.connections.add(connected)
        return {"status": 410, "token": new.token, "messages": []}

    async def _post(self, scope: Scope, receive: Receive) -> int | None:
        """The status that answers a POST of frames; None when its client went away mid-body (nobody to answer)."""
        session, _ = self._resume(scope)
        if session is None or session.ended:
            return 410
        connection = session.connection
        limit = self.app.max_frame_size
        try:
            body = await _read_body(receive, max(MAX_BODY, limit))
        except _ClientGone:  # half a batch is not handled
            return None
        if body is None:
            logger.warning("%s: ended: a POST body over %d bytes", connection.name, max(MAX_BODY, limit))
            session.end(TOO_BIG, "frame too big")
            return 413
        media_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
        ndjson = media_type == "application/x-ndjson"
        parts: list[str | bytes] = []
        try:
            for line in body.decode("utf-8").splitlines() if ndjson else [body.decode("utf-8")]:
                parts.append(line if line[:1] in ("[", "{") else base64.b64decode(line, validate=True))
        except (UnicodeDecodeError, binascii.Error):
            logger.warning("%s: ended: a POST that is neither UTF-8 frames nor base64", connection.name)
            session.end(INVALID_DATA, "invalid frame")
            return 400
        if len(parts) > MAX_BATCH:
            logger.warning("%s: a POST of %d frames refused (at most %d)", connection.name, len(parts), MAX_BATCH)
            return 400
        if session.ended:  # while its body arrived
            return 410
        session.requests += 1  # a client that posts is alive too (Phoenix counts polls only)
        try:
            async with session.frames:
                for data in parts:
                    if len(data if isinstance(data, bytes) else data.encode("utf-8")) > limit:
                        logger.warning("%s: ended: a frame over max_frame_size (%d bytes)", connection.name, limit)
                        session.end(TOO_BIG, "frame too big")
                        return 413
                    if session.rate is not None and not session.rate.allow(anyio.current_time()):
                        per_second = self.app.max_messages_per_second
                        logger.warning("%s: ended: over max_messages_per_second (%s)", connection.name, per_second)
                        session.end(POLICY_VIOLATION, "too many messages")
                        return 429
                    # Not cut short at the window, as Phoenix's 408 would: a join is bounded by join_timeout,
                    # and cancelling it halfway would leave its channel joined and its client unanswered.
                    connection.receive(data)
                    while (hold := connection.hold_reading()) is not None:
                        await hold.wait()
                    if connection.close_code is not None:
                        status = _STATUS_OF.get(connection.close_code)
                        if status is not None:
                            session.end(connection.close_code, connection.close_reason)
                            return status
                        break
            return 200
        finally:
            session.requests -= 1
            session.last_poll_ns = self.clock_ns()


async def _until_disconnect(
    receive: Receive, poll: Callable[[], Awaitable[tuple[int, list[str | bytes]]]]
) -> tuple[int, list[str | bytes]]:
    """Run the poll, giving up when the client goes away first (its frames then wait for the next poll)."""
    result: tuple[int, list[str | bytes]] = (204, [])
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        result = await poll()
        tg.cancel_scope.cancel()
    return result


class _ClientGone(Exception):
    """The client went away before its request was whole."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it is over `limit` bytes (the rest is not read).

    Raises:
        _ClientGone: the client disconnected first.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _texts(frames: list[str | bytes]) -> list[str]:
    # The connection of a LongPoll session encodes text frames only (see ChannelsApp._connect_for).
    return [frame if isinstance(frame, str) else frame.decode("utf-8") for frame in frames]


async def _answer(send: Send, body: dict[str, Any]) -> None:
    headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        # The token may travel in a header: the URL is then the same for every session, so no cache may keep it.
        (b"cache-control", b"no-store"),
        (b"access-control-allow-origin", b"*"),
    ]
    await _respond(send, 200, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), headers)


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
