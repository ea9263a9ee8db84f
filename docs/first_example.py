"""The README's first example, collected and run with the test suite."""

from __future__ import annotations

from typing import Any

from pytest_channels import Channel, InfoResult, JoinResult, Socket, noreply, ok
from pytest_channels.testing import ChannelCase


class DedupeChannel(Channel):
    """Buffers "number" broadcasts and pushes the unique values one second after the first."""

    intercept = ("number",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        if not socket.assigns.get("buffer"):
            self.send_after(1.0, "flush")
        return noreply(socket.assign(buffer=[*socket.assigns.get("buffer", []), payload["number"]]))

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        for number in dict.fromkeys(socket.assigns["buffer"]):
            self.push("number", {"value": number})
        return noreply(socket.assign(buffer=[]))


def test_the_buffer_drains_one_second_after_the_first_number(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "dupe", channel=DedupeChannel)
    for number in (1, 1, 2):
        channels.broadcast_from(socket, "number", {"number": number})

    channels.refute_push("number", timeout=0.999)  # nothing before the second is up
    channels.assert_push("number", {"value": 1}, timeout=0.001)
    channels.assert_push("number", {"value": 2}, timeout=0)
