"""One client connection's channels: Phoenix.Socket's transport-side state machine.

A `Connection` takes the frames a client sends (already decoded) and turns them into
runtime calls; it is the `Transport` its channels deliver to, and it turns what they
deliver into frames for the client. It knows nothing about WebSockets or ASGI: whatever
carries the frames reads `next_outgoing()` and calls `handle()`.

Frames are handled one at a time, in order, as Phoenix's transport process does: a join
blocks the frames after it until the channel has answered.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from .._runtime._errors import PayloadError
from .._runtime._messages import Broadcast, Close, Exit, Message, Reason
from .._runtime._process import ChannelProcess
from .._runtime._results import Error, Ok
from .._runtime._runtime import Runtime
from .._runtime._socket import Socket
from ._serializer import Frame, FrameError, error_frame, frame_of, reply_frame
from ._serializers import V2, Serializer

logger = logging.getLogger("pytest_channels")

DUPLICATE_JOIN_WAIT = 5.0
"""Seconds to wait for the old channel of a duplicate join to stop (Phoenix: 5000 ms)."""

# WebSocket close codes (RFC 6455).
GOING_AWAY = 1001
INVALID_DATA = 1007
POLICY_VIOLATION = 1008
TOO_BIG = 1009
INTERNAL_ERROR = 1011
SERVICE_RESTART = 1012
TRY_AGAIN_LATER = 1013


@dataclass(eq=False)
class _Entry:
    """A channel the connection started: Phoenix's `channels` and `channels_inverse` rows in one."""

    topic: str
    join_ref: str | None
    process: ChannelProcess
    status: str = "joining"  # then "joined" or "leaving"
    close_sent: bool = False
    done: anyio.Event = field(default_factory=anyio.Event)


class Connection:
    """The channels of one client connection, and the frames going back to it.

    Args:
        runtime: a serving runtime.
        socket: the socket `connect` returned for this connection.
        name: how log lines name the connection (its peer address and handler).
        max_channels: Phoenix's `max_channels_per_transport`.
        max_outgoing_bytes: bytes of frames that may wait for a slow client; past them the
            waiting frames are dropped and the connection closes with 1013 ("slow consumer").
        max_mailbox: the client's frames that may wait in one channel's mailbox; `handle`
            then waits for the channel, so that whoever reads the client stops reading.
        join_timeout: real seconds a `join` may take before the join is answered with an error.
        serializer: the protocol version the client negotiated (V2 by default).
    """

    def __init__(
        self,
        runtime: Runtime,
        socket: Socket,
        *,
        name: str = "a connection",
        max_channels: int = 100,
        max_outgoing_bytes: int = 8_000_000,
        max_mailbox: int = 100,
        join_timeout: float = 30.0,
        serializer: Serializer = V2,
    ) -> None:
        self.runtime = runtime
        self.serializer = serializer
        self._encode = serializer.encode
        self.socket = socket
        self.name = name
        self.max_channels = max_channels
        self.max_outgoing_bytes = max_outgoing_bytes
        self.max_mailbox = max_mailbox
        self.join_timeout = join_timeout
        self.close_code: int | None = None
        self.close_reason = ""
        self.gone = False
        self.end_reason: Reason = ("shutdown", "closed")
        self.on_close: Callable[[], None] | None = None  # a transport that must act at once on a close
        self._channels: dict[str, _Entry] = {}
        self._entries: dict[ChannelProcess, _Entry] = {}
        self._holding: dict[str, list[str | bytes]] = {}
        self._outbox: deque[str | bytes] = deque()
        self.outgoing_bytes = 0
        """Bytes of the frames waiting to be sent."""
        self._wakeup = anyio.Event()
        if socket.id is not None:
            runtime.pubsub.subscribe(socket.id, self)

    def __repr__(self) -> str:
        return f"<Connection {self.name} channels={len(self._channels)}>"

    @property
    def stopped(self) -> bool:
        """Whether the connection is gone and every channel it started has stopped (its terminate ran)."""
        return self.gone and not self._entries

    @property
    def topics(self) -> list[str]:
        """The topics with a channel on this connection, joined or leaving."""
        return list(self._channels)

    # -- frames from the client -------------------------------------------------------------------

    async def handle(self, frame: Frame) -> None:
        """Act on one frame from the client; returns once the frame is dealt with (a join, answered).

        A push waits while its channel's mailbox holds `max_mailbox` frames: the transport
        then stops reading, so the client's frames wait in its socket, not in our memory.
        """
        if frame.event == "phx_join":
            await self._join(frame)
            return
        entry = self._channels.get(frame.topic)
        if entry is not None and frame.event not in ("phx_leave", "heartbeat"):
            process = entry.process
            while process.alive and len(process.mailbox) >= self.max_mailbox:
                process.room = process.room or anyio.Event()
                await process.room.wait()
        self.handle_nowait(frame)

    def handle_nowait(self, frame: Frame) -> None:
        """Act on a frame that is not a join (a heartbeat, a leave or a push) at once, without backpressure."""
        if frame.topic == "phoenix" and frame.event == "heartbeat":
            self._send(reply_frame(frame, "ok", {}))
        elif frame.event == "phx_leave":
            self._leave(frame)
        else:
            self._push(frame)

    async def _join(self, frame: Frame) -> None:
        old = self._channels.pop(frame.topic, None)
        if old is not None:
            # A duplicate join (or a rejoin while the old channel lives): the old one goes first.
            logger.debug(
                "%s: duplicate join on %r closes the channel joined with %r", self.name, frame.topic, old.join_ref
            )
            self.runtime.close(old.process.socket, ("shutdown", "duplicate_join"))
            with anyio.move_on_after(DUPLICATE_JOIN_WAIT) as waited:
                await old.done.wait()
            if waited.cancelled_caught:
                logger.error(
                    "%s: the old channel on %r did not stop within %ss", self.name, frame.topic, DUPLICATE_JOIN_WAIT
                )
        try:
            await self._start(frame)
        finally:
            if old is not None and not old.close_sent:
                # After the new join's reply, as Phoenix queues it; the client drops it as stale.
                self._send(Frame(old.join_ref, old.join_ref, frame.topic, "phx_close", {}))

    async def _start(self, frame: Frame) -> None:
        if len(self._channels) >= self.max_channels:
            logger.warning(
                "%s: join of %r refused: %d channels joined already", self.name, frame.topic, self.max_channels
            )
            self._send(reply_frame(frame, "error", {"reason": "too many channels joined"}, join_ref=frame.join_ref))
            return
        try:
            # Phoenix's `join_ref || ref`: a client that names no join_ref joins under its push ref.
            started = self._start_join(frame, frame.join_ref or frame.ref)
        except PayloadError as exc:
            raise FrameError(str(exc)) from None
        if not isinstance(started, ChannelProcess):  # no route: Phoenix's reply carries no join_ref
            self._send(reply_frame(frame, "error", started.reply))
            return
        entry = _Entry(frame.topic, started.socket.join_ref, started)
        self._channels[frame.topic] = self._entries[started] = entry
        self._holding[frame.topic] = []  # what the channel sends before its join is answered waits
        started.join_done = anyio.Event()
        try:
            with anyio.move_on_after(self.join_timeout) as waited:
                await started.join_done.wait()
            result = started.join_result
            if waited.cancelled_caught or result is None:
                logger.error("%s: %s.join on %r took over %ss", self.name, started.name, frame.topic, self.join_timeout)
                self._forget(entry)
                self.runtime.close(started.socket)
                self._answer(frame, "error", {"reason": "join timeout"})
            elif isinstance(result, Ok):
                entry.status = "joined"
                if not self._answer(frame, "ok", result.reply):
                    self._forget(entry)
                    self.runtime.close(started.socket)
                    self._answer(frame, "error", {"reason": "join crashed"})
            else:
                self._forget(entry)
                self._answer(frame, "error", result.reply)
        finally:
            for data in self._holding.pop(frame.topic, ()):
                self._queue(data)

    def _start_join(self, frame: Frame, join_ref: str | None) -> ChannelProcess | Error:
        return self.runtime.start_join(self.socket, frame.topic, frame.payload, self, join_ref=join_ref)

    def process(self, topic: str) -> ChannelProcess | None:
        """The channel joined (or joining, or leaving) on `topic`, if any."""
        entry = self._channels.get(topic)
        return entry.process if entry is not None else None

    def _answer(self, frame: Frame, status: str, response: object) -> bool:
        """Queue the join's answer ahead of everything the channel sent while it joined."""
        try:
            self._queue(self._encode(reply_frame(frame, status, response, join_ref=frame.join_ref)))
        except PayloadError as exc:
            logger.error("%s: the join reply cannot travel: %s", self.name, exc)
            return False
        return True

    def _leave(self, frame: Frame) -> None:
        entry = self._channels.get(frame.topic)
        if entry is None:
            self._send(reply_frame(frame, "ok", {}, join_ref=frame.join_ref))
        elif frame.join_ref is None or frame.join_ref == entry.join_ref:
            entry.status = "leaving"
            self.runtime.leave(entry.process.socket, ref=frame.ref)
        else:
            logger.debug(
                "%s: phx_leave on %r with a stale join_ref: the client raced a server close", self.name, frame.topic
            )

    def _push(self, frame: Frame) -> None:
        entry = self._channels.get(frame.topic)
        if entry is None:
            logger.warning(
                "%s: %r on %r, which it has not joined: unmatched topic", self.name, frame.event, frame.topic
            )
            self._send(reply_frame(frame, "error", {"reason": "unmatched topic"}))
        elif frame.join_ref is None or frame.join_ref == entry.join_ref:
            try:
                self.runtime.push(entry.process.socket, frame.event, frame.payload, ref=frame.ref)
            except PayloadError as exc:
                raise FrameError(str(exc)) from None
        else:
            logger.debug(
                "%s: dropped %r on %r for the stale join_ref %r", self.name, frame.event, frame.topic, frame.join_ref
            )

    # -- what channels deliver (Transport) --------------------------------------------------------

    def deliver(self, message: Message) -> None:
        """Send a channel's push, reply, fastlane broadcast or close to the client."""
        if isinstance(message, Close):
            entry = self._channels.get(message.topic)
            if entry is not None and entry.join_ref == message.join_ref:
                del self._channels[message.topic]
                entry.close_sent = True
        self._send(frame_of(message))

    def exited(self, exit: Exit) -> None:
        """A channel ended: one that did not close gracefully first crashed, and the client hears `phx_error`."""
        process = exit.channel_pid
        entry = self._entries.pop(process, None) if isinstance(process, ChannelProcess) else None
        if entry is None:
            return
        entry.done.set()
        if self._channels.get(entry.topic) is entry:
            del self._channels[entry.topic]
            self._send(error_frame(entry.topic, entry.join_ref))

    def receive_broadcast(self, broadcast: Broadcast) -> None:
        """A broadcast on the socket id: "disconnect" closes the connection (code 1001), as in Phoenix."""
        if broadcast.event == "disconnect":
            logger.info("%s: disconnected by a broadcast on %r", self.name, broadcast.topic)
            self.request_close(GOING_AWAY, "disconnected")

    # -- frames to the client -------------------------------------------------------------------

    def _send(self, frame: Frame) -> None:
        # A payload that cannot travel raises PayloadError in whoever sent it: in a channel
        # that crashes it (the client sees phx_error), as Phoenix's encode! in the channel does.
        self._send_data(frame.topic, self._encode(frame))

    def _send_data(self, topic: str, data: str | bytes) -> None:
        held = self._holding.get(topic)
        if held is not None:
            held.append(data)
        else:
            self._queue(data)

    def fastlane(self, broadcast: Broadcast) -> None:
        """A broadcast no channel intercepted: the frame its serializer encoded once for every subscriber."""
        try:
            data = self.serializer.fastlane(broadcast)
        except PayloadError as exc:  # this client cannot receive it; the other subscribers still do
            logger.error("%s: a broadcast is not sent to this client: %s", self.name, exc)
            return
        self._send_data(broadcast.topic, data)

    def _queue(self, data: str | bytes) -> None:
        if self.close_code is not None or self.gone:
            return
        size = len(data) if isinstance(data, bytes) or data.isascii() else len(data.encode())
        if self.outgoing_bytes + size > self.max_outgoing_bytes:
            logger.warning(
                "%s: slow consumer: %d bytes waiting, over max_outgoing_bytes (%d): dropping them and closing with %d",
                self.name,
                self.outgoing_bytes + size,
                self.max_outgoing_bytes,
                TRY_AGAIN_LATER,
            )
            self._outbox.clear()
            self.outgoing_bytes = 0
            self.request_close(TRY_AGAIN_LATER, "slow consumer")
            return
        self._outbox.append(data)
        self.outgoing_bytes += size
        self._wakeup.set()

    async def next_outgoing(self) -> str | bytes | None:
        """The next frame to send, waiting for one; None once the connection is to close."""
        while not self._outbox:
            if self.close_code is not None or self.gone:
                return None
            self._wakeup = anyio.Event()
            await self._wakeup.wait()
        data = self._outbox.popleft()
        self.outgoing_bytes -= len(data) if isinstance(data, bytes) or data.isascii() else len(data.encode())
        return data

    def take_outgoing(self) -> list[str | bytes]:
        """Every frame waiting to be sent, at once (a long poll answers with a batch)."""
        frames = list(self._outbox)
        self._outbox.clear()
        return frames

    def request_close(self, code: int, reason: str) -> None:
        """Close the connection with `code` once the frames already queued are sent."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            if self.on_close is not None:
                self.on_close()
        self._wakeup.set()

    def _forget(self, entry: _Entry) -> None:
        if self._channels.get(entry.topic) is entry:
            del self._channels[entry.topic]
        self._entries.pop(entry.process, None)
        entry.done.set()

    # -- the end ----------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """The connection is gone: every channel stops with `end_reason`, ("shutdown", "closed") as in Phoenix."""
        self.gone = True
        self._wakeup.set()
        self._outbox.clear()
        self.outgoing_bytes = 0
        if self.socket.id is not None:
            self.runtime.pubsub.unsubscribe(self.socket.id, self)
        for entry in list(self._entries.values()):
            self.runtime.close(entry.process.socket, self.end_reason)
        self._channels.clear()
