"""An unreliable network under the test's control: delay, loss and partitions, reproducible from a seed."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from both_clocks import on_virtual_loop, pytest_generate_tests  # noqa: F401 - every sync test on both clocks

from pytest_channels import (
    Broadcast,
    Channel,
    InfoResult,
    InResult,
    JoinResult,
    NotIdle,
    Socket,
    UnknownNode,
    noreply,
    ok,
)
from pytest_channels.testing import ChannelCase, Cluster, Exponential, Uniform


class Speaker(Channel):
    """Broadcasts a numbered series when asked, so order and loss can be read off the numbers."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        for n in range(payload["count"]):
            self.broadcast("n", {"from": payload["name"], "n": n})
        return noreply(socket)


def broadcasts(channels: ChannelCase) -> list[Broadcast]:
    """Consume the mailbox, keeping the broadcasts the test's own subscriptions received."""
    return [m for m in channels.flush() if isinstance(m, Broadcast)]


def node_of(socket: Socket) -> str | None:
    return socket.runtime.pubsub.node if socket.runtime is not None else None


def test_a_delayed_link_delivers_after_the_delay_in_virtual_time(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.subscribe("news", node="server")
    cluster.network.delay(0.2)
    cluster["remote"].runtime.broadcast("news", "flash", {})
    channels.refute_broadcast("flash", timeout=0.199)
    broadcast = channels.assert_broadcast("flash", timeout=0.001)
    assert broadcast.at_ns == 200_000_000  # stamped when it arrived
    assert cluster.network.packets[0].sent_at_ns == 0


def test_a_delay_can_apply_to_one_direction_of_one_link(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b", "c")
    for node in ("a", "b", "c"):
        channels.subscribe("news", node=node)
    cluster.network.delay(1, source="a", target="b")
    cluster["a"].runtime.broadcast("news", "from a", {})
    cluster["b"].runtime.broadcast("news", "from b", {})
    channels.settle()
    arrived = sorted((m.event, m.origin) for m in broadcasts(channels))
    assert arrived == [("from a", "a"), ("from a", "a"), ("from b", "b"), ("from b", "b"), ("from b", "b")]
    channels.advance(1)
    assert [(m.event, m.origin) for m in broadcasts(channels)] == [("from a", "a")]


def test_a_zero_delay_broadcast_arrives_at_the_next_wait_not_inside_the_call(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.subscribe("news", node="server")
    cluster["remote"].runtime.broadcast("news", "flash", {})
    assert channels.mailbox == ()
    assert [p.outcome for p in cluster.network.packets] == ["in flight"]
    channels.settle()
    assert [p.outcome for p in cluster.network.packets] == ["delivered"]
    channels.assert_broadcast("flash")


def test_a_partition_loses_what_crosses_it_and_healing_resends_nothing(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote", "third")
    channels.subscribe("news", node="server")
    channels.subscribe("news", node="third")
    cluster.network.partition(["server"], ["remote", "third"])
    cluster["remote"].runtime.broadcast("news", "during", {})
    assert [m.origin for m in (channels.assert_broadcast("during"),)] == ["remote"]  # third, same side
    channels.refute_broadcast("during", timeout=60)
    cluster.network.heal()
    channels.refute_broadcast("during", timeout=60)  # at most once: nobody resends
    cluster["remote"].runtime.broadcast("news", "after", {})
    channels.settle()
    assert sorted(m.event for m in broadcasts(channels)) == ["after", "after"]
    lost = cluster.network.lost()
    assert [(p.source, p.target, p.broadcast.event, p.outcome) for p in lost] == [
        ("remote", "server", "during", "partitioned")
    ]


def test_packets_in_flight_when_a_partition_starts_are_lost_on_arrival(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.subscribe("news", node="server")
    cluster.network.delay(1)
    cluster["remote"].runtime.broadcast("news", "flash", {})
    channels.advance(0.5)
    cluster.network.partition(["server"])
    channels.advance(0.5)
    cluster.network.heal()
    channels.refute_broadcast("flash", timeout=10)
    assert [p.outcome for p in cluster.network.packets] == ["partitioned"]


def test_drop_next_loses_exactly_that_many_packets_on_the_chosen_links(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote", "third")
    channels.subscribe("news", node="server")
    channels.subscribe("news", node="third")
    cluster.network.drop(next=2, source="remote", target="server")
    for n in range(4):
        cluster["remote"].runtime.broadcast("news", "n", {"n": n})
    channels.settle()
    by_node: dict[str | None, list[int]] = {}
    for packet in cluster.network.packets:
        if packet.outcome == "delivered":
            by_node.setdefault(packet.target, []).append(packet.broadcast.payload["n"])
    assert by_node == {"server": [2, 3], "third": [0, 1, 2, 3]}
    assert cluster.network.statistics().dropped == 2


def test_random_loss_repeats_exactly_from_the_seed(channels: ChannelCase) -> None:
    def outcomes(seed: int) -> list[str]:
        cluster = Cluster(seed=seed)
        for name in ("a", "b"):
            cluster.start(name)
        cluster.network.drop(0.5)
        for n in range(40):
            cluster["a"].runtime.broadcast("t", "n", {"n": n})
        return [p.outcome for p in cluster.network.packets]

    assert outcomes(7) == outcomes(7)
    assert outcomes(7) != outcomes(8)
    assert 5 < outcomes(7).count("dropped") < 35


def test_the_harness_cluster_seed_repeats_a_run(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b", seed=1234)
    assert cluster.seed == 1234
    cluster.network.delay(Uniform(0, 1))
    cluster["a"].runtime.broadcast("t", "x", {})
    again = Cluster(seed=1234)
    again.start("a")
    again.start("b")
    again.network.delay(Uniform(0, 1))
    again["a"].runtime.broadcast("t", "x", {})
    assert cluster.network.packets[0].due_ns == again.network.packets[0].due_ns


@pytest.mark.parametrize("seed", range(5))
def test_one_publishers_broadcasts_never_overtake_each_other_under_jitter(channels: ChannelCase, seed: int) -> None:
    cluster = channels.cluster("server", "remote", seed=seed)
    channels.subscribe("room", node="server")
    alice = channels.join(channels.socket(node="remote"), "room", channel=Speaker).socket
    bob = channels.join(channels.socket(node="remote"), "room", channel=Speaker).socket
    cluster.network.delay(Uniform(0.0, 1.0))
    channels.push(alice, "go", {"name": "alice", "count": 20})
    channels.push(bob, "go", {"name": "bob", "count": 20})
    channels.advance(30)
    arrived = broadcasts(channels)  # the test's subscription on server
    for name in ("alice", "bob"):
        assert [m.payload["n"] for m in arrived if m.payload["from"] == name] == list(range(20))


def test_different_publishers_may_be_reordered_by_jitter(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote", seed=7)
    channels.subscribe("room", node="server")
    alice, bob = (channels.join(channels.socket(node="remote"), "room", channel=Speaker).socket for _ in range(2))
    cluster.network.delay(Uniform(0.0, 1.0))
    channels.push(alice, "go", {"name": "alice", "count": 3})
    channels.push(bob, "go", {"name": "bob", "count": 3})
    channels.advance(30)
    order = [(m.payload["from"], m.payload["n"]) for m in broadcasts(channels)]
    # Seed 7 interleaves them; each publisher's own numbers still arrive in order.
    assert order == [("bob", 0), ("alice", 0), ("alice", 1), ("bob", 1), ("bob", 2), ("alice", 2)]


def test_packets_to_a_stopped_node_are_lost_as_node_down(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.subscribe("news", node="remote")
    cluster.network.delay(1)
    cluster["server"].runtime.broadcast("news", "flash", {})
    cluster.restart("remote")
    channels.subscribe("news", node="remote")
    channels.refute_broadcast("flash", timeout=2)
    assert [p.outcome for p in cluster.network.packets] == ["node down"]
    assert cluster.network.statistics().node_down == 1


def test_network_statistics_count_every_outcome(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b", "c")
    cluster.network.drop(next=1, target="b")
    cluster.network.delay(5, target="c")
    cluster["a"].runtime.broadcast("t", "x", {})
    cluster["a"].runtime.broadcast("t", "y", {})
    channels.settle()
    stats = cluster.network.statistics()
    assert (stats.sent, stats.delivered, stats.dropped, stats.in_flight, stats.lost) == (4, 1, 1, 2, 1)
    assert [repr(p) for p in cluster.network.in_flight()] == [
        "Packet(a -> c, 't' 'x', sent t=0.000s, due t=5.000s)",
        "Packet(a -> c, 't' 'y', sent t=0.000s, due t=5.000s)",
    ]
    assert cluster.network.describe() == "delay 5s on any -> c"  # the one drop was used up


def test_reset_makes_the_network_perfect_again(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b")
    net = cluster.network
    net.delay(Exponential(0.1))
    net.drop(0.3, source="a")
    net.drop(next=3)
    net.partition(["a"])
    assert net.describe() == (
        "delay Exponential(mean=0.1, cap=None) on every link; drop 0.3 on a -> any; "
        "drop the next 3 on every link; partitioned {a} | {the rest}"
    )
    net.reset()
    assert net.describe() == "a perfect network"


def test_a_delayed_packet_shows_among_the_pending_timers_of_a_failure(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.subscribe("news", node="server")
    cluster.network.delay(3)
    cluster["remote"].runtime.broadcast("news", "flash", {})
    with pytest.raises(AssertionError) as failure:
        channels.assert_broadcast("flash", timeout=1)
    assert "  - at 3.000s: network: remote -> server 'news' 'flash'" in str(failure.value)


class PingPong(Channel):
    """Answers every "ball" on its topic with another one: across nodes, forever."""

    intercept = ("ball",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        if payload["from"] != node_of(socket):
            self.broadcast("ball", {"from": node_of(socket)})
        return noreply(socket)


@pytest.mark.channels(idle_timeout=0.05)
def test_nodes_that_answer_each_other_forever_fail_instead_of_hanging(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b")
    channels.join(channels.socket(node="a"), "table", channel=PingPong)
    channels.join(channels.socket(node="b"), "table", channel=PingPong)
    cluster["a"].runtime.broadcast("table", "ball", {"from": "nobody"})
    with pytest.raises(NotIdle, match=r"^the nodes kept handing each other work at t=0\.000s for 0\.05s"):
        channels.settle()
    cluster.network.delay(0.5)  # with a delay, time moves on between the shots
    channels.advance(2)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda n: n.delay(-1), ValueError, r"^delay must be a finite number of seconds >= 0 \(got -1\)$"),
        (lambda n: n.delay(math.nan), ValueError, r"^delay must be a finite number of seconds >= 0 \(got nan\)$"),
        (lambda n: n.delay("1s"), TypeError, r"^delay must be a number of seconds \(got '1s'\)$"),
        (lambda n: n.drop(1.5), ValueError, r"^drop probability must be a number between 0 and 1 \(got 1\.5\)$"),
        (lambda n: n.drop(-0.1), ValueError, r"^drop probability must be a number between 0 and 1 \(got -0\.1\)$"),
        (lambda n: n.drop(next=-1), ValueError, r"^drop next must be a whole number of packets >= 0 \(got -1\)$"),
        (lambda n: n.drop(), TypeError, r"^drop takes a probability, as in drop\(0\.1\), or a count"),
        (lambda n: n.drop(0.1, next=1), TypeError, r"^drop takes a probability"),
        (lambda n: n.drop(0.1, target="nowhere"), UnknownNode, r"^unknown node 'nowhere'; the cluster's nodes are"),
        (lambda n: n.partition(), ValueError, r"^partition needs at least one group"),
        (lambda n: n.partition([]), ValueError, r"^a partition group cannot be empty$"),
        (lambda n: n.partition(["a"], ["a", "b"]), ValueError, r"^node 'a' is in two partition groups$"),
        (lambda n: n.partition("ab"), TypeError, r"^each partition group is a list of node names; write partition"),
        (lambda n: n.partition(["z"]), UnknownNode, r"^unknown node 'z'"),
        (lambda n: Uniform(2, 1), ValueError, r"^Uniform high must be >= low \(got low=2, high=1\)$"),
        (lambda n: Exponential(0), ValueError, r"^Exponential mean must be > 0 \(got 0\)$"),
    ],
)
def test_bad_network_conditions_are_refused_with_what_was_wrong(
    channels: ChannelCase, call: Any, error: type[Exception], message: str
) -> None:
    network = channels.cluster("a", "b").network
    with pytest.raises(error, match=message):
        call(network)


def test_a_distribution_that_draws_a_negative_delay_fails_the_broadcast_with_its_name(channels: ChannelCase) -> None:
    class Broken:
        def sample(self, random: random.Random) -> float:
            return -1.0

        def __repr__(self) -> str:
            return "Broken()"

    cluster = channels.cluster("a", "b")
    cluster.network.delay(Broken())
    failure = cluster["a"].runtime.broadcast("t", "x", {})
    assert failure is not None
    assert str(failure.__cause__) == "the delay distribution Broken() drew -1.0: delays must be finite and >= 0"
