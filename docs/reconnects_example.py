"""The tests from docs/reconnects.md: connections that fail, and what the official JavaScript client does."""

from __future__ import annotations

import pytest
from chat_app import ChatSocket

from pytest_channels import Exit
from pytest_channels.testing import ChannelCase


def test_the_client_rejoins_a_crashed_channel_after_one_second(channels: ChannelCase) -> None:
    client = channels.client(ChatSocket, {"name": "ada"})
    client.connect()
    room = client.channel("room:lobby")
    room.join()
    room.push("say", {"body": "hello"})
    channels.settle()
    assert room.socket is not None
    assert channels.get_state(room.socket).assigns["sent"] == 1

    channels.crash(room.socket)  # Process.exit(pid, :kill): terminate does not run
    channels.settle()
    assert room.state == "errored"  # the client got phx_error

    channels.wait_until(lambda: room.state == "joined", timeout=5)
    assert channels.now == 1.0
    assert room.states == ["joining", "joined", "errored", "joining", "joined"]
    assert room.socket is not None
    assert channels.get_state(room.socket).assigns["sent"] == 0  # a fresh channel: memory is gone


def test_a_refused_join_is_retried_after_1_2_5_then_10_seconds(channels: ChannelCase) -> None:
    client = channels.client(ChatSocket, {"name": "ada"})  # not staff: room:staff refuses her
    client.connect()
    staff = client.channel("room:staff")
    join = staff.join()

    channels.advance(20)

    assert (join.status, join.response) == ("error", {"reason": "unauthorized"})
    attempts = [event.at for event in staff.history if event.what == "joining"]
    assert attempts == [0, 1, 3, 8, 18]


def test_a_lost_connection_is_retried_and_its_channels_rejoin(channels: ChannelCase) -> None:
    client = channels.client(ChatSocket, {"name": "ada"})
    client.connect()
    room = client.channel("room:lobby")
    room.join()
    channels.settle()

    client.lose_connection()  # the network fails: code 1006
    channels.settle()
    assert (client.state, room.state) == ("closed", "errored")
    assert [exit.reason for exit in channels.exits] == [("shutdown", "closed")]  # the server side

    channels.wait_until(lambda: room.state == "joined", timeout=1)
    assert channels.now == 0.01  # the first of 10, 50, 100, 150, 200, 250, 500, 1000, 2000 ms, then 5 s
    assert client.events == ["connecting", "open", "closed 1006", "connecting", "open"]


def test_a_push_whose_channel_crashed_times_out_after_ten_seconds(channels: ChannelCase) -> None:
    client = channels.client(ChatSocket, {"name": "ada"})
    client.connect()
    room = client.channel("room:lobby")
    room.join()
    channels.settle()
    assert room.socket is not None

    ping = room.push("ping", {"n": 1})
    channels.crash(room.socket)  # before the channel handled the push
    channels.advance(10)

    assert (ping.status, ping.response) == ("timeout", {})


def test_disconnecting_a_user_closes_their_connections_everywhere(channels: ChannelCase) -> None:
    cluster = channels.cluster("web1", "web2")
    ada = channels.client(ChatSocket, {"name": "ada"}, node="web1")
    bob = channels.client(ChatSocket, {"name": "bob"}, node="web1")
    for client in (ada, bob):
        client.connect()
        client.channel("room:lobby").join()
    channels.settle()

    # Phoenix: MyAppWeb.Endpoint.broadcast("user:ada", "disconnect", %{}), from any node
    cluster["web2"].runtime.broadcast("user:ada", "disconnect", {})
    channels.settle()

    assert ada.events[-1] == "closed 1001"  # the server closed it; phoenix.js reconnects
    assert bob.events[-1] == "open"
    channels.wait_until(lambda: ada.connected, timeout=1)


def test_the_plain_harness_stops_the_channels_of_a_disconnected_socket_id(channels: ChannelCase) -> None:
    socket = channels.connect(ChatSocket, {"name": "ada"}).socket
    channels.join(socket, "room:lobby")

    channels.runtime.broadcast("user:ada", "disconnect", {})

    channels.assert_broadcast("disconnect", topic="user:ada")  # as in Phoenix.ChannelTest
    channels.settle()
    assert channels.exits == (Exit("room:lobby", "RoomChannel", ("shutdown", "closed")),)


def test_a_clean_disconnect_never_reconnects(channels: ChannelCase) -> None:
    client = channels.client(ChatSocket, {"name": "ada"})
    client.connect()
    channels.settle()

    client.disconnect()  # socket.disconnect(): code 1000
    channels.advance(60)

    assert client.events == ["connecting", "open", "closed 1000"]


def test_crash_and_lose_connection_need_something_to_break(channels: ChannelCase) -> None:
    client = channels.client(ChatSocket, {"name": "ada"})
    with pytest.raises(RuntimeError, match=r"^client 1 has no open connection to lose \(it is closed\)$"):
        client.lose_connection()
    with pytest.raises(ValueError, match=r"^crash needs a joined socket"):
        channels.crash(channels.socket(ChatSocket))
