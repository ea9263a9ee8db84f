"""One client connection's channels: Phoenix.Socket's transport-side state machine.

A `Connection` takes the frames a client sends and turns them into runtime calls; it is the
`Transport` its channels deliver to, and it turns what they deliver into frames for the
client. It never waits: each input (a frame in, a channel's message, a close) is dealt with
at once and what goes back is queued. Whatever carries the frames (a WebSocket, LongPoll,
the harness's wire, the simulated phoenix.js client) does the I/O: it calls `receive` or
`handle`, takes the queued frames with `take_outgoing` when `on_output` says there are some,
and asks `hold_reading` whether to stop reading for now.

Frames are handled in order, as Phoenix's transport process handles them: a join holds the
frames after it, and what is sent meanwhile, until the channel has answered it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

import anyio

from .._runtime._clock import Timer, to_ns
from .._runtime._errors import PayloadError
from .._runtime._messages import Broadcast, Close, Exit, Message, Reason
from .._runtime._process import ChannelProcess
from .._runtime._results import Error, Ok
from .._runtime._runtime import Runtime
from .._runtime._socket import Socket
from ._serializer import Frame, FrameError, error_frame, frame_of, reply_frame
from ._serializers import V2, Serializer

logger = logging.getLogger("pytest_channels")

DUPLICATE_JOIN = ("shutdown", "duplicate_join")
"""The exit reason of the old channel of a duplicate join (Phoenix's `{:shutdown, :duplicate_join}`)."""

# WebSocket close codes (RFC 6455).
GOING_AWAY = 1001
INVALID_DATA = 1007
POLICY_VIOLATION = 1008
TOO_BIG = 1009
INTERNAL_ERROR = 1011
SERVICE_RESTART = 1012
TRY_AGAIN_LATER = 1013


class _Entry:
    """A channel the connection started: Phoenix's `channels` and `channels_inverse` rows in one."""

    __slots__ = ("after", "close_sent", "frame", "join_ref", "process", "status", "timer", "topic")

    def __init__(self, topic: str, join_ref: str | None, process: ChannelProcess, frame: Frame) -> None:
        self.topic = topic
        self.join_ref = join_ref
        self.process = process
        self.status = "joining"  # then "joined" or "leaving"
        self.close_sent = False
        self.frame: Frame | None = frame  # the join, until it is answered
        self.timer: Timer | None = None  # its join_timeout
        self.after: list[Frame] = []  # sent right after its reply: the phx_close of a duplicate join's old channel


class ById:
    """Phoenix's disconnect by id: a `"disconnect"` broadcast on a socket's id calls `disconnect`.

    `Endpoint.broadcast(socket_id, "disconnect", %{})` logs a user out everywhere: whoever
    serves the socket subscribes one of these on the id and closes the connection when told.
    """

    __slots__ = ("disconnect",)

    def __init__(self, disconnect: Callable[[], None]) -> None:
        self.disconnect = disconnect

    def receive_broadcast(self, broadcast: Broadcast) -> None:
        if broadcast.event == "disconnect":
            self.disconnect()


class Connection:
    """The channels of one client connection, and the frames going back to it.

    Args:
        runtime: a serving runtime.
        socket: the socket `connect` returned for this connection.
        name: how log lines name the connection (its peer address and handler).
        max_channels: Phoenix's `max_channels_per_transport`.
        max_outgoing_bytes: bytes of frames that may wait for a slow client; past them the
            waiting frames are dropped and the connection closes with 1013 ("slow consumer").
        max_mailbox: the client's frames that may wait in one channel's mailbox; then
            `hold_reading` tells the transport to stop reading the client.
        join_timeout: seconds of the runtime's clock a `join` may take before the join is
            answered with an error.
        serializer: the protocol version the client negotiated (V2 by default).
    """

    __slots__ = (
        "_by_id",
        "_channels",
        "_encode",
        "_entries",
        "_held",
        "_joining",
        "_outbox",
        "_pushed",
        "_resume",
        "_waiting",
        "close_code",
        "close_reason",
        "end_reason",
        "gone",
        "join_timeout",
        "last_frame",
        "max_channels",
        "max_mailbox",
        "max_outgoing_bytes",
        "name",
        "on_close",
        "on_output",
        "outgoing_bytes",
        "runtime",
        "send_now",
        "serializer",
        "socket",
    )

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
        self.on_output: Callable[[], None] | None = None
        """The transport's wakeup: frames were queued, or the connection is to close."""
        self.send_now: Callable[[str | bytes], bool] | None = None
        """A transport that can send a frame at once, when none waits: True if it took the frame."""
        self.on_close: Callable[[], None] | None = None
        """A transport that must act at once on a close (LongPoll ends its session)."""
        self.last_frame = 0.0
        """When the transport last read a frame (its clock), for its idle timeout."""
        self._channels: dict[str, _Entry] = {}
        self._entries: dict[ChannelProcess, _Entry] = {}
        self._outbox: list[str | bytes] = []
        self.outgoing_bytes = 0
        """Bytes of the frames waiting to be sent."""
        self._joining: _Entry | None = None  # the join being answered: frames and output wait behind it
        self._waiting: deque[Frame] | None = None  # the frames that came after it
        self._held: list[str | bytes] | None = None  # what was sent meanwhile
        self._resume: anyio.Event | None = None  # made for a transport that waits for the join's answer
        self._pushed: ChannelProcess | None = None  # the channel the last push went to, for backpressure
        self._by_id: ById | None = None
        if socket.id is not None:
            self._by_id = ById(self._disconnected)
            runtime.pubsub.subscribe(socket.id, self._by_id)

    def __repr__(self) -> str:
        return f"<Connection {self.name} channels={len(self._channels)}>"

    @property
    def stopped(self) -> bool:
        """Whether the connection is gone and every channel it started has stopped (its terminate ran)."""
        return self.gone and not self._entries

    def process(self, topic: str) -> ChannelProcess | None:
        """The channel joined (or joining, or leaving) on `topic`, if any."""
        entry = self._channels.get(topic)
        return entry.process if entry is not None else None

    # -- frames from the client -------------------------------------------------------------------

    def receive(self, data: str | bytes) -> None:
        """Decode and act on one frame as the client sent it; a bad one closes the connection.

        A frame that cannot be decoded or carried closes with 1007, and a failure of ours
        with 1011, costing this connection only: `close_code` says which.
        """
        try:
            self.handle(self.serializer.decode(data), decoded=True)
        except (FrameError, PayloadError) as exc:  # from the network: the client's frame is what is wrong
            logger.warning("%s: closed: %s", self.name, exc)
            self.request_close(INVALID_DATA, "invalid frame")
        except Exception:  # a bug of ours must cost this connection only, and say so
            logger.exception("%s: closed: handling a frame raised", self.name)
            self.request_close(INTERNAL_ERROR, "internal error")

    def handle(self, frame: Frame, *, decoded: bool = False) -> None:
        """Act on one decoded frame from the client, at once; behind an unanswered join, it waits its turn.

        `decoded`: the serializer made this frame from the client's bytes just now, so a push's
        payload is already what `to_wire` would make and goes to its channel as it is. Frames
        made otherwise (the harness's simulated client) are checked and copied as `push` does.

        Raises:
            FrameError: the frame cannot be carried to its channel.
            PayloadError: its payload could not have crossed the wire (`receive` closes with 1007
                for it; a simulated client or the harness's wire raises it to the test).
        """
        if self._waiting is not None:
            self._waiting.append(frame)
            return
        event = frame.event
        if event == "phx_join":
            self._join(frame)
        elif frame.topic == "phoenix" and event == "heartbeat":
            self._send(reply_frame(frame, "ok", {}))
        elif event == "phx_leave":
            self._leave(frame)
        else:
            self._push(frame, decoded)

    def hold_reading(self) -> anyio.Event | None:
        """What the transport should wait for before it reads the client's next frame, if anything.

        A join not yet answered holds the frames after it (Phoenix's transport is busy in the
        join), and a channel whose mailbox holds `max_mailbox` of the client's frames holds
        the client until it catches up: the client's frames then wait in its socket, not in
        our memory.
        """
        if self._waiting is not None:
            if self._resume is None:
                self._resume = anyio.Event()
            return self._resume
        process = self._pushed
        if process is not None and process.alive and len(process.mailbox) >= self.max_mailbox:
            process.room = process.room or anyio.Event()
            return process.room
        self._pushed = None
        return None

    def _join(self, frame: Frame) -> None:
        old = self._channels.pop(frame.topic, None)
        if old is not None:
            # Phoenix's duplicate join (or a rejoin while the old channel lives): the old channel
            # gets an exit signal, so it stops without terminate, and its phx_close follows the
            # new join's reply, which the client drops as stale.
            if old.status != "leaving":
                logger.debug(
                    "%s: duplicate join on %r closes the channel joined with %r", self.name, frame.topic, old.join_ref
                )
            old.process.kill(DUPLICATE_JOIN)
        close = Frame(old.join_ref, old.join_ref, frame.topic, "phx_close", {}) if old and not old.close_sent else None
        entry = self._start(frame)
        if close is None:
            return
        if entry is not None and entry.frame is not None:
            entry.after.append(close)
        else:
            self._send(close)

    def _start(self, frame: Frame) -> _Entry | None:
        if len(self._channels) >= self.max_channels:
            logger.warning(
                "%s: join of %r refused: %d channels joined already", self.name, frame.topic, self.max_channels
            )
            self._send(reply_frame(frame, "error", {"reason": "too many channels joined"}, join_ref=frame.join_ref))
            return None
        # Phoenix's `join_ref || ref`: a client that names no join_ref joins under its push ref.
        started = self._start_join(frame, frame.join_ref or frame.ref)
        if not isinstance(started, ChannelProcess):  # no route: Phoenix's reply carries no join_ref
            self._send(reply_frame(frame, "error", started.reply))
            return None
        entry = _Entry(frame.topic, started.socket.join_ref, started, frame)
        self._channels[frame.topic] = self._entries[started] = entry
        self._joining, self._waiting, self._held = entry, deque(), []
        clock = self.runtime.clock
        entry.timer = clock.call_at(
            clock.now_ns() + to_ns(self.join_timeout), lambda: self._join_timed_out(entry), f"{self.name}: join?"
        )
        return entry

    def _start_join(self, frame: Frame, join_ref: str | None) -> ChannelProcess | Error:
        return self.runtime.start_join(self.socket, frame.topic, frame.payload, self, join_ref=join_ref)

    def joined(self, process: ChannelProcess) -> None:
        """A channel's join has its result: answer it (the runtime calls this)."""
        entry = self._joining
        if entry is None or entry.process is not process:  # answered already (it timed out)
            return
        result = process.join_result
        if isinstance(result, Ok):
            entry.status = "joined"
            answer = self._answer(entry, "ok", result.reply)
            if answer is None:
                self._forget(entry)
                self.runtime.close(process.socket)
                answer = self._answer(entry, "error", {"reason": "join crashed"})
        else:
            self._forget(entry)
            refusal = result.reply if isinstance(result, Error) else {"reason": "join crashed"}
            answer = self._answer(entry, "error", refusal)
        self._answered(entry, answer)

    def _join_timed_out(self, entry: _Entry) -> None:
        if self._joining is not entry:
            return
        entry.timer = None
        logger.error("%s: %s.join on %r took over %ss", self.name, entry.process.name, entry.topic, self.join_timeout)
        self._forget(entry)
        self.runtime.close(entry.process.socket)
        self._answered(entry, self._answer(entry, "error", {"reason": "join timeout"}))

    def _answer(self, entry: _Entry, status: str, response: object) -> str | bytes | None:
        """The join's answer, encoded; None if it cannot travel."""
        assert entry.frame is not None
        try:
            return self._encode(reply_frame(entry.frame, status, response, join_ref=entry.frame.join_ref))
        except PayloadError as exc:
            logger.error("%s: the join reply cannot travel: %s", self.name, exc)
            return None

    def _answered(self, entry: _Entry, answer: str | bytes | None) -> None:
        """The join is answered: the answer goes out ahead of what waited behind it, then the frames
        after it are handled in turn."""
        entry.frame = None
        if entry.timer is not None:
            entry.timer.cancel()
            entry.timer = None
        held, waiting = self._held or [], self._waiting or deque()
        self._joining = self._waiting = self._held = None
        if answer is not None:
            self._queue(answer)
        for frame in entry.after:
            self._send(frame)
        entry.after = []
        for data in held:
            self._queue(data)
        while waiting and self._waiting is None:
            frame = waiting.popleft()
            try:
                self.handle(frame)
            except (FrameError, PayloadError) as exc:
                logger.warning("%s: closed: %s", self.name, exc)
                self.request_close(INVALID_DATA, "invalid frame")
                return
        if self._waiting is not None:  # another join: the rest waits behind it in turn
            self._waiting.extend(waiting)
        elif self._resume is not None:
            self._resume.set()
            self._resume = None

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

    def _push(self, frame: Frame, decoded: bool) -> None:
        entry = self._channels.get(frame.topic)
        if entry is None:
            logger.warning(
                "%s: %r on %r, which it has not joined: unmatched topic", self.name, frame.event, frame.topic
            )
            self._send(reply_frame(frame, "error", {"reason": "unmatched topic"}))
        elif frame.join_ref is None or frame.join_ref == entry.join_ref:
            process = entry.process
            if decoded:
                self.runtime._push_decoded(process, frame.event, frame.payload, frame.ref)
            else:
                self.runtime.push(process.socket, frame.event, frame.payload, ref=frame.ref)
            self._pushed = process
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

    def send_reply(self, topic: str, ref: str, status: str, response: object, join_ref: str | None) -> None:
        """Send a channel's reply to the client's push `ref`, encoded from `response` as the channel gave it.

        The frame is the only copy the reply needs, so the channel makes none first (see `Transport`).

        Raises:
            PayloadError: `response` cannot travel as it is.
        """
        self._send(Frame(join_ref, ref, topic, "phx_reply", {"status": status, "response": response}))

    def exited(self, exit: Exit) -> None:
        """A channel ended: one that did not close gracefully first crashed, and the client hears `phx_error`."""
        process = exit.channel_pid
        entry = self._entries.pop(process, None) if isinstance(process, ChannelProcess) else None
        if entry is None:
            return
        if self._joining is entry:  # it died joining: Phoenix answers the join "join crashed"
            self._forget(entry)
            self._answered(entry, self._answer(entry, "error", {"reason": "join crashed"}))
        elif self._channels.get(entry.topic) is entry:
            del self._channels[entry.topic]
            self._send(error_frame(entry.topic, entry.join_ref))

    def _disconnected(self) -> None:
        """A "disconnect" broadcast on the socket id closes the connection (code 1001), as in Phoenix."""
        if self.close_code is None and not self.gone:
            logger.info("%s: disconnected by a broadcast on %r", self.name, self.socket.id)
            self.request_close(GOING_AWAY, "disconnected")

    # -- frames to the client -------------------------------------------------------------------

    def _send(self, frame: Frame) -> None:
        # A payload that cannot travel raises PayloadError in whoever sent it: in a channel
        # that crashes it (the client sees phx_error), as Phoenix's encode! in the channel does.
        self._queue(self._encode(frame))

    def fastlane(self, broadcast: Broadcast) -> None:
        """A broadcast no channel intercepted: the frame its serializer encoded once for every subscriber."""
        try:
            data = self.serializer.fastlane(broadcast)
        except PayloadError as exc:  # this client cannot receive it; the other subscribers still do
            logger.error("%s: a broadcast is not sent to this client: %s", self.name, exc)
            return
        self._queue(data)

    def _queue(self, data: str | bytes) -> None:
        if self.close_code is not None or self.gone:
            return
        if self._held is not None and self._joining is not None:
            self._held.append(data)
            return
        self._put(data)

    def _put(self, data: str | bytes) -> None:
        if not self._outbox and self.send_now is not None and self.send_now(data):
            return  # nothing waits before it, and the transport sent it (a broadcast: to every subscriber)
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
        if len(self._outbox) == 1 and self.on_output is not None:
            self.on_output()

    def take_outgoing(self) -> list[str | bytes]:
        """Every frame waiting to be sent, in order, at once."""
        frames, self._outbox = self._outbox, []
        self.outgoing_bytes = 0
        return frames

    def request_close(self, code: int, reason: str) -> None:
        """Close the connection with `code` once the frames already queued are sent."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            if self.on_close is not None:
                self.on_close()
        if self.on_output is not None:
            self.on_output()

    def _forget(self, entry: _Entry) -> None:
        if self._channels.get(entry.topic) is entry:
            del self._channels[entry.topic]
        self._entries.pop(entry.process, None)

    # -- the end ----------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """The connection is gone: every channel stops with `end_reason`, ("shutdown", "closed") as in Phoenix."""
        self.gone = True
        self._outbox = []
        self.outgoing_bytes = 0
        if self._by_id is not None and self.socket.id is not None:
            self.runtime.pubsub.unsubscribe(self.socket.id, self._by_id)
            self._by_id = None
        joining = self._joining
        if joining is not None and joining.timer is not None:
            joining.timer.cancel()
        self._joining = self._waiting = self._held = None
        if self._resume is not None:
            self._resume.set()
            self._resume = None
        for entry in list(self._entries.values()):
            self.runtime.close(entry.process.socket, self.end_reason)
        self._channels.clear()
        if self.on_output is not None:
            self.on_output()
