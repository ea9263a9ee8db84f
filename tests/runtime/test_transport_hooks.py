"""The runtime's hooks for a network transport: binary payloads, the client's join_ref, close reasons."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from pytest_channels import (
    Channel,
    Exit,
    InResult,
    JoinResult,
    Message,
    Ok,
    PayloadError,
    Push,
    Reason,
    Reply,
    Runtime,
    Socket,
    ok,
    reply,
)
from pytest_channels.testing import ChannelCase

terminated: list[Reason] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    terminated.clear()


class Binary(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "reverse":
            return reply(socket, "ok", bytes(reversed(payload)))
        self.push("raw", bytearray(b"\x00\xff"))
        return reply(socket, "ok", {"type": type(payload).__name__})

    def terminate(self, reason: Reason, socket: Socket) -> None:
        terminated.append(reason)


def test_a_binary_payload_reaches_the_channel_and_comes_back_as_bytes(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "bin", channel=Binary)
    ref = channels.push(socket, "reverse", b"\x01\x02\x03")
    channels.assert_reply(ref, "ok", b"\x03\x02\x01")


def test_a_bytearray_push_arrives_as_immutable_bytes(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "bin", channel=Binary)
    channels.push(socket, "other", memoryview(b"x"))
    channels.assert_reply(channels.push(socket, "other", b"y"), "ok", {"type": "bytes"})
    push = channels.assert_push("raw")
    assert push.payload == b"\x00\xff"
    assert type(push.payload) is bytes


def test_bytes_inside_a_json_payload_are_still_refused(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "bin", channel=Binary)
    with pytest.raises(PayloadError, match=r"payload\['blob'\] = b'x' \(bytes\) cannot be sent as JSON"):
        channels.push(socket, "other", {"blob": b"x"})


def test_close_takes_the_reason_the_channel_terminates_with(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "bin", channel=Binary)
    channels.runtime.close(socket, ("shutdown", "duplicate_join"))
    channels.settle()
    assert terminated == [("shutdown", "duplicate_join")]
    assert channels.mailbox == ()  # a close never tells the client; the transport does
    assert channels.exits[0].reason == ("shutdown", "duplicate_join")


class Collect:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.replied = anyio.Event()

    def deliver(self, message: Message) -> None:
        self.messages.append(message)
        if isinstance(message, Reply):
            self.replied.set()

    def exited(self, exit: Exit) -> None:
        pass


def test_a_serving_join_keeps_the_clients_join_ref_on_everything_it_sends() -> None:
    async def main() -> list[Message]:
        runtime = Runtime()
        transport = Collect()
        async with runtime.serving():
            joined = await runtime.join(runtime.socket(), "bin", {}, transport, channel=Binary, join_ref="42")
            assert isinstance(joined, Ok)
            assert joined.socket.join_ref == "42"
            runtime.push(joined.socket, "other", {}, ref="43")
            await transport.replied.wait()
        return transport.messages

    messages = anyio.run(main)
    assert messages == [Push("bin", "raw", b"\x00\xff", "42"), Reply("bin", "43", "ok", {"type": "dict"}, "42")]
