"""What channels can do from inside their callbacks, and what the client sees of it."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

from pytest_channels import (
    Broadcast,
    Channel,
    Close,
    InfoResult,
    InResult,
    JoinResult,
    NotIdle,
    Push,
    Reason,
    Reply,
    Socket,
    SocketRef,
    Timer,
    noreply,
    ok,
    reply,
)
from pytest_channels.testing import ChannelCase

seen: list[Any] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    seen.clear()


class Chat(Channel):
    intercept = ("secret",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        match event:
            case "shout":
                self.broadcast("shout", payload)
            case "whisper":
                self.broadcast_from("whisper", payload)
            case "remember":
                return noreply(socket.assign(memory=payload["value"]))
            case "later":
                ref = self.socket_ref(socket)
                self.send_after(payload["after"], ("answer", ref))
            case "timer":
                timer = self.send_after(1, "tick")
                return noreply(socket.assign(timer=timer))
            case "cancel":
                seen.append(socket.assigns["timer"].cancel())
            case "mutate":
                data = {"items": [1]}
                self.push("data", data)
                data["items"].append(2)
                return reply(socket, "ok", data)
            case "bad_push":
                self.push("bad", {"when": {1, 2}})
        return noreply(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        seen.append(("handle_out", event, payload))
        if payload.get("reveal"):
            self.push(event, {"revealed": True})
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        match message:
            case ("answer", SocketRef() as ref):
                ref.reply("ok", {"late": True})
            case "tick":
                seen.append("tick")
        return noreply(socket)


def join(channels: ChannelCase, topic: str = "chat:1") -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(), topic, channel=Chat)


def test_a_broadcast_the_channel_does_not_intercept_goes_straight_to_the_client(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.broadcast_from(socket, "news", {"n": 1})
    # Delivered before any wait: the fastlane runs in the broadcaster, as in Phoenix.
    assert channels.mailbox == (Push("chat:1", "news", {"n": 1}, None),)
    assert seen == []


def test_an_intercepted_broadcast_goes_through_handle_out(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.broadcast_from(socket, "secret", {"reveal": False})
    channels.refute_push("secret")
    channels.broadcast_from(socket, "secret", {"reveal": True})
    channels.assert_push("secret", {"revealed": True})
    assert seen == [("handle_out", "secret", {"reveal": False}), ("handle_out", "secret", {"reveal": True})]


def test_broadcast_reaches_every_subscriber_including_the_channels_own_client(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "shout", {"hi": 1})
    channels.assert_broadcast("shout", {"hi": 1})
    channels.assert_push("shout", {"hi": 1})


def test_broadcast_from_skips_only_the_sending_channel(channels: ChannelCase) -> None:
    first = join(channels)
    second = channels.join(channels.socket(), "chat:1", channel=Chat).socket
    channels.push(first, "whisper", {"psst": 1})
    channels.assert_broadcast("whisper", {"psst": 1})  # the test's own subscription
    push = channels.assert_push("whisper", {"psst": 1})  # the second channel's client
    channels.refute_push("whisper")  # and not the first's
    assert push.join_ref is None
    assert second.join_ref != first.join_ref


def test_assigns_changed_in_one_channel_never_show_in_another_on_the_same_socket(channels: ChannelCase) -> None:
    socket = channels.socket(assigns={"user": 1})
    a = channels.join(socket, "chat:a", channel=Chat).socket
    b = channels.join(socket, "chat:b", channel=Chat).socket
    channels.push(a, "remember", {"value": "only a"})
    assert channels.get_state(a).assigns == {"user": 1, "memory": "only a"}
    assert channels.get_state(b).assigns == {"user": 1}
    assert socket.assigns == {"user": 1}


def test_socket_ref_replies_later_from_anywhere(channels: ChannelCase) -> None:
    socket = join(channels)
    ref = channels.push(socket, "later", {"after": 30})
    channels.refute_reply(ref, timeout=29.9)
    channels.assert_reply(ref, "ok", {"late": True}, timeout=0.1)
    assert channels.now == 30


def test_socket_ref_outside_handle_in_is_refused_with_a_clear_error(channels: ChannelCase) -> None:
    socket = join(channels)
    process = socket.channel_pid
    assert process is not None
    with pytest.raises(Exception, match=r"^Chat.socket_ref needs the socket given to handle_in"):
        process.channel.socket_ref(socket)


def test_send_after_returns_a_timer_that_cancel_stops(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "timer")
    timer = channels.get_state(socket).assigns["timer"]
    assert isinstance(timer, Timer)
    assert timer.deadline_ns == 1_000_000_000
    channels.push(socket, "cancel")
    channels.advance(5)
    assert seen == [True]


def test_a_timer_fires_at_its_instant_in_virtual_time(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "timer")
    channels.advance(0.999)
    assert seen == []
    channels.advance(0.001)
    assert seen == ["tick"]


def test_what_a_channel_pushes_is_a_copy_it_cannot_change_afterwards(channels: ChannelCase) -> None:
    socket = join(channels)
    ref = channels.push(socket, "mutate")
    channels.assert_push("data", {"items": [1]})
    channels.assert_reply(ref, "ok", {"items": [1, 2]})


def test_an_unserializable_push_crashes_the_channel_with_a_message_naming_it(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "bad_push")
    exit = channels.assert_exit(socket)
    assert str(exit.reason).startswith("Chat push 'bad': payload['when'] = {1, 2} (set) cannot be sent as JSON.")


@pytest.mark.channels(check_payloads=False)
def test_payload_checking_can_be_switched_off(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "bad_push")
    channels.assert_push("bad", {"when": {1, 2}})


def test_a_test_push_payload_is_normalized_as_the_wire_would(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "remember", {"value": {1: ("a", "b")}})
    assert channels.get_state(socket).assigns["memory"] == {"1": ["a", "b"]}


class Pusher(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.push("too_early", {})
        return ok(socket)


def test_pushing_inside_join_crashes_the_join_with_advice(
    channels: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    result = channels.join(channels.socket(), "p", channel=Pusher)
    assert result.reply == {"reason": "join crashed"}
    assert (
        "Pusher.push('too_early') was called inside join, before the channel joined. "
        "Call self.send('after_join') in join and do it from handle_info instead."
    ) in caplog.text


class Invalid(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return socket  # type: ignore[return-value]


def test_an_invalid_join_result_is_a_join_crash_naming_the_shapes(
    channels: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    assert channels.join(channels.socket(), "x", channel=Invalid).reply == {"reason": "join crashed"}
    assert caplog.records[-1].levelno == logging.ERROR
    assert "expected ok(socket), ok(socket, reply) or error(reply)" in caplog.text


class Leaving(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def terminate(self, reason: Reason, socket: Socket) -> None:
        seen.append(reason)


def test_leave_returns_the_exit_and_leaves_the_reply_and_close_in_the_mailbox(channels: ChannelCase) -> None:
    socket = channels.join(channels.socket(), "l", channel=Leaving).socket
    exit = channels.leave(socket)
    assert (exit.topic, exit.reason, exit.crashed) == ("l", ("shutdown", "left"), False)
    assert channels.mailbox == (
        Reply("l", "2", "ok", {}, socket.join_ref),
        Close("l", ("shutdown", "left"), socket.join_ref),
    )
    assert seen == [("shutdown", "left")]
    assert channels.leave(socket) is exit  # leaving again is harmless


def test_close_terminates_with_closed_and_sends_no_close_message(channels: ChannelCase) -> None:
    socket = channels.join(channels.socket(), "c", channel=Leaving).socket
    exit = channels.close(socket)
    assert exit.reason == ("shutdown", "closed")
    assert channels.mailbox == ()
    assert seen == [("shutdown", "closed")]


def test_get_state_of_a_stopped_channel_says_when_and_why_it_stopped(channels: ChannelCase) -> None:
    socket = channels.join(channels.socket(), "c", channel=Leaving).socket
    channels.advance(2)
    channels.close(socket)
    with pytest.raises(AssertionError, match=r"^get_state: Leaving on 'c' is not running: it exited at t=2.000s"):
        channels.get_state(socket)


class Slow(Channel):
    async def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        await anyio.lowlevel.checkpoint()
        return ok(socket, {"async": True})

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "hang":
            await anyio.Event().wait()  # nobody ever sets it
        await anyio.lowlevel.checkpoint()
        return reply(socket, "ok", {"async": True})


def test_callbacks_may_be_async(channels: ChannelCase) -> None:
    result = channels.join(channels.socket(), "s", channel=Slow)
    assert result.reply == {"async": True}
    ref = channels.push(result.socket, "go")
    channels.assert_reply(ref, "ok", {"async": True})


@pytest.mark.channels(idle_timeout=0.05)
def test_a_handler_that_never_finishes_fails_after_the_idle_timeout_naming_it(channels: ChannelCase) -> None:
    socket = channels.join(channels.socket(), "s", channel=Slow).socket
    channels.push(socket, "hang")
    with pytest.raises(NotIdle) as info:
        channels.settle()
    assert str(info.value) == (
        "the channels were still busy after 0.05s of real time:\n"
        "  - Slow (topic 's') in handle_in('hang')\n"
        "A handler is awaiting something that never completes (real I/O, an event nobody sets). "
        "Raise idle_timeout if the wait is real and slow."
    )


def test_the_runtime_can_broadcast_from_application_code(channels: ChannelCase) -> None:
    channels.subscribe("news")
    channels.runtime.broadcast("news", "headline", {"title": "t"})
    got = channels.assert_broadcast("headline", {"title": "t"}, topic="news")
    assert got == Broadcast("news", "headline", {"title": "t"})


class Relay(Channel):
    """Hands each event on to the next channel in a chain, through an intercepted broadcast."""

    intercept = ("hop",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        self.broadcast_from("hop", {"n": 0})
        return noreply(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        n = payload["n"] + 1
        assert socket.topic is not None
        next_topic = f"relay:{int(socket.topic.split(':')[1]) + 1}"
        if n < 10:
            socket.runtime.broadcast(next_topic, "hop", {"n": n})  # type: ignore[union-attr]
        else:
            self.push("arrived", {"n": n})
        return noreply(socket)


def test_settle_runs_a_chain_of_channels_to_the_end_before_returning(channels: ChannelCase) -> None:
    sockets = [channels.join(channels.socket(), f"relay:{i}", channel=Relay).socket for i in range(12)]
    channels.join(channels.socket(), "relay:0", channel=Relay)
    channels.push(sockets[0], "start")
    channels.settle()
    assert channels.runtime.idle
    assert [m for m in channels.mailbox if isinstance(m, Push)] == [Push("relay:9", "arrived", {"n": 10}, "10")]
