"""Phoenix.PubSub's extras: direct_broadcast to one node, broadcast!, and subscription metadata."""

from __future__ import annotations

import inspect
from typing import Any, get_type_hints

import pytest

from pytest_channels import (
    Broadcast,
    BroadcastError,
    Channel,
    InResult,
    JoinResult,
    PubSub,
    Runtime,
    Socket,
    Subscriber,
    UnknownNode,
    VirtualClock,
    ok,
    reply,
)
from pytest_channels.testing import ChannelCase, Where


class Inbox:
    """A subscriber that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[Broadcast] = []

    def receive_broadcast(self, broadcast: Broadcast) -> None:
        self.received.append(broadcast)


def test_direct_broadcast_reaches_the_one_node_named(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b", "c")
    channels.subscribe("news", node="b")
    channels.subscribe("news", node="c")
    assert cluster["a"].runtime.direct_broadcast("b", "news", "headline", {"n": 1}) is None
    got = channels.assert_broadcast("headline", {"n": 1}, topic="news")
    assert got.origin == "a"
    channels.refute_broadcast(timeout=1)
    assert cluster.network.statistics().sent == 1


def test_direct_broadcast_to_this_nodes_own_name_delivers_here(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b")
    channels.subscribe("news", node="a")
    channels.subscribe("news", node="b")
    cluster["a"].runtime.direct_broadcast("a", "news", "local", {})
    channels.assert_broadcast("local", topic="news")
    channels.refute_broadcast(timeout=1)
    assert cluster.network.statistics().sent == 0


def test_direct_broadcast_to_an_unknown_node_is_a_broadcast_error_naming_the_nodes(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b")
    failure = cluster["a"].runtime.direct_broadcast("z", "news", "headline")
    assert isinstance(failure, BroadcastError)
    assert str(failure) == (
        "direct_broadcast 'headline' on 'news' to node 'z' failed: unknown node 'z'; the cluster's nodes are 'a', 'b'"
    )
    assert isinstance(failure.__cause__, UnknownNode)
    with pytest.raises(BroadcastError, match="unknown node 'z'"):
        cluster["a"].runtime.direct_broadcast_or_raise("z", "news", "headline")


def test_direct_broadcast_to_a_stopped_node_is_lost_like_any_packet_to_it(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b")
    channels.subscribe("news", node="b")
    cluster.stop("b")
    channels.settle()
    assert cluster["a"].runtime.direct_broadcast("b", "news", "headline") is None
    channels.refute_broadcast(timeout=1)
    assert cluster.network.statistics().node_down == 1


def test_without_a_cluster_only_this_nodes_own_name_can_be_reached(channels: ChannelCase) -> None:
    channels.subscribe("news")
    runtime = channels.runtime
    assert runtime.direct_broadcast(runtime.pubsub.node_name, "news", "here") is None
    channels.assert_broadcast("here", topic="news")
    failure = runtime.direct_broadcast("elsewhere", "news", "there")
    assert str(failure) == (
        "direct_broadcast 'there' on 'news' to node 'elsewhere': this node is 'local' and its adapter "
        "LocalAdapter cannot send to one node"
    )


class Unreachable:
    node_name = "lonely"

    def publish(self, broadcast: Broadcast) -> None:
        raise ConnectionError("the broker is down")


def test_broadcast_or_raise_on_the_runtime_raises_what_broadcast_returns() -> None:
    runtime = Runtime(clock=VirtualClock(), pubsub=PubSub(Unreachable()))
    inbox = Inbox()
    runtime.pubsub.subscribe("news", inbox)
    with pytest.raises(BroadcastError, match=r"could not reach other nodes: ConnectionError\('the broker is down'\)"):
        runtime.broadcast_or_raise("news", "headline", {"n": 1})
    assert [b.event for b in inbox.received] == ["headline"]  # the local delivery is done either way
    runtime.local_broadcast("news", "local")  # never reaches the adapter


class Announcer(Channel):
    """Broadcasts with the function its push names, and replies with what that raised."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        try:
            getattr(self, event)("headline", {"n": 1})
        except BroadcastError as exc:
            return reply(socket, "error", {"raised": str(exc)})
        return reply(socket, "ok", {})


@pytest.mark.parametrize("function", ["broadcast_or_raise", "broadcast_from_or_raise"])
def test_a_channels_broadcast_or_raise_raises_what_its_broadcast_returns(channels: ChannelCase, function: str) -> None:
    channels.runtime.pubsub.adapter = Unreachable()
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "news", channel=Announcer)
    channels.assert_reply(
        channels.push(socket, function), "error", {"raised": Where(lambda text: "the broker is down" in text)}
    )
    channels.assert_reply(channels.push(socket, function.removesuffix("_or_raise")), "ok")


def test_a_subscription_carries_metadata_that_a_dispatcher_reads(channels: ChannelCase) -> None:
    pubsub = channels.runtime.pubsub
    french, english = Inbox(), Inbox()
    pubsub.subscribe("greetings", french, metadata={"lang": "fr"})
    pubsub.subscribe("greetings", english, metadata={"lang": "en"})
    assert pubsub.entries("greetings") == [(french, {"lang": "fr"}), (english, {"lang": "en"})]

    def translate(entries: list[tuple[Subscriber, Any]], from_: Subscriber | None, broadcast: Broadcast) -> None:
        for subscriber, metadata in entries:
            if subscriber is not from_:
                text = {"fr": "bonjour", "en": "hello"}[metadata["lang"]]
                subscriber.receive_broadcast(Broadcast(broadcast.topic, broadcast.event, {"text": text}))

    channels.runtime.broadcast("greetings", "greet", {}, dispatcher=translate, from_=english)
    assert [b.payload for b in french.received] == [{"text": "bonjour"}]
    assert english.received == []


def test_subscribing_without_metadata_records_none(channels: ChannelCase) -> None:
    inbox = Inbox()
    channels.runtime.pubsub.subscribe("t", inbox)
    assert channels.runtime.pubsub.entries("t") == [(inbox, None)]


class Stamping(Announcer):
    """Overrides `broadcast`, as a channel may: its `_or_raise` twin must go through the override."""

    def broadcast(self, event: str, payload: Any = None) -> BroadcastError | None:
        return super().broadcast(event, {**payload, "stamped": True})


def test_a_broadcast_or_raise_calls_the_broadcast_its_class_has(channels: ChannelCase) -> None:
    channels.subscribe("news")
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "news", channel=Stamping)
    channels.assert_reply(channels.push(socket, "broadcast_or_raise"), "ok")
    channels.assert_broadcast("headline", {"n": 1, "stamped": True}, topic="news")


@pytest.mark.parametrize(
    "function",
    [
        Channel.broadcast_or_raise,
        Channel.broadcast_from_or_raise,
        Runtime.broadcast_or_raise,
        Runtime.direct_broadcast_or_raise,
    ],
)
def test_a_broadcast_or_raise_is_typed_to_return_nothing(function: Any) -> None:
    assert get_type_hints(function)["return"] is type(None)
    assert inspect.signature(function).return_annotation == "None"
