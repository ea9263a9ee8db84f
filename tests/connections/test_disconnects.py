"""Connections that fail in the plain harness: disconnect by socket id, and crashing a channel on purpose."""

from __future__ import annotations

from typing import Any

import pytest
from hello_sockets.sockets import TOKEN_SALT, AuthSocket

from pytest_channels import Channel, Exit, JoinResult, NodeStopped, Reason, Socket, ok
from pytest_channels.testing import ChannelCase

TERMINATED: list[tuple[str | None, Reason]] = []


@pytest.fixture(autouse=True)
def _forget() -> None:
    TERMINATED.clear()


class Feed(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.send_after(5, "tick")
        return ok(socket.assign(secret="kept in memory"))

    def terminate(self, reason: Reason, socket: Socket) -> None:
        TERMINATED.append((socket.id, reason))


def connect(channels: ChannelCase, user: int, node: str | None = None) -> Socket:
    token = channels.runtime.tokens.sign(TOKEN_SALT, user)
    return channels.connect(AuthSocket, {"token": token}, node=node).socket


def test_a_disconnect_broadcast_on_the_socket_id_closes_every_channel_connected_with_it(
    channels: ChannelCase,
) -> None:
    ada, bob = connect(channels, 1), connect(channels, 2)
    for socket in (ada, bob):
        for topic in ("feed:a", "feed:b"):
            channels.join(socket, topic, channel=Feed)
    channels.runtime.broadcast("auth_socket:1", "disconnect", {})
    channels.assert_broadcast("disconnect", topic="auth_socket:1")  # Phoenix's ChannelTest parity
    channels.settle()
    assert TERMINATED == [("auth_socket:1", ("shutdown", "closed"))] * 2
    assert {e.topic for e in channels.exits} == {"feed:a", "feed:b"}
    assert [p.socket.id for p in channels.runtime.channels] == ["auth_socket:2"] * 2


def test_a_disconnect_on_one_node_closes_the_users_sockets_on_every_node(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.join(connect(channels, 1, node="server"), "feed", channel=Feed)
    channels.join(connect(channels, 1, node="remote"), "feed", channel=Feed)
    cluster["remote"].runtime.broadcast("auth_socket:1", "disconnect", {})
    channels.settle()
    assert sorted(str(r) for _, r in TERMINATED) == ["('shutdown', 'closed')"] * 2
    assert cluster["server"].runtime.channels == cluster["remote"].runtime.channels == []


def test_other_events_on_the_socket_id_close_nothing(channels: ChannelCase) -> None:
    channels.join(connect(channels, 1), "feed", channel=Feed)
    channels.runtime.broadcast("auth_socket:1", "hello", {})
    channels.settle()
    assert TERMINATED == []


def test_crash_kills_a_channel_without_terminate_and_its_state_is_gone(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "feed", channel=Feed)
    exit = channels.crash(socket)
    assert exit == Exit("feed", "Feed", "killed")
    assert TERMINATED == []
    channels.advance(10)  # its timer died with it, and the crash is claimed: nothing fails
    with pytest.raises(AssertionError, match=r"^get_state: Feed on 'feed' is not running: it exited at t=0\.000s"):
        channels.get_state(socket)
    again = channels.join(channels.socket(), "feed", channel=Feed).socket
    assert channels.get_state(again).assigns == {"secret": "kept in memory"}  # a fresh copy, from join


def test_crash_takes_any_reason_and_an_exited_channel_returns_its_exit(channels: ChannelCase) -> None:
    socket = channels.join(channels.socket(), "feed", channel=Feed).socket
    failure = ValueError("injected")
    assert channels.crash(socket, failure).reason is failure
    assert channels.crash(socket, "again").reason is failure


def test_crash_on_a_stopped_node_says_the_node_stopped(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    socket = channels.join(channels.socket(node="remote"), "feed", channel=Feed).socket
    cluster.stop("remote")
    with pytest.raises(NodeStopped, match=r"^crash: node 'remote' was stopped"):
        channels.crash(socket)


def test_crash_needs_a_joined_socket(channels: ChannelCase) -> None:
    with pytest.raises(ValueError, match=r"^crash needs a joined socket"):
        channels.crash(channels.socket())


@pytest.mark.channels(wire=True)
def test_a_disconnect_closes_the_channels_through_the_wire_too(channels: ChannelCase) -> None:
    channels.join(connect(channels, 1), "feed", channel=Feed)
    channels.runtime.broadcast("auth_socket:1", "disconnect", {})
    channels.settle()
    assert TERMINATED == [("auth_socket:1", ("shutdown", "closed"))]
