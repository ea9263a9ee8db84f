"""`channels.messages(...)` filters the mailbox without consuming; `socket=` says which client got a push."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_channels import Broadcast, Channel, InResult, JoinResult, Push, Reply, Socket, noreply, ok, reply
from pytest_channels.testing import ChannelCase, Partial, Settings


class Room(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket.assign(name=payload["name"]))

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "ask":
            return reply(socket, "ok", {"for": socket.assigns["name"]})
        self.push(event, {"to": socket.assigns["name"], **payload})
        return noreply(socket)


def join(channels: ChannelCase, name: str, topic: str = "room:1") -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(), topic, {"name": name}, channel=Room)


def test_messages_filters_by_kind_event_payload_and_topic_and_consumes_nothing(channels: ChannelCase) -> None:
    alice = join(channels, "alice")
    bob = join(channels, "bob", "room:2")
    channels.push(alice, "said", {"n": 1})
    channels.push(bob, "said", {"n": 2})
    channels.push(alice, "other", {})
    ref = channels.push(alice, "ask")
    channels.runtime.broadcast("room:1", "news", {})
    channels.settle()
    before = channels.mailbox
    assert [m.payload for m in channels.messages(Push, "said")] == [{"to": "alice", "n": 1}, {"to": "bob", "n": 2}]
    assert channels.messages(Push, "said", topic="room:2") == (Push("room:2", "said", {"to": "bob", "n": 2}, "2"),)
    assert len(channels.messages(payload=Partial(to="alice"))) == 2
    assert [type(m) for m in channels.messages(event="news")] == [Broadcast, Push]  # the test's and alice's
    assert channels.messages(Reply) == (Reply("room:1", ref, "ok", {"for": "alice"}, alice.join_ref),)
    assert channels.messages(Reply, event="said") == ()  # a reply has no event
    assert channels.mailbox == before


def test_socket_tells_which_client_got_a_push_on_a_shared_topic(channels: ChannelCase) -> None:
    alice = join(channels, "alice")
    bob = join(channels, "bob")
    channels.runtime.broadcast("room:1", "news", {"n": 1})  # fastlane: one Push each, no join_ref
    channels.push(bob, "said", {})
    channels.settle()
    assert len(channels.messages(Push, "news")) == 2
    assert len(channels.messages(Push, "news", socket=alice)) == 1
    assert channels.messages(Push, "said", socket=alice) == ()
    channels.assert_push("news", socket=bob)
    channels.refute_push("news", socket=bob, timeout=0)
    channels.assert_push("news", socket=alice)
    channels.refute_push("said", socket=alice, timeout=0)
    channels.assert_push("said", socket=bob)


def test_a_push_to_the_wrong_client_is_the_hint(channels: ChannelCase) -> None:
    alice = join(channels, "alice")
    bob = join(channels, "bob")
    channels.push(bob, "said", {})
    with pytest.raises(AssertionError) as info:
        channels.assert_push("said", socket=alice)
    lines = str(info.value).splitlines()
    assert lines[1] == "Expected: Push(socket=<Room on 'room:1', join_ref '1'>, event='said')"
    assert lines[-2] == (
        "Hint: the nearest message (same event) differs in socket "
        "(it went to another client than <Room on 'room:1', join_ref '1'>)."
    )
    assert alice.join_ref == "1"


def test_socket_must_be_a_joined_socket(channels: ChannelCase) -> None:
    with pytest.raises(ValueError, match="this socket has not joined a channel"):
        channels.assert_push("x", socket=channels.socket())


def test_socket_works_through_the_wire_too() -> None:
    with ChannelCase(Settings(wire=True)) as channels:
        alice = join(channels, "alice")
        bob = join(channels, "bob")
        channels.runtime.broadcast("room:1", "news", {})
        channels.assert_push("news", socket=alice)
        channels.refute_push("news", socket=alice, timeout=0)
        channels.assert_push("news", socket=bob)


@pytest.mark.parametrize("wire", [False, True], ids=["in process", "through the wire"])
def test_socket_tells_apart_two_joins_of_one_socket_whose_frames_share_a_connection(wire: bool) -> None:
    with ChannelCase(Settings(wire=wire, strict_mailbox=True)) as channels:
        socket = channels.socket()
        one = channels.join(socket, "room:1", {"name": "one"}, channel=Room).socket
        two = channels.join(socket, "room:2", {"name": "two"}, channel=Room).socket
        channels.push(two, "said", {})
        channels.settle()
        assert channels.messages(Push, "said", socket=one) == ()
        channels.refute_push("said", socket=one, timeout=0)
        with pytest.raises(AssertionError, match="differs in socket"):
            channels.assert_push("said", socket=one, timeout=0)
        channels.assert_push("said", {"to": "two"}, socket=two)
