"""Actors stay isolated, failures are never silent, and a runaway channel fails instead of hanging."""

from __future__ import annotations

import contextvars
from typing import Any

import pytest

from pytest_channels import (
    Broadcast,
    Channel,
    InfoResult,
    InResult,
    JoinResult,
    NotIdle,
    Push,
    Reason,
    Socket,
    noreply,
    ok,
    reply,
    stop,
)
from pytest_channels.testing import ChannelCase, ChannelCrashed, Settings

CURRENT_USER: contextvars.ContextVar[str] = contextvars.ContextVar("CURRENT_USER", default="nobody")


class Room(Channel):
    intercept = ("mutate",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        match event:
            case "who":
                return reply(socket, "ok", {"user": CURRENT_USER.get()})
            case "crash":
                raise RuntimeError("boom")
            case "abnormal":
                return stop(socket, "invalid_state", reply=("error", {"why": "state"}))
            case "follow":
                self.subscribe(payload["topic"])
            case "unfollow":
                self.unsubscribe(payload["topic"])
        return noreply(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        payload["number"] = "MUTATED"
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        if isinstance(message, Broadcast):
            self.push("followed", {"from": message.topic, "event": message.event, "payload": message.payload})
        return noreply(socket)

    def terminate(self, reason: Reason, socket: Socket) -> None:
        self.broadcast_from("user_left", {"topic": socket.topic})
        self.push("bye", {})


def join(channels: ChannelCase, topic: str = "room") -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(), topic, channel=Room)


def test_terminate_can_still_push_and_broadcast_a_farewell(channels: ChannelCase) -> None:
    a, b = join(channels), join(channels)
    channels.leave(a)
    channels.assert_broadcast("user_left", {"topic": "room"})
    channels.assert_push("user_left", {"topic": "room"})  # b's client, through the fastlane
    channels.assert_push("bye", {}, topic="room")
    assert channels.get_state(b).joined


def test_every_receiver_of_a_broadcast_gets_its_own_copy(channels: ChannelCase) -> None:
    socket = join(channels)
    join(channels)
    channels.broadcast_from(socket, "mutate", {"number": 1})
    channels.settle()
    channels.runtime.broadcast("room", "mutate", {"number": 2})
    channels.settle()
    # The test joined twice, so it is subscribed twice; neither copy shows handle_out's change.
    assert [m.payload for m in channels.mailbox if isinstance(m, Broadcast)] == [{"number": 2}, {"number": 2}]


class Grower(Channel):
    intercept = ("grow",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        payload["items"].append("mine")
        self.push("grown", payload)
        return noreply(socket)


def test_each_intercepting_channel_changes_only_its_own_copy_of_a_broadcast(channels: ChannelCase) -> None:
    for _ in range(3):
        channels.subscribe_and_join_or_raise(channels.socket(), "garden", channel=Grower)
    channels.runtime.broadcast("garden", "grow", {"items": []})
    for _ in range(3):
        channels.assert_push("grown", {"items": ["mine"]})


def test_assert_exit_on_a_socket_waits_for_that_channel_not_another_on_its_topic(channels: ChannelCase) -> None:
    a, b = join(channels), join(channels)
    channels.close(b)
    with pytest.raises(AssertionError, match=r"^assert_exit\('room'\): no matching exit"):
        channels.assert_exit(a, timeout=0)
    assert channels.get_state(a).joined


def test_leave_does_not_swallow_a_crash_that_came_before_it(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "crash")
    with pytest.raises(ChannelCrashed, match=r"^Room on 'room' crashed at t=0.000s with RuntimeError\('boom'\)"):
        channels.leave(socket)


def test_a_reply_sent_before_an_abnormal_stop_can_be_asserted_before_claiming_the_exit(
    channels: ChannelCase,
) -> None:
    socket = join(channels)
    ref = channels.push(socket, "abnormal")
    channels.assert_reply(ref, "error", {"why": "state"})
    exit = channels.assert_exit(socket, "invalid_state")
    assert exit.crashed


def test_an_unclaimed_abnormal_stop_says_so_without_promising_a_traceback(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "abnormal")
    with pytest.raises(ChannelCrashed) as info:
        channels.settle()
    assert str(info.value) == (
        "Room on 'room' stopped abnormally at t=0.000s with 'invalid_state'.\n"
        "If the test expects this exit, claim it with channels.assert_exit(socket, reason=...)."
    )


def test_channels_see_context_variables_as_the_test_has_them_now(channels: ChannelCase) -> None:
    CURRENT_USER.set("alice")
    socket = join(channels)
    CURRENT_USER.set("bob")
    ref = channels.push(socket, "who")
    channels.assert_reply(ref, "ok", {"user": "bob"})


def test_a_channel_can_follow_other_topics_in_handle_info(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "follow", {"topic": "news"})
    channels.push(socket, "follow", {"topic": "news"})  # twice is once
    channels.settle()
    channels.runtime.broadcast("news", "headline", {"t": 1})
    channels.assert_push("followed", {"from": "news", "event": "headline", "payload": {"t": 1}})
    channels.refute_push("followed")
    channels.push(socket, "unfollow", {"topic": "news"})
    channels.settle()
    channels.runtime.broadcast("news", "headline", {"t": 2})
    channels.refute_push("followed")
    assert channels.runtime.pubsub.statistics().subscribers == {"room": 2}


class Chatty(Channel):
    """Keeps itself busy forever: a message loop, or a timer that fires again at once."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        if topic == "send":
            self.send("again")
        else:
            self.send_after(0, "again")
        return ok(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        if socket.topic == "send":
            self.send("again")
        else:
            self.send_after(0, "again")
        return noreply(socket)


@pytest.mark.channels(idle_timeout=0.05)
def test_a_channel_that_sends_itself_messages_forever_fails_instead_of_hanging(channels: ChannelCase) -> None:
    with pytest.raises(NotIdle) as info:
        channels.join(channels.socket(), "send", channel=Chatty)
    assert str(info.value).startswith(
        "the channels were still busy after 0.05s of real time:\n  - Chatty (topic 'send') in its mailbox ("
    )


@pytest.mark.channels(idle_timeout=0.05)
def test_a_zero_delay_timer_that_rearms_itself_fails_instead_of_hanging(channels: ChannelCase) -> None:
    channels.join(channels.socket(), "timer", channel=Chatty)
    with pytest.raises(NotIdle) as info:
        channels.refute_push()
    assert str(info.value) == (
        "timers kept firing at t=0.000s for 0.05s of real time without time moving on; "
        "the last one: Chatty (topic 'timer') handle_info('again')\n"
        "A timer with no delay that sets itself again never lets time move: give it a delay."
    )


def test_joining_without_a_route_or_a_channel_says_what_to_pass(channels: ChannelCase) -> None:
    with pytest.raises(TypeError, match=r"^join: no channel for 'room:1': this socket has no handler"):
        channels.join(channels.socket(), "room:1")


class Broken(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        raise KeyError("token")


def test_a_join_that_raises_shows_its_cause_in_the_raising_variant(channels: ChannelCase) -> None:
    with pytest.raises(AssertionError) as info:
        channels.subscribe_and_join_or_raise(channels.socket(), "b", channel=Broken)
    assert str(info.value) == (
        "could not join channel 'b', got error: {'reason': 'join crashed'} "
        "(the join raised: its traceback is shown above)"
    )
    assert isinstance(info.value.__cause__, KeyError)


def test_advancing_to_an_earlier_instant_is_refused(channels: ChannelCase) -> None:
    channels.advance(2)
    with pytest.raises(ValueError, match=r"^time can't go backwards: now is 2.000s, asked for 1.000s$"):
        channels.advance_to(1)


class Wrong(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.send("x")
        return ok(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        return stop(socket, "normal", reply=("ok", {}))


def test_a_stop_with_a_reply_outside_handle_in_names_the_callback(channels: ChannelCase) -> None:
    with pytest.raises(ChannelCrashed) as info:
        channels.join(channels.socket(), "w", channel=Wrong)  # the join settles, so handle_info runs
    assert str(info.value.__cause__) == (
        "Wrong.handle_info returned stop(socket, reason, reply=...), but only handle_in has a client push "
        "to reply to; expected noreply(socket) or stop(socket, reason) "
        f"(defined at {__file__}:{Wrong.handle_info.__code__.co_firstlineno})"
    )


def test_pushes_carry_the_channels_join_ref_and_broadcasts_none(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.broadcast_from(socket, "news", {})
    assert channels.mailbox == (Push("room", "news", {}, None),)


class BadTerminate(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def terminate(self, reason: Reason, socket: Socket) -> None:
        raise OSError("could not flush")


def test_a_terminate_that_raises_at_teardown_fails_the_test() -> None:
    case = ChannelCase()
    case.join(case.socket(), "t", channel=BadTerminate)
    with pytest.raises(ChannelCrashed, match=r"^BadTerminate on 't' crashed at t=0.000s with OSError"):
        case._teardown()


def test_a_terminate_that_raises_on_leave_is_reported_by_the_leave(channels: ChannelCase) -> None:
    socket = channels.join(channels.socket(), "t", channel=BadTerminate).socket
    with pytest.raises(ChannelCrashed, match=r"OSError\('could not flush'\)"):
        channels.leave(socket)


class Echoer(Channel):
    """Answers every "volley" broadcast on its topic with another one: two of them never stop."""

    intercept = ("volley",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        self.broadcast_from("volley", {"n": payload["n"] + 1})
        return noreply(socket)


@pytest.mark.parametrize("virtual_loop", [False, True], ids=["own-clock", "virtual-loop"])
def test_channels_that_answer_each_other_forever_fail_instead_of_hanging(virtual_loop: bool) -> None:
    # On a virtual loop the runner serves them and never goes idle, so the loop's time never moves:
    # its guard stalls the exchange at one instant, and the wait raises what it found.
    with ChannelCase(Settings(idle_timeout=0.05, virtual_loop=virtual_loop)) as channels:
        first = channels.join(channels.socket(), "court", channel=Echoer).socket
        channels.join(channels.socket(), "court", channel=Echoer)
        channels.broadcast_from(first, "volley", {"n": 0})
        with pytest.raises(NotIdle) as info:
            channels.settle()
        assert str(info.value).startswith(
            "the channels were still busy after 0.05s of real time:\n"
            "  - Echoer (topic 'court') in answering other channels, which answer back\n"
            "  - Echoer (topic 'court') with mail waiting its turn\n"
        )
