"""`strict_mailbox` counts what the test could have asserted on, and not what the harness itself caused."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_channels import Channel, InfoResult, JoinResult, Socket, noreply, ok
from pytest_channels.testing import ChannelCase, Settings


class Greeter(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.send("after_join")
        return ok(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.push("hello", {})
        return noreply(socket)


@pytest.mark.parametrize("wire", [False, True], ids=["in process", "through the wire"])
def test_the_reply_and_close_of_a_leave_are_no_leftovers(wire: bool) -> None:
    # leave returns the Exit, not a ref: its ok Reply and its Close cannot be asserted on.
    with ChannelCase(Settings(strict_mailbox=True, wire=wire)) as channels:
        socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Greeter)
        channels.assert_push("hello")
        assert channels.leave(socket).reason == ("shutdown", "left")


@pytest.mark.parametrize("wire", [False, True], ids=["in process", "through the wire"])
def test_what_the_channel_sent_before_a_leave_is_still_a_leftover(wire: bool) -> None:
    channels = ChannelCase(Settings(strict_mailbox=True, wire=wire))
    with pytest.raises(AssertionError, match=r"strict_mailbox: 1 message\(s\) were left(.|\n)*'hello'"), channels:
        channels.leave(channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Greeter))
