"""Presence on a cluster whose nodes run on a virtual event loop: the same replication, one timeline."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_channels import Channel, InfoResult, JoinResult, Presence, Socket, noreply, ok
from pytest_channels._runtime._clock import LoopClock
from pytest_channels.testing import ChannelCase

pytestmark = pytest.mark.channels(virtual_loop=True)


class LoopPresence(Presence):
    """Phoenix's defaults."""


PERIOD = LoopPresence.broadcast_period
SILENT = PERIOD * LoopPresence.max_silent_periods
DOWN = LoopPresence.down_period or 0.0
TERMINATED: list[tuple[str, Any]] = []


class Tracked(Channel):
    """Tracks the user it joins as, right after the join."""

    presence: type[Presence] = LoopPresence

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.send("after_join")
        return ok(socket.assign(user=payload["user"]))

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.presence.track(socket, socket.assigns["user"], {})
        return noreply(socket)

    def terminate(self, reason: Any, socket: Socket) -> None:
        TERMINATED.append((socket.assigns["user"], reason))


def _join(channels: ChannelCase, user: str, node: str) -> None:
    channels.join(channels.socket(node=node), "room", {"user": user}, channel=Tracked)


def test_presences_replicate_across_nodes_and_heal_after_a_partition_on_the_loops_clock(
    channels: ChannelCase,
) -> None:
    nodes = channels.cluster("server", "remote")
    LoopPresence.start(nodes["server"].runtime)
    _join(channels, "alice", "server")
    _join(channels, "bob", "remote")
    channels.assert_presence(LoopPresence, "room", {"alice", "bob"}, node="remote", timeout=PERIOD)
    assert isinstance(channels.clock, LoopClock)
    nodes.network.partition(["server"], ["remote"])
    channels.assert_presence(LoopPresence, "room", {"bob"}, node="remote", timeout=DOWN + PERIOD)
    assert channels.now >= DOWN
    nodes.network.heal()
    channels.assert_presence(LoopPresence, "room", {"alice", "bob"}, node="remote", timeout=SILENT + PERIOD)


def test_a_killed_nodes_presences_stay_until_the_down_period_and_its_channels_do_not_terminate(
    channels: ChannelCase,
) -> None:
    TERMINATED.clear()
    nodes = channels.cluster("server", "remote")
    LoopPresence.start(nodes["server"].runtime)
    _join(channels, "alice", "server")
    _join(channels, "bob", "remote")
    channels.assert_presence(LoopPresence, "room", {"alice", "bob"}, node="server", timeout=PERIOD)
    killed_at = channels.now
    nodes.kill("remote")
    channels.advance(DOWN - PERIOD)  # no goodbye from a killed node: server still lists bob
    assert set(channels.presence_list(LoopPresence, "room", node="server")) == {"alice", "bob"}
    channels.assert_presence(LoopPresence, "room", {"alice"}, node="server", timeout=SILENT + 2 * PERIOD)
    assert channels.now - killed_at >= DOWN - PERIOD
    assert TERMINATED == []
