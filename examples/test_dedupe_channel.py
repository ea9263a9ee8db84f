"""The chapter's DedupeChannelTest, with the 1,050 ms sleeps replaced by virtual time."""

from __future__ import annotations

from hello_sockets.dedupe_channel import broadcast
from hello_sockets.sockets import UserSocket

from pytest_channels import Push, Socket
from pytest_channels.testing import ChannelCase


def broadcast_number(channels: ChannelCase, socket: Socket, number: int) -> Socket:
    assert channels.broadcast_from(socket, "number", {"number": number}) is None
    return socket


def validate_buffer_contents(channels: ChannelCase, socket: Socket, expected: list[int]) -> Socket:
    assert channels.get_state(socket).assigns == {"awaiting_buffer?": True, "buffer": expected}
    return socket


def connect(channels: ChannelCase) -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(UserSocket, None, {}), "dupe", {})


def test_a_buffer_is_maintained_as_numbers_are_broadcasted(channels: ChannelCase) -> None:
    socket = connect(channels)
    broadcast_number(channels, socket, 1)
    validate_buffer_contents(channels, socket, [1])
    broadcast_number(channels, socket, 1)
    validate_buffer_contents(channels, socket, [1, 1])
    broadcast_number(channels, socket, 2)
    validate_buffer_contents(channels, socket, [2, 1, 1])

    channels.refute_push()


def test_the_buffer_is_drained_1_second_after_a_number_is_first_added(channels: ChannelCase) -> None:
    socket = connect(channels)
    for number in (1, 1, 2):
        broadcast_number(channels, socket, number)

    channels.advance(1.05)  # Phoenix: Process.sleep(1050)

    channels.assert_push("number", {"value": 1}, timeout=0)
    channels.refute_push("number", {"value": 1}, timeout=0)
    channels.assert_push("number", {"value": 2}, timeout=0)


def test_the_buffer_drains_exactly_when_the_first_number_is_1_second_old(channels: ChannelCase) -> None:
    socket = connect(channels)
    broadcast_number(channels, socket, 1)

    channels.refute_push(timeout=0.999)
    push = channels.assert_push("number", {"value": 1}, timeout=0.001)
    assert push.at_ns == 1_000_000_000


def test_the_buffer_drains_with_unique_values_in_the_correct_order(channels: ChannelCase) -> None:
    socket = connect(channels)
    for number in (1, 2, 3, 2):
        broadcast_number(channels, socket, number)

    channels.advance(1.05)

    assert channels.mailbox == (
        Push("dupe", "number", {"value": 1}, socket.join_ref),
        Push("dupe", "number", {"value": 2}, socket.join_ref),
        Push("dupe", "number", {"value": 3}, socket.join_ref),
    )


def test_broadcasting_1_2_3_a_hundred_times_yields_3_pushes(channels: ChannelCase) -> None:
    connect(channels)
    broadcast(channels.runtime, [1, 2, 3], 100)

    channels.advance(1)

    pushes = [m for m in channels.flush() if isinstance(m, Push)]  # the test also got the 300 Broadcasts
    assert [m.payload for m in pushes] == [{"value": 1}, {"value": 2}, {"value": 3}]
