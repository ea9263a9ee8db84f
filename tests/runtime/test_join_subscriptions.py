"""A channel may subscribe to other topics while it joins, as Phoenix's ChannelTest suite does."""

from __future__ import annotations

from typing import Any

from pytest_channels import Broadcast, Channel, InfoResult, JoinResult, Push, Socket, error, noreply, ok
from pytest_channels.testing import ChannelCase


class External(Channel):
    """Phoenix's ChannelTest "external subscriptions": subscribe in join, push what arrives."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.subscribe("external:topic")
        if payload.get("refuse"):
            return error({"reason": "refused"})
        if payload.get("crash"):
            raise RuntimeError("join failed after subscribing")
        return ok(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        assert isinstance(message, Broadcast)
        self.push(message.event, message.payload)
        return noreply(socket)


def test_a_channel_subscribed_inside_join_receives_that_topics_broadcasts(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "foo:external", channel=External)
    channels.runtime.broadcast("external:topic", "external_event", {"one": 1})
    push = channels.assert_push("external_event", {"one": 1})
    assert push == Push("foo:external", "external_event", {"one": 1}, socket.join_ref)


def test_a_refused_join_drops_the_subscription_it_made(channels: ChannelCase) -> None:
    result = channels.join(channels.socket(), "foo:external", {"refuse": True}, channel=External)
    assert result.reply == {"reason": "refused"}
    assert "external:topic" not in channels.runtime.pubsub.statistics().subscribers
    channels.runtime.broadcast("external:topic", "external_event", {"one": 1})
    channels.refute_push()


def test_a_crashed_join_drops_the_subscription_it_made(channels: ChannelCase) -> None:
    result = channels.join(channels.socket(), "foo:external", {"crash": True}, channel=External)
    assert result.reply == {"reason": "join crashed"}
    assert channels.runtime.pubsub.statistics().subscribers == {}
