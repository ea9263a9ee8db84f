"""Presence across nodes: heartbeats and deltas through the simulated network, downs, permdowns, heals."""

from __future__ import annotations

from unittest.mock import ANY

import pytest

from pytest_channels import NodeStopped, Ok, Presence, Socket
from pytest_channels.testing import ChannelCase, Cluster, Partial

from .rooms import RoomChannel, RoomPresence

PERIOD = RoomPresence.broadcast_period  # 1.5 s: a delta reaches the other nodes within one
SILENT = PERIOD * RoomPresence.max_silent_periods  # 15 s: a quiet node still says it is alive
DOWN = RoomPresence.down_period or 0.0  # 30 s


def cluster(channels: ChannelCase, *names: str) -> Cluster:
    started = channels.cluster(*names)
    RoomPresence.start(started[names[0]].runtime)  # and so on every node, as the application runs there
    return started


def join(channels: ChannelCase, user: str, node: str, topic: str = "room:1") -> Socket:
    joined = channels.join(channels.socket(node=node), topic, {"user": user}, channel=RoomChannel)
    assert isinstance(joined, Ok)
    return joined.socket


def test_each_node_lists_the_presences_tracked_on_every_node_within_a_broadcast_period(
    channels: ChannelCase,
) -> None:
    cluster(channels, "server", "remote")
    join(channels, "alice", "server")
    join(channels, "bob", "remote")
    for node in ("server", "remote"):
        channels.assert_presence(RoomPresence, "room:1", {"alice", "bob"}, node=node, timeout=PERIOD)


def test_a_client_on_one_node_gets_the_diff_of_a_join_on_another(channels: ChannelCase) -> None:
    cluster(channels, "server", "remote")
    join(channels, "alice", "server")
    channels.assert_push("presence_state", {})
    channels.flush()
    join(channels, "bob", "remote")
    channels.settle()
    channels.flush()  # bob's own state and diff, on remote
    push = channels.assert_push("presence_diff", {"joins": {"bob": ANY}, "leaves": {}}, timeout=PERIOD)
    assert push.origin == "server"  # alice's channel on server pushed it, from server's tracker


def test_a_leave_on_one_node_reaches_the_others_with_the_next_heartbeat(channels: ChannelCase) -> None:
    cluster(channels, "server", "remote")
    alice = join(channels, "alice", "server")
    join(channels, "bob", "remote")
    channels.assert_presence(RoomPresence, "room:1", {"alice", "bob"}, node="remote", timeout=PERIOD)
    channels.leave(alice)
    channels.assert_presence(RoomPresence, "room:1", {"bob"}, node="remote", timeout=PERIOD)


def test_a_partitioned_node_leaves_the_other_side_after_the_down_period_and_comes_back_on_heal(
    channels: ChannelCase,
) -> None:
    nodes = cluster(channels, "server", "remote")
    join(channels, "alice", "server")
    join(channels, "bob", "remote")
    channels.assert_presence(RoomPresence, "room:1", {"alice", "bob"}, node="remote", timeout=PERIOD)
    channels.advance(SILENT)  # both have heard from each other just now
    cut_at = channels.now
    nodes.network.partition(["server"], ["remote"])

    # Phoenix's down detection: no news for down_period, seen at the next heartbeat tick.
    channels.advance(DOWN - SILENT - PERIOD)
    assert set(channels.presence_list(RoomPresence, "room:1", node="remote")) == {"alice", "bob"}
    channels.assert_presence(RoomPresence, "room:1", {"bob"}, node="remote", timeout=SILENT + 2 * PERIOD)
    channels.assert_presence(RoomPresence, "room:1", {"alice"}, node="server", timeout=PERIOD)
    assert channels.now - cut_at > DOWN - SILENT

    nodes.network.heal()
    for node in ("server", "remote"):
        channels.assert_presence(RoomPresence, "room:1", {"alice", "bob"}, node=node, timeout=SILENT + PERIOD)


def test_changes_made_during_a_partition_converge_after_the_heal(channels: ChannelCase) -> None:
    nodes = cluster(channels, "server", "remote")
    alice = join(channels, "alice", "server")
    join(channels, "bob", "remote")
    channels.assert_presence(RoomPresence, "room:1", {"alice", "bob"}, node="remote", timeout=PERIOD)
    nodes.network.partition(["server"], ["remote"])
    channels.leave(alice)
    join(channels, "carol", "server")
    join(channels, "dave", "remote")
    channels.advance(5)
    assert set(channels.presence_list(RoomPresence, "room:1", node="remote")) == {"alice", "bob", "dave"}

    nodes.network.heal()
    expected = {"bob", "carol", "dave"}
    for node in ("server", "remote"):
        channels.assert_presence(RoomPresence, "room:1", expected, node=node, timeout=SILENT + 3 * PERIOD)
    assert channels.presence_list(RoomPresence, "room:1", node="server") == channels.presence_list(
        RoomPresence, "room:1", node="remote"
    )


def test_a_lost_delta_is_made_up_for_by_a_transfer(channels: ChannelCase) -> None:
    nodes = cluster(channels, "server", "remote")
    channels.advance(PERIOD)  # the first heartbeats are out: each knows the other
    nodes.network.drop(next=1, source="server", target="remote")
    join(channels, "alice", "server")
    channels.advance(2 * PERIOD)
    assert channels.presence_list(RoomPresence, "room:1", node="remote") == {}
    # The next heartbeat shows remote a clock it has not seen: it asks server for its state.
    channels.assert_presence(RoomPresence, "room:1", {"alice"}, node="remote", timeout=SILENT + 3 * PERIOD)
    assert [p.broadcast.payload["type"] for p in nodes.network.packets if p.source == "remote"].count(
        "transfer_req"
    ) == 1


def test_a_stopped_node_leaves_after_the_down_period_and_its_restart_replaces_it(channels: ChannelCase) -> None:
    nodes = cluster(channels, "server", "remote")
    join(channels, "alice", "server")
    join(channels, "bob", "remote")
    channels.assert_presence(RoomPresence, "room:1", {"alice", "bob"}, node="server", timeout=PERIOD)
    nodes.stop("remote")
    channels.advance(DOWN - PERIOD)
    assert set(channels.presence_list(RoomPresence, "room:1", node="server")) == {"alice", "bob"}
    channels.assert_presence(RoomPresence, "room:1", {"alice"}, node="server", timeout=SILENT + 2 * PERIOD)

    nodes.start("remote")
    join(channels, "bob", "remote")
    channels.assert_presence(RoomPresence, "room:1", {"alice", "bob"}, node="server", timeout=PERIOD)
    channels.assert_presence(RoomPresence, "room:1", {"alice", "bob"}, node="remote", timeout=SILENT + 3 * PERIOD)


def test_a_restart_within_the_down_period_drops_the_old_presences_at_once(channels: ChannelCase) -> None:
    nodes = cluster(channels, "server", "remote")
    join(channels, "bob", "remote")
    channels.assert_presence(RoomPresence, "room:1", {"bob"}, node="server", timeout=PERIOD)
    nodes.restart("remote")
    # The new incarnation's first heartbeat tells server the old one is gone for good.
    channels.assert_presence(RoomPresence, "room:1", set(), node="server", timeout=PERIOD)
    server = RoomPresence.server(nodes["server"].runtime)
    assert server is not None
    assert [what for _, what, name in server.tracker.events if name == "remote"] == ["up", "down", "permdown", "up"]


def test_after_the_permdown_period_a_node_is_forgotten_and_resynced_when_heard_again(channels: ChannelCase) -> None:
    nodes = cluster(channels, "server", "remote")
    join(channels, "alice", "server")
    channels.assert_presence(RoomPresence, "room:1", {"alice"}, node="remote", timeout=PERIOD)
    nodes.network.partition(["server"], ["remote"])
    channels.advance(RoomPresence.permdown_period + PERIOD)
    remote = RoomPresence.server(nodes["remote"].runtime)
    assert remote is not None
    assert "server" not in remote.tracker.replicas
    nodes.network.heal()
    channels.assert_presence(RoomPresence, "room:1", {"alice"}, node="remote", timeout=SILENT + 3 * PERIOD)


def test_graceful_permdown_drops_a_node_everywhere_at_once(channels: ChannelCase) -> None:
    nodes = cluster(channels, "server", "remote")
    join(channels, "bob", "remote")
    channels.assert_presence(RoomPresence, "room:1", {"bob"}, node="server", timeout=PERIOD)
    server = RoomPresence.server(nodes["remote"].runtime)
    assert server is not None
    server.tracker.graceful_permdown()
    channels.assert_presence(RoomPresence, "room:1", set(), node="server", timeout=0)


def test_replication_survives_random_loss_and_delay(channels: ChannelCase) -> None:
    from pytest_channels.testing import Uniform

    nodes = cluster(channels, "server", "remote", "third")
    nodes.network.drop(0.3)
    nodes.network.delay(Uniform(0.01, 1.0))
    for index, node in enumerate(("server", "remote", "third")):
        for user in range(3):
            join(channels, f"{node}-{user}", node, topic=f"room:{index % 2}")
    nodes.network.reset()
    for topic, on in (("room:0", ("server", "third")), ("room:1", ("remote",))):
        expected = {f"{node}-{user}" for node in on for user in range(3)}
        for node in ("server", "remote", "third"):
            channels.assert_presence(RoomPresence, topic, expected, node=node, timeout=SILENT + 4 * PERIOD)


def test_a_failing_assert_presence_in_a_cluster_shows_the_tracker_and_the_network(channels: ChannelCase) -> None:
    nodes = cluster(channels, "server", "remote")
    channels.advance(PERIOD)
    nodes.network.partition(["server"], ["remote"])
    join(channels, "alice", "server")
    with pytest.raises(AssertionError) as failure:
        channels.assert_presence(RoomPresence, "room:1", {"alice"}, node="remote", timeout=5)
    message = str(failure.value)
    assert "RoomPresence.list('room:1') on remote is not the expected one" in message
    assert "Its tracker ('remote', clock 0) knows of:\n  - 'server': up, last heard t=0.000s" in message
    assert "Network: partitioned {server} | {remote} | {the rest}" in message


def test_presence_classes_replicate_separately(channels: ChannelCase) -> None:
    class Other(Presence):
        pass

    cluster(channels, "server", "remote")
    alice = join(channels, "alice", "server")
    assert alice.channel_pid is not None
    Other.track(alice.channel_pid, "room:1", "typing", {})
    channels.assert_presence(RoomPresence, "room:1", {"alice"}, node="remote", timeout=PERIOD)
    channels.assert_presence(Other, "room:1", {"typing"}, node="remote", timeout=0)


def test_an_update_reaches_the_other_nodes_as_a_join_of_the_new_meta_and_a_leave_of_the_old(
    channels: ChannelCase,
) -> None:
    cluster(channels, "server", "remote")
    alice = join(channels, "alice", "server")
    join(channels, "bob", "remote")
    channels.assert_presence(RoomPresence, "room:1", {"alice", "bob"}, node="remote", timeout=PERIOD)
    channels.flush()
    channels.push(alice, "status", {"status": "away"})
    channels.settle()
    channels.flush()  # alice's own reply and diff, on server
    to_bob = channels.assert_push("presence_diff", Partial(joins={"alice": ANY}), timeout=PERIOD)
    assert to_bob.origin == "remote"
    diff = to_bob.payload
    [new] = diff["joins"]["alice"]["metas"]
    [old] = diff["leaves"]["alice"]["metas"]
    assert new["phx_ref_prev"] == old["phx_ref"]
    assert new["status"] == "away"
    channels.assert_presence(
        RoomPresence, "room:1", {"alice": [{"device": "web", "status": "away"}], "bob": ANY}, node="remote"
    )


def test_a_malformed_tracker_message_is_ignored_with_a_warning_and_changes_nothing(
    channels: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    nodes = cluster(channels, "server", "remote")
    join(channels, "alice", "server")
    channels.assert_presence(RoomPresence, "room:1", {"alice"}, node="remote", timeout=PERIOD)
    bad_delta = {"start": 0, "joins": [["ref", "pid", "room:1"]], "leaves": []}  # an entry cut short
    nodes["server"].runtime.broadcast(
        f"phx_presence:{RoomPresence.name}",
        "tracker",
        {"type": "heartbeat", "from": ["x", 1], "clock": 1, "delta": bad_delta},
    )
    channels.settle()
    assert "ignored a malformed message" in caplog.text
    server = RoomPresence.server(nodes["remote"].runtime)
    assert server is not None
    assert "x" not in server.tracker.replicas
    channels.assert_presence(RoomPresence, "room:1", {"alice"}, node="remote", timeout=0)


def test_a_presence_used_on_one_node_runs_on_every_node_without_being_started(channels: ChannelCase) -> None:
    nodes = channels.cluster("server", "remote")
    channels.subscribe("room:1", node="remote")  # listens only: nothing on remote uses the presence
    join(channels, "alice", "server")
    diff = channels.assert_broadcast("presence_diff", Partial(joins={"alice": ANY}), timeout=PERIOD)
    assert diff.origin == "remote"  # broadcast by remote's own presence, from server's delta
    assert RoomPresence.server(nodes["remote"].runtime) is not None


def test_nodes_started_later_and_restarted_nodes_run_the_presence_too(channels: ChannelCase) -> None:
    channels.join(channels.socket(), "room:1", {"user": "alice"}, channel=RoomChannel)  # before the cluster
    nodes = channels.cluster("server", "remote")
    channels.assert_presence(RoomPresence, "room:1", {"alice"}, node="remote", timeout=SILENT + 3 * PERIOD)
    nodes.start("third")
    channels.assert_presence(RoomPresence, "room:1", {"alice"}, node="third", timeout=SILENT + 3 * PERIOD)
    nodes.restart("remote")
    channels.assert_presence(RoomPresence, "room:1", {"alice"}, node="remote", timeout=SILENT + 3 * PERIOD)
    server = RoomPresence.server(nodes["server"].runtime)
    assert server is not None
    assert server.tracker.node == "server"
    assert sorted(server.tracker.replicas) == ["remote", "third"]


def test_after_a_transfer_a_busy_node_s_deltas_apply_again_instead_of_a_transfer_every_sample(
    channels: ChannelCase,
) -> None:
    nodes = cluster(channels, "server", "remote")
    nodes.network.delay(0.4)  # the transfer arrives in the middle of server's period
    alice = join(channels, "alice", "server")
    channels.assert_presence(RoomPresence, "room:1", {"alice"}, node="remote", timeout=PERIOD + 0.4)
    nodes.network.drop(next=1, source="server", target="remote")
    for n in range(120):  # alice changes her status four times a second, for 30 s
        channels.push(alice, "status", {"n": n})
        channels.advance(0.25)
    requests = [p for p in nodes.network.packets if p.broadcast.payload.get("type") == "transfer_req"]
    assert len(requests) == 1, f"transfers asked at {[p.sent_at_ns / 1e9 for p in requests]}"
    channels.assert_presence(
        RoomPresence, "room:1", {"alice": [{"device": "web", "n": 119}]}, node="remote", timeout=PERIOD + 0.4
    )


def test_asking_a_stopped_node_s_presence_says_the_node_is_stopped(channels: ChannelCase) -> None:
    nodes = cluster(channels, "server", "remote")
    bob = join(channels, "bob", "remote")
    nodes.stop("remote")
    channels.settle()
    with pytest.raises(NodeStopped, match=r"RoomPresence.list: node 'remote' was stopped"):
        RoomPresence.list(bob)


def test_a_presence_that_comes_and_goes_around_a_transfer_leaves_the_node_that_got_the_transfer(
    channels: ChannelCase,
) -> None:
    nodes = cluster(channels, "server", "remote")
    nodes.network.delay(0.4)
    channels.advance(PERIOD)
    nodes.network.drop(next=1, source="server", target="remote")
    join(channels, "alice", "server")
    channels.advance(PERIOD)  # alice's delta is lost
    join(channels, "bob", "server")  # the next delta shows remote the gap: it asks for a transfer

    def transfer_asked() -> bool:
        return any(p.broadcast.payload.get("type") == "transfer_req" for p in nodes.network.packets)

    channels.wait_until(transfer_asked, timeout=3 * PERIOD)
    channels.advance(0.2)  # both nodes' heartbeats of this instant are out; the request is on its way
    carol = join(channels, "carol", "server")
    channels.advance(0.4)  # server answered: the transfer holds carol, who joined after its last delta
    channels.leave(carol)  # and leaves before its next one
    channels.advance(2 * PERIOD)
    assert set(channels.presence_list(RoomPresence, "room:1", node="remote")) == {"alice", "bob"}
    assert sum(p.broadcast.payload.get("type") == "transfer_req" for p in nodes.network.packets) == 1
