"""The `wire` setting: the harness's messages go through the real serializer, both ways.

A test without it hands Python values straight to channels and takes theirs straight
back. With it, everything crosses as it would over a `ChannelsApp` connection to the
official JavaScript client: connect params become a query string (every value a string),
join payloads and pushes become client frames the server decodes, and what channels send
becomes server frames that the client decodes. A payload the real wire would change or
refuse then fails in the unit test, not in production.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .._errors import PayloadError
from .._messages import Close, Exit, Message, Push, Reply
from .._payload import to_wire
from .._serializer import (
    VSN,
    Frame,
    FrameError,
    decode,
    decode_client,
    decode_params,
    encode,
    encode_client,
    encode_params,
    frame_of,
)
from ._mailbox import Mailbox

JS_SAFE_INTEGER = 2**53 - 1
"""Integers beyond this reach a JavaScript client rounded (Number.MAX_SAFE_INTEGER)."""

_HINT = " (the channels wire setting is on: a real connection would refuse this)"


def connect_params(params: Mapping[str, Any] | None) -> dict[str, str]:
    """The params `connect` gets when phoenix.js sends `params` in the WebSocket URL."""
    query = encode_params({**to_wire(params, where="connect params", check=False), "vsn": VSN})
    return decode_params(query)


def client_payload(topic: str, event: str, payload: Any, join_ref: str | None, ref: str | None) -> Any:
    """What the channel gets when the client pushes `payload`: encoded as phoenix.js does, decoded as the server does.

    Raises:
        PayloadError: the client could not send it, or the server would refuse the frame.
    """
    normalized = to_wire(payload, where=f"{event!r} on {topic!r}", check=False)
    try:
        return decode(encode_client(Frame(join_ref, ref, topic, event, normalized))).payload
    except (PayloadError, FrameError) as exc:
        raise PayloadError(f"{exc}{_HINT}") from None


def through_wire(message: Message) -> Message:
    """`message` as the client sees it after the server encoded it and phoenix.js decoded it.

    Raises:
        PayloadError: the server could not encode it, or JavaScript would change a number in it.
    """
    if not isinstance(message, (Push, Reply, Close)):
        return message
    try:
        frame = decode_client(encode(frame_of(message)))
    except PayloadError as exc:
        raise PayloadError(f"{exc}{_HINT}") from None
    if isinstance(message, Push):
        _check_numbers(frame.payload, f"{message.event!r} on {message.topic!r}", "payload")
        return dataclasses.replace(message, payload=frame.payload)
    if isinstance(message, Reply):
        status, response = frame.payload["status"], frame.payload["response"]
        _check_numbers(response, f"the reply to ref {message.ref!r} on {message.topic!r}", "payload")
        return dataclasses.replace(message, status=status, payload=response)
    return message  # a Close's frame is always {} on the wire; the reason stays for the test to read


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
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_numbers(item, where, f"{path}[{index}]")


class WireTransport:
    """The harness's transport with the wire in between; exits pass straight through."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    def deliver(self, message: Message) -> None:
        self.mailbox.deliver(through_wire(message))

    def exited(self, exit: Exit) -> None:
        self.mailbox.exited(exit)
