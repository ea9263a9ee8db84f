"""The tests from docs/presence.md: the presence guide on one node, on a cluster, and as a client sees it."""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

from pytest_channels import Channel, InfoResult, JoinResult, Presence, Socket, SocketHandler, noreply, ok, route
from pytest_channels.testing import ChannelCase, ClientPresence


class MyPresence(Presence):
    """use Phoenix.Presence, otp_app: :my_app, pubsub_server: MyApp.PubSub"""


class RoomChannel(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.send("after_join")
        return ok(socket.assign(user_id=payload["user_id"]))

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        MyPresence.track(socket, socket.assigns["user_id"], {"status": "online"})
        self.push("presence_state", MyPresence.list(socket))
        return noreply(socket)


class UserSocket(SocketHandler):
    channels = (route("room:*", RoomChannel),)


def test_joining_pushes_the_state_and_broadcasts_the_join(channels: ChannelCase) -> None:
    channels.subscribe_and_join(channels.socket(), "room:lobby", {"user_id": 123}, channel=RoomChannel)

    channels.assert_push("presence_state", {"123": {"metas": [{"status": "online", "phx_ref": ANY}]}})
    channels.assert_broadcast(
        "presence_diff", {"joins": {"123": {"metas": [{"status": "online", "phx_ref": ANY}]}}, "leaves": {}}
    )
    channels.assert_presence(MyPresence, "room:lobby", {"123": [{"status": "online"}]})


def test_a_partitioned_node_leaves_after_the_down_period_and_returns_on_heal(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.join(channels.socket(node="server"), "room:lobby", {"user_id": 1}, channel=RoomChannel)
    channels.join(channels.socket(node="remote"), "room:lobby", {"user_id": 2}, channel=RoomChannel)
    channels.assert_presence(MyPresence, "room:lobby", {"1", "2"}, node="remote", timeout=1.5)

    cluster.network.partition(["server"], ["remote"])
    channels.advance(29)  # the down period is 30 s: still listed
    assert set(channels.presence_list(MyPresence, "room:lobby", node="remote")) == {"1", "2"}
    channels.assert_presence(MyPresence, "room:lobby", {"2"}, node="remote", timeout=3)

    cluster.network.heal()  # back with server's next heartbeat (within 15 s when nothing changes)
    channels.assert_presence(MyPresence, "room:lobby", {"1", "2"}, node="remote", timeout=15)


def test_the_javascript_client_keeps_its_list_in_sync(channels: ChannelCase) -> None:
    first, second = channels.client(UserSocket), channels.client(UserSocket)
    rooms = []
    for user_id, client in enumerate((first, second), start=1):
        client.connect()
        room = client.channel("room:lobby", {"user_id": user_id})
        rooms.append((room, ClientPresence(room)))  # let presence = new Presence(channel)
        room.join()

    channels.assert_presence(rooms[0][1], {"1", "2"})
    rooms[1][0].leave()
    channels.assert_presence(rooms[0][1], {"1"})


def test_every_test_the_presence_page_cites_exists() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).parents[1]
    cited = set(re.findall(r"`(test_\w+)`", (root / "docs" / "presence.md").read_text()))
    sources = "".join(
        path.read_text() for folder in ("tests", "examples", "docs") for path in (root / folder).rglob("*.py")
    )
    assert cited
    assert {name for name in cited if f"def {name}(" not in sources} == set()
