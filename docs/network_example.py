"""The tests from docs/partitions.md: delay, loss and partitions between nodes, in virtual time."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_channels import Broadcast, Channel, InResult, JoinResult, Socket, noreply, ok
from pytest_channels.testing import ChannelCase, Uniform


def test_a_delayed_link_delivers_late_in_virtual_time(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.subscribe("news", node="server")
    cluster.network.delay(0.2)  # every link, both ways

    cluster["remote"].runtime.broadcast("news", "flash", {})

    channels.refute_broadcast("flash", timeout=0.199)
    arrived = channels.assert_broadcast("flash", timeout=0.001)
    assert arrived.at_ns == 200_000_000  # stamped when it arrived, 200 ms after it was sent


def test_a_partition_loses_what_crosses_it_and_healing_resends_nothing(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote", "third")
    channels.subscribe("news", node="server")

    cluster.network.partition(["server"], ["remote", "third"])
    cluster["remote"].runtime.broadcast("news", "during", {})
    cluster.network.heal()
    cluster["remote"].runtime.broadcast("news", "after", {})

    channels.assert_broadcast("after")
    channels.refute_broadcast("during", timeout=60)  # at most once: lost, and never sent again
    [lost] = cluster.network.lost()
    assert (lost.source, lost.target, lost.outcome) == ("remote", "server", "partitioned")


def test_drop_the_next_packets_on_one_link(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.subscribe("news", node="server")
    cluster.network.drop(next=2, source="remote", target="server")

    for n in range(4):
        cluster["remote"].runtime.broadcast("news", "n", {"n": n})
    channels.settle()

    assert [m.payload["n"] for m in channels.flush() if isinstance(m, Broadcast)] == [2, 3]
    assert cluster.network.statistics().dropped == 2


class Speaker(Channel):
    """Broadcasts `count` numbered messages when pushed "go"."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        for n in range(payload["count"]):
            self.broadcast("n", {"from": payload["name"], "n": n})
        return noreply(socket)


def test_jitter_never_reorders_one_publisher_but_may_interleave_two(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote", seed=7)
    channels.subscribe("room", node="server")
    alice, bob = (channels.join(channels.socket(node="remote"), "room", channel=Speaker).socket for _ in range(2))
    cluster.network.delay(Uniform(0.0, 1.0))  # each packet draws its delay from the seeded generator

    channels.push(alice, "go", {"name": "alice", "count": 3})
    channels.push(bob, "go", {"name": "bob", "count": 3})
    channels.advance(30)

    arrived = [(m.payload["from"], m.payload["n"]) for m in channels.flush() if isinstance(m, Broadcast)]
    assert arrived == [("bob", 0), ("alice", 0), ("alice", 1), ("bob", 1), ("bob", 2), ("alice", 2)]


def test_random_loss_is_repeatable_from_the_seed(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote", seed=2024)
    channels.subscribe("news", node="server")
    cluster.network.drop(0.5)

    for n in range(10):
        cluster["remote"].runtime.broadcast("news", "n", {"n": n})
    channels.settle()

    # The same seed loses the same packets on every run, on every machine.
    assert [m.payload["n"] for m in channels.flush() if isinstance(m, Broadcast)] == [1, 3, 5, 8]


def test_bad_conditions_are_refused(channels: ChannelCase) -> None:
    network = channels.cluster("server", "remote").network
    with pytest.raises(ValueError, match=r"^drop probability must be a number between 0 and 1 \(got 1\.5\)$"):
        network.drop(1.5)
    with pytest.raises(ValueError, match=r"^delay must be a finite number of seconds >= 0 \(got -1\)$"):
        network.delay(-1)
