"""The tests from docs/clusters.md: the chapter's server, remote and third nodes in one test."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hello_sockets.sockets import UserSocket

from pytest_channels import (
    Broadcast,
    Channel,
    InResult,
    JoinResult,
    NodeStopped,
    Push,
    Socket,
    UnknownNode,
    noreply,
    ok,
)
from pytest_channels.testing import ChannelCase, Cluster


def test_a_broadcast_on_a_node_without_sockets_reaches_clients_elsewhere(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.join(channels.socket(UserSocket, node="server"), "ping")  # the client is on server

    # iex(remote@127.0.0.1)> HelloSocketsWeb.Endpoint.broadcast("ping", "request_ping", %{})
    cluster["remote"].runtime.broadcast("ping", "request_ping", {})

    push = channels.assert_push("request_ping", {})
    assert push.origin == "remote"


def test_a_third_node_joins_later_and_sees_the_others(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.join(channels.socket(UserSocket, node="server"), "ping")

    third = cluster.start("third")  # Node.connect: it is connected to every node at once
    assert cluster.names == ("server", "remote", "third")
    third.runtime.broadcast("ping", "request_ping", {"from": "third"})

    assert channels.assert_push("request_ping").origin == "third"


def test_local_broadcast_stays_on_its_node(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.subscribe("news", node="server")
    channels.subscribe("news", node="remote")

    cluster["remote"].runtime.local_broadcast("news", "local_only", {})

    assert channels.assert_broadcast("local_only").origin == "remote"  # remote's own subscriber
    channels.refute_broadcast("local_only", timeout=60)  # server never hears of it


class Counter(Channel):
    """Counts pushes in memory and broadcasts the count on its topic, to every node."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket.assign(count=0))

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        count = socket.assigns["count"] + 1
        self.broadcast("count", {"count": count})
        return noreply(socket.assign(count=count))


def test_channels_on_different_nodes_share_a_topic(channels: ChannelCase) -> None:
    channels.cluster("server", "remote")
    on_server = channels.join(channels.socket(node="server"), "counter", channel=Counter).socket
    channels.join(channels.socket(node="remote"), "counter", channel=Counter)

    channels.push(on_server, "increment")
    channels.settle()

    # Each channel's client got the broadcast through its own node's fastlane.
    pushes = [(m.origin, m.payload) for m in channels.flush() if isinstance(m, Push)]
    assert pushes == [("server", {"count": 1}), ("server", {"count": 1})]


def test_a_stopped_node_loses_its_channels_and_refuses_to_be_used(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    socket = channels.join(channels.socket(node="remote"), "counter", channel=Counter).socket
    channels.push(socket, "increment")

    cluster.stop("remote")
    channels.settle()  # its channels finish what they were doing, then terminate

    assert channels.assert_push("count", {"count": 1}).origin == "remote"  # handled before the end
    assert [exit.reason for exit in channels.exits] == ["shutdown"]
    with pytest.raises(NodeStopped, match=r"^push: node 'remote' was stopped at t=0\.000s"):
        channels.push(socket, "increment")

    cluster.start("remote")  # the same name, a fresh runtime: nothing of the old one survives
    again = channels.join(channels.socket(node="remote"), "counter", channel=Counter).socket
    assert channels.get_state(again).assigns["count"] == 0


def test_unknown_node_names_are_refused(channels: ChannelCase) -> None:
    channels.cluster("server", "remote")
    with pytest.raises(UnknownNode, match=r"^socket: unknown node 'thrid'; the cluster's nodes are 'server', 'remote'"):
        channels.socket(node="thrid")


def test_a_cluster_runs_without_the_harness() -> None:
    async def main() -> list[Broadcast]:
        cluster = Cluster(seed=1)  # on a VirtualClock of its own
        for name in ("server", "remote"):
            cluster.start(name)
        got: list[Broadcast] = []

        class Listener:
            def receive_broadcast(self, broadcast: Broadcast) -> None:
                got.append(broadcast)

        cluster["server"].runtime.pubsub.subscribe("ping", Listener())
        cluster.network.delay(0.25)
        cluster["remote"].runtime.broadcast("ping", "request_ping", {})
        await cluster.advance(1)  # settles every node, fires the network's timers in order
        await cluster.aclose()
        return got

    [arrived] = anyio.run(main)
    assert (arrived.event, arrived.origin, arrived.at_ns) == ("request_ping", "remote", 250_000_000)
