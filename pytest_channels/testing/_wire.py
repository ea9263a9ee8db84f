"""The `wire` setting: the harness's messages go through the real serializer, both ways.

A test without it hands Python values straight to channels and takes theirs straight
back. With it, everything crosses as it would over a `ChannelsApp` connection to the
official JavaScript client: connect params become a query string (every value a string),
join payloads and pushes become client frames the server decodes, and what channels send
becomes server frames that the client decodes. A payload the real wire would change or
refuse then fails in the unit test, not in production.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._runtime._channel import Channel
from .._runtime._errors import PayloadError
from .._runtime._messages import Close, Exit, Message, Reason, new_push, new_reply
from .._runtime._payload import to_wire
from .._runtime._process import ChannelProcess
from .._runtime._results import Error
from .._runtime._runtime import Runtime
from .._runtime._socket import Socket
from .._server._multiplexer import DUPLICATE_JOIN, Connection
from .._server._serializer import (
    VSN,
    Frame,
    FrameError,
    decode,
    decode_client,
    decode_params,
    encode_client,
    encode_params,
)
from ._mailbox import Mailbox

JS_SAFE_INTEGER = 2**53 - 1
"""Integers beyond this reach a JavaScript client rounded (Number.MAX_SAFE_INTEGER)."""

_HINT = " (the channels wire setting is on: a real connection would refuse this)"


def connect_params(params: Mapping[str, Any] | None) -> dict[str, str]:
    """The params `connect` gets when phoenix.js sends `params` in the WebSocket URL."""
    query = encode_params({**to_wire(params, where="connect params", check=False), "vsn": VSN})
    return decode_params(query)


def client_frame(join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> Frame:
    """The frame the server decodes when phoenix.js sends `payload`: encoded by the client, decoded by the server.

    Raises:
        PayloadError: the client could not send it, or the server would refuse the frame.
    """
    normalized = to_wire(payload, where=f"{event!r} on {topic!r}", check=False)
    try:
        return decode(encode_client(Frame(join_ref, ref, topic, event, normalized)))
    except (PayloadError, FrameError) as exc:
        raise PayloadError(f"{exc}{_HINT}") from None


def _check_numbers(value: Any, where: str, path: str) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int) and abs(value) > JS_SAFE_INTEGER:
        raise PayloadError(
            f"{where}: {path} = {value} is beyond JavaScript's safe integers (2**53 - 1): "
            f"phoenix.js would receive it rounded. Send it as a string{_HINT}"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _check_numbers(item, where, f"{path}[{key!r}]")
    elif isinstance(value, (list, tuple)):  # a reply's payload comes as the channel gave it, tuples and all
        for index, item in enumerate(value):
            _check_numbers(item, where, f"{path}[{index}]")


def message_of(frame: Frame, now: int, *, reason: Reason = "normal", origin: str | None = None) -> Message | None:
    """What phoenix.js makes of a server frame: a `Reply`, a `Close` (the frame carries no reason:
    `reason` stands for it) or a `Push`; None for a `phx_error`, which the client handles itself."""
    topic, join_ref, event, payload = frame.topic, frame.join_ref, frame.event, frame.payload
    if event == "phx_reply":
        return new_reply(topic, frame.ref or "", payload["status"], payload["response"], join_ref, now)
    if event == "phx_close":
        return Close(topic, reason, join_ref, now)
    if event == "phx_error":
        return None
    return new_push(topic, event, payload, join_ref, now, origin)


class WireConnection(Connection):
    """The server's own connection state machine, with the test as its client.

    The harness sends client frames into it (encoded as phoenix.js does, decoded as the
    server does) and it answers with the server's frames, which the test's mailbox gets as
    phoenix.js decodes them. So a unit test sees what a real client would: a duplicate join
    closes the old channel, a stale join_ref is dropped, a push to a crashed channel is an
    "unmatched topic" error, the channel limit holds. A `phx_error` frame is the crash's
    `Exit`, which the test claims with `assert_exit`; a `phx_close` keeps the reason the
    channel stopped with, for the test to read, though the frame carries none.
    """

    def __init__(self, runtime: Runtime, socket: Socket, mailbox: Mailbox) -> None:
        handler = socket.handler.__qualname__ if socket.handler is not None else "a socket"
        super().__init__(runtime, socket, name=f"the test's {handler} connection")
        self.mailbox = mailbox
        self.on_close = self.shutdown  # no socket to close: the connection ends at once, as the server's would
        self.channel: type[Channel] | None = None  # the next join's `channel=`, if the test gave one
        self.started: ChannelProcess | Error | None = None
        self._join_ref: str | None = None
        self.answer: Frame | None = None  # the reply to the last join
        self._reasons: dict[tuple[str, str | None], Reason] = {}

    def join(self, frame: Frame, channel: type[Channel] | None) -> None:
        """Send a `phx_join`; `answer` and `started` tell the rest once `join_over`."""
        self.channel, self._join_ref, self.answer, self.started = channel, frame.ref, None, None
        try:
            self.handle(frame)
        finally:
            self.channel = None

    @property
    def join_over(self) -> bool:
        """Whether the last join was answered, or never will be (the connection closed)."""
        return self.answer is not None or self.gone

    def _start_join(self, frame: Frame, join_ref: str | None) -> ChannelProcess | Error:
        self.started = self.runtime.start_join(
            self.socket, frame.topic, frame.payload, self, channel=self.channel, join_ref=join_ref
        )
        return self.started

    def deliver(self, message: Message) -> None:
        if isinstance(message, Close):
            self._reasons[(message.topic, message.join_ref)] = message.reason
        super().deliver(message)

    def _send(self, frame: Frame) -> None:
        payload = frame.payload
        if frame.event == "phx_reply" and isinstance(payload, Mapping):
            _check_numbers(payload.get("response"), f"the reply to ref {frame.ref!r} on {frame.topic!r}", "payload")
        else:
            _check_numbers(payload, f"{frame.event!r} on {frame.topic!r}", "payload")
        try:
            super()._send(frame)
        except PayloadError as exc:
            raise PayloadError(f"{exc}{_HINT}") from None

    def _put(self, data: str | bytes) -> None:
        # What the server would send, decoded as phoenix.js decodes it, lands in the mailbox at once.
        frame = decode_client(data)
        if frame.event == "phx_reply" and frame.ref is not None and frame.ref == self._join_ref:
            self.answer, self._join_ref = frame, None
            return
        # Only a duplicate join sends a phx_close that no Close was delivered for.
        reason = self._reasons.pop((frame.topic, frame.join_ref), DUPLICATE_JOIN) if frame.event == "phx_close" else ""
        message = message_of(frame, self.runtime.clock.now_ns(), reason=reason)
        if message is not None:  # a crash (phx_error) reaches the test as its Exit
            self.mailbox.deliver(message, self)  # `socket=` in an assertion names this connection

    def exited(self, exit: Exit) -> None:
        super().exited(exit)
        self.mailbox.exited(exit)
