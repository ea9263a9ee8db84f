"""assert_* and refute_*: selective receive in virtual time, and what they say when they fail."""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest
from dirty_equals import IsInt, IsPartialDict

from pytest_channels import (
    Channel,
    ChannelsError,
    InfoResult,
    InResult,
    JoinResult,
    Push,
    Socket,
    error,
    noreply,
    ok,
    reply,
)
from pytest_channels._runtime._errors import Refused
from pytest_channels.testing import ChannelCase, Partial, Where


class Ticker(Channel):
    """Pushes what it is asked to, now or later."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "later":
            self.send_after(payload["after"], ("push", payload["event"], payload["body"]))
            return noreply(socket)
        if event == "ask":
            return reply(socket, "ok", {"answer": 42})
        self.push(event, payload)
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        _, event, body = message
        self.push(event, body)
        return noreply(socket)


def join(channels: ChannelCase, topic: str = "t:1") -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(), topic, channel=Ticker)


def test_an_assertion_takes_the_first_match_and_leaves_the_rest_in_order(channels: ChannelCase) -> None:
    socket = join(channels)
    for event in ("a", "b", "a"):
        channels.push(socket, event, {"e": event})
    channels.assert_push("b")
    assert [m.event for m in channels.mailbox if isinstance(m, Push)] == ["a", "a"]
    channels.assert_push("a")
    channels.assert_push("a")
    channels.refute_push()


def test_reading_the_mailbox_consumes_nothing(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "a")
    channels.settle()
    assert channels.mailbox == channels.mailbox == (Push("t:1", "a", {}, socket.join_ref),)
    assert channels.flush() == (Push("t:1", "a", {}, socket.join_ref),)
    assert len(channels.mailbox) == 0


def test_topic_narrows_any_assertion_to_one_channel(channels: ChannelCase) -> None:
    first, second = join(channels, "t:1"), join(channels, "t:2")
    channels.push(first, "same", {"from": 1})
    channels.push(second, "same", {"from": 2})
    assert channels.assert_push("same", topic="t:2").payload == {"from": 2}
    assert channels.assert_push("same", topic="t:1").payload == {"from": 1}


def test_payloads_compare_exactly_by_default(channels: ChannelCase) -> None:
    socket = join(channels)
    ref = channels.push(socket, "ask")
    with pytest.raises(AssertionError):
        channels.assert_reply(ref, "ok", {"answer": 42, "extra": True}, timeout=0)
    channels.assert_reply(ref, "ok", {"answer": 42})


@pytest.mark.parametrize(
    "expected",
    [
        ANY,
        Partial(answer=42),
        Partial({"answer": 42}),
        Where(lambda p: p["answer"] > 40),
        IsPartialDict(answer=IsInt(gt=40)),
        {"answer": IsInt},
    ],
    ids=["ANY", "Partial-kwargs", "Partial-dict", "Where", "dirty-equals", "nested-matcher"],
)
def test_any_object_with_eq_matches_because_expected_is_on_the_left(channels: ChannelCase, expected: Any) -> None:
    socket = join(channels)
    ref = channels.push(socket, "ask")
    channels.assert_reply(ref, "ok", expected)


def test_partial_and_where_say_no_to_what_they_do_not_match() -> None:
    assert Partial(a=1) != {"a": 2}
    assert Partial(a=1) != [("a", 1)]
    assert Where(lambda p: p["missing"]) != {}
    assert repr(Partial(a=1)) == "Partial({'a': 1})"


def test_assert_waits_in_virtual_time_until_the_message_arrives(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "later", {"after": 3600, "event": "hourly", "body": {}})
    push = channels.assert_push("hourly", timeout=3600)
    assert channels.now == 3600
    assert push.at_ns == 3600 * 10**9


def test_a_deadline_is_inclusive(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "later", {"after": 0.1, "event": "edge", "body": {}})
    channels.assert_push("edge")  # default timeout 0.1 s: the push at exactly 0.1 s counts


def test_refute_waits_its_whole_timeout_in_virtual_time(channels: ChannelCase) -> None:
    join(channels)
    channels.refute_push(timeout=30)
    assert channels.now == 30


def test_a_zero_timeout_checks_without_moving_time(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "later", {"after": 1, "event": "soon", "body": {}})
    channels.refute_push(timeout=0)
    with pytest.raises(AssertionError):
        channels.assert_push("soon", timeout=0)
    assert channels.now == 0


def test_a_negative_timeout_is_refused(channels: ChannelCase) -> None:
    with pytest.raises(ValueError, match=r"^timeout must be a finite number of seconds >= 0 \(got -1\)$"):
        channels.assert_push("x", timeout=-1)


@pytest.mark.channels(assert_timeout=5)
def test_the_default_timeout_comes_from_the_marker(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "later", {"after": 5, "event": "slow", "body": {}})
    channels.assert_push("slow")


def test_a_failed_assert_push_shows_expected_mailbox_consumed_and_timers(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "other", {"n": 1})
    channels.push(socket, "number", {"value": 10})
    channels.push(socket, "seen", {})
    channels.push(socket, "later", {"after": 1, "event": "number", "body": {"value": 1}})
    channels.assert_push("seen")
    with pytest.raises(AssertionError) as info:
        channels.assert_push("number", {"value": 1})
    assert str(info.value) == "\n".join(
        [
            "assert_push('number'): nothing matched within 100 ms of virtual time (t=0.000s to t=0.100s).",
            "Expected: Push(event='number', payload={'value': 1})",
            "The mailbox holds 2 unconsumed message(s), closest first:",
            "  - Push(topic='t:1', event='number', payload={'value': 10}, t=0.000s)  <- same event",
            "  - Push(topic='t:1', event='other', payload={'n': 1}, t=0.000s)",
            "Consumed earlier by other assertions (1):",
            "  - Push(topic='t:1', event='seen', payload={}, t=0.000s)",
            "Timers still pending:",
            "  - at 1.000s: Ticker (topic 't:1') handle_info(('push', 'number', {'value': 1}))",
            "Hint: the nearest message (same event) differs in payload ('value': expected 1, got 10).",
        ]
    )


def test_a_failed_assertion_on_an_empty_mailbox_says_so(channels: ChannelCase) -> None:
    with pytest.raises(AssertionError) as info:
        channels.assert_broadcast("news", {"a": 1}, topic="room", timeout=0.25)
    assert str(info.value) == (
        "assert_broadcast('news'): nothing matched within 250 ms of virtual time (t=0.000s to t=0.250s).\n"
        "Expected: Broadcast(topic='room', event='news', payload={'a': 1})\n"
        "The mailbox is empty."
    )


def test_a_failed_refute_names_what_arrived_and_when(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "later", {"after": 0.05, "event": "oops", "body": {"x": 1}})
    with pytest.raises(AssertionError) as info:
        channels.refute_push("oops")
    assert str(info.value) == (
        "refute_push: unexpectedly received Push(topic='t:1', event='oops', payload={'x': 1}, t=0.050s) "
        "(checked at t=0.050s), which matches Push(event='oops')."
    )


def test_a_failed_assert_reply_puts_replies_to_the_same_ref_first(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "noise")
    ref = channels.push(socket, "ask")
    with pytest.raises(AssertionError) as info:
        channels.assert_reply(ref, "error")
    lines = str(info.value).splitlines()
    assert lines[1] == f"Expected: Reply(ref={ref!r}, status='error')"
    assert lines[3].startswith(f"  - Reply(topic='t:1', ref={ref!r}, status='ok', payload={{'answer': 42}}")


def test_assert_exit_failure_lists_the_exits_seen(channels: ChannelCase) -> None:
    socket = join(channels)
    with pytest.raises(AssertionError) as info:
        channels.assert_exit(socket, "normal")
    assert str(info.value) == (
        "assert_exit('t:1'): no matching exit within 100 ms of virtual time (t=0.000s to t=0.100s).\n"
        "Expected: Exit(topic='t:1', reason='normal')\n"
        "Exits so far:\n  (none)"
    )


def test_assert_broadcast_sees_only_the_tests_own_subscriptions(channels: ChannelCase) -> None:
    channels.runtime.broadcast("elsewhere", "x", {})
    channels.refute_broadcast("x")
    channels.subscribe("elsewhere")
    channels.runtime.broadcast("elsewhere", "x", {})
    channels.assert_broadcast("x", {})
    channels.unsubscribe("elsewhere")
    channels.runtime.broadcast("elsewhere", "x", {})
    channels.refute_broadcast("x")


def test_subscribing_twice_delivers_twice_as_in_phoenix(channels: ChannelCase) -> None:
    channels.subscribe("dup")
    channels.subscribe("dup")
    channels.runtime.broadcast("dup", "x", {})
    channels.assert_broadcast("x")
    channels.assert_broadcast("x")
    channels.refute_broadcast("x")


def test_partial_matches_nested_dicts_as_subsets_too() -> None:
    assert Partial(user={"id": 1}) == {"user": {"id": 1, "name": "a"}, "at": 3}
    assert Partial(user={"id": 1}) != {"user": {"id": 2}}
    assert Partial(items=[{"id": 1}]) != {"items": [{"id": 1, "x": 2}]}  # lists compare exactly


def test_time_in_the_test_body_follows_the_virtual_clock(channels: ChannelCase) -> None:
    import time

    channels.advance(10)
    assert time.time() == 1704067210.0


def test_a_failed_assertion_spells_out_how_the_closest_payload_differs(channels: ChannelCase) -> None:
    socket = join(channels)
    ref = channels.push(socket, "ask")
    with pytest.raises(AssertionError) as info:
        channels.assert_reply(ref, "ok", {"answer": 41, "extra": True}, timeout=0)
    assert str(info.value).splitlines()[-1] == (
        "Hint: the nearest message (same ref) differs in payload (missing key 'extra'; 'answer': expected 41, got 42)."
    )


class Refusing(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return error({"reason": "unauthorized"})


def test_the_socket_of_a_refused_join_is_a_channels_error_that_shows_the_refusal(channels: ChannelCase) -> None:
    # The runtime's own error, not an AssertionError: the runtime knows nothing of tests.
    result = channels.join(channels.socket(), "t:1", channel=Refusing)
    assert not result.ok
    with pytest.raises(Refused, match=r"^refused with \{'reason': 'unauthorized'\}: there is no socket") as raised:
        _ = result.socket
    assert isinstance(raised.value, ChannelsError)
    assert not isinstance(raised.value, AssertionError)
