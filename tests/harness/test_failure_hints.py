"""A failing assertion's hint names the nearest mismatch and what differs; the timer hint
comes only when nothing near arrived (an app with a heartbeat always has a timer pending)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_channels import Channel, InfoResult, InResult, JoinResult, Socket, noreply, ok, reply
from pytest_channels.testing import ChannelCase


class Heartbeat(Channel):
    """Beats every 30 s, as many apps do, and answers what it is asked."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.send_after(30, "beat")
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "ask":
            return reply(socket, "ok", {"answer": 42})
        self.push(event, payload)
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.send_after(30, "beat")
        return noreply(socket)


def join(channels: ChannelCase) -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Heartbeat)


def failure(call: Any, *args: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(AssertionError) as info:
        call(*args, **kwargs)
    return str(info.value).splitlines()


def test_a_wrong_payload_is_the_hint_even_with_a_heartbeat_timer_pending(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "said", {"text": "hi"})
    lines = failure(channels.assert_push, "said", {"text": "hello"})
    assert lines[-3:] == [
        "Timers still pending:",
        "  - at 30.000s: Heartbeat (topic 'room:1') handle_info('beat')",
        "Hint: the nearest message (same event) differs in payload ('text': expected 'hello', got 'hi').",
    ]


def test_a_broadcast_where_a_push_was_expected_is_named_as_the_wrong_kind(channels: ChannelCase) -> None:
    join(channels)
    channels.subscribe("lobby")
    channels.runtime.broadcast("lobby", "news", {"n": 1})
    lines = failure(channels.assert_push, "news", {"n": 1})
    assert lines[3] == "  - Broadcast(topic='lobby', event='news', payload={'n': 1}, t=0.000s)  <- same event"
    assert lines[-1] == (
        "Hint: the nearest message (same event) differs in kind (a Broadcast, not a Push: the test's own "
        "subscription received it, and assert_broadcast takes it)."
    )


def test_a_push_where_a_broadcast_was_expected_is_named_as_the_wrong_kind(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "news", {"n": 1})
    assert failure(channels.assert_broadcast, "news", {"n": 2})[-1] == (
        "Hint: the nearest message (same event) differs in kind (a Push, not a Broadcast: a channel sent it "
        "to the client, and assert_push takes it); payload ('n': expected 2, got 1)."
    )


def test_a_reply_with_the_wrong_status_says_so(channels: ChannelCase) -> None:
    socket = join(channels)
    ref = channels.push(socket, "ask")
    assert failure(channels.assert_reply, ref, "error")[-1] == (
        "Hint: the nearest message (same ref) differs in status (expected 'error', got 'ok')."
    )


def test_a_wrong_topic_says_so(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "said", {})
    assert failure(channels.assert_push, "said", topic="room:2")[-1] == (
        "Hint: the nearest message (same event) differs in topic (expected 'room:2', got 'room:1')."
    )


def test_the_nearest_mismatch_comes_first_even_behind_messages_of_the_right_kind(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "other", {})
    channels.subscribe("lobby")
    channels.runtime.broadcast("lobby", "said", {"text": "hi"})
    lines = failure(channels.assert_push, "said", {"text": "hi"})
    assert lines[3].startswith("  - Broadcast(topic='lobby', event='said'")
    assert lines[4].startswith("  - Push(topic='room:1', event='other'")


def test_the_timer_hint_comes_when_nothing_near_arrived(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "other", {})
    assert failure(channels.assert_push, "said")[-1] == (
        "Hint: a timer fires at 30.000s, after the deadline. "
        "Pass a longer timeout= or call channels.advance(...) first."
    )
