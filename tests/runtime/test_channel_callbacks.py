"""What each callback may return, and what the client and the channel see for each."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pytest_channels import (
    Channel,
    Close,
    InfoResult,
    InResult,
    InvalidReturn,
    JoinResult,
    Reason,
    Reply,
    Socket,
    error,
    noreply,
    ok,
    reply,
    stop,
)
from pytest_channels.testing import ChannelCase, ChannelCrashed, Where

terminated: list[tuple[str, Reason]] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    terminated.clear()


class Room(Channel):
    """Answers each event as its name says."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        if payload.get("refuse"):
            return error({"reason": "refused"})
        if payload.get("after_join"):
            self.send("after_join")
        return ok(socket.assign(count=0), {"welcome": topic})

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        socket = socket.assign(count=socket.assigns["count"] + 1)
        match event:
            case "noreply":
                return noreply(socket)
            case "reply":
                return reply(socket, payload.get("status", "ok"), {"echo": payload})
            case "stop":
                return stop(socket, payload.get("reason", "normal"))
            case "stop_with_reply":
                return stop(socket, "shutdown", reply=("ok", {"bye": True}))
            case "push":
                self.push("pushed", {"n": socket.assigns["count"]})
                return noreply(socket)
            case "raise":
                raise ValueError("boom")
            case "bad_return":
                return socket  # type: ignore[return-value]
            case "none":
                return None  # type: ignore[return-value]
        raise AssertionError(event)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        if message == "after_join":
            self.push("after_join", {"count": socket.assigns["count"]})
            return noreply(socket.assign(after_join=True))
        return super().handle_info(message, socket)  # type: ignore[return-value]

    def terminate(self, reason: Reason, socket: Socket) -> None:
        terminated.append((socket.topic or "", reason))


def join(channels: ChannelCase, topic: str = "room:1", payload: Any = None) -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(), topic, payload or {}, channel=Room)


def test_join_can_accept_with_a_reply(channels: ChannelCase) -> None:
    result = channels.join(channels.socket(), "room:1", {}, channel=Room)
    assert result.reply == {"welcome": "room:1"}
    assert result.socket.joined
    assert result.socket.topic == "room:1"
    assert result.socket.assigns == {"count": 0}


def test_join_can_refuse_with_a_reply_and_terminate_runs_with_shutdown(channels: ChannelCase) -> None:
    assert channels.join(channels.socket(), "room:1", {"refuse": True}, channel=Room) == error({"reason": "refused"})
    assert terminated == [("room:1", "shutdown")]
    assert channels.mailbox == ()


def test_the_joined_socket_already_reflects_what_join_sent_itself(channels: ChannelCase) -> None:
    socket = join(channels, payload={"after_join": True})
    assert socket.assigns == {"count": 0, "after_join": True}
    channels.assert_push("after_join", {"count": 0}, timeout=0)


def test_noreply_keeps_the_new_socket_and_sends_nothing(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "noreply")
    channels.refute_reply("1")
    assert channels.get_state(socket).assigns["count"] == 1
    assert channels.mailbox == ()


def test_reply_answers_the_push_with_its_ref_status_and_payload(channels: ChannelCase) -> None:
    socket = join(channels)
    ref = channels.push(socket, "reply", {"status": "error", "why": 1})
    got = channels.assert_reply(ref, "error", {"echo": {"status": "error", "why": 1}})
    assert (got.topic, got.join_ref) == ("room:1", socket.join_ref)


def test_stop_normal_closes_gracefully_and_terminates(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "stop")
    exit = channels.assert_exit(socket, "normal")
    assert not exit.crashed
    assert channels.mailbox == (Close("room:1", "normal", socket.join_ref),)
    assert terminated == [("room:1", "normal")]


def test_stop_with_a_reply_sends_the_reply_before_the_close(channels: ChannelCase) -> None:
    socket = join(channels)
    ref = channels.push(socket, "stop_with_reply")
    channels.settle()
    assert channels.mailbox == (
        Reply("room:1", ref, "ok", {"bye": True}, socket.join_ref),
        Close("room:1", "shutdown", socket.join_ref),
    )
    assert terminated == [("room:1", "shutdown")]


def test_stop_with_an_abnormal_reason_is_a_crash_the_test_must_claim(
    channels: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    socket = join(channels)
    channels.push(socket, "stop", {"reason": "kicked"})
    exit = channels.assert_exit(socket, "kicked")
    assert exit.crashed
    assert channels.mailbox == ()  # no Close: the client would see phx_error
    assert "Room (topic 'room:1') stopped with abnormal reason 'kicked'" in caplog.text


def test_a_raise_after_join_fails_the_next_assertion_with_the_channel_traceback(
    channels: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    socket = join(channels)
    channels.push(socket, "raise")
    with pytest.raises(ChannelCrashed) as info:
        channels.refute_push()
    assert str(info.value) == (
        "Room on 'room:1' crashed at t=0.000s with ValueError('boom').\n"
        "Its traceback is shown above. If the test expects this exit, claim it with "
        "channels.assert_exit(socket, reason=...)."
    )
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.__cause__.__traceback__ is not None
    assert terminated == [("room:1", info.value.__cause__)]
    assert "Room (topic 'room:1') crashed in handle_in('raise'): an exception was raised" in caplog.text


def test_a_claimed_crash_does_not_fail_the_test(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "raise")
    exit = channels.assert_exit(socket, Where(lambda e: isinstance(e, ValueError) and str(e) == "boom"))
    assert exit.crashed
    channels.refute_push()


@pytest.mark.parametrize(
    ("event", "shown"),
    [("bad_return", "Socket(handler=None"), ("none", "None")],
)
def test_an_invalid_handle_in_result_crashes_with_a_message_naming_the_shapes(
    channels: ChannelCase, event: str, shown: str
) -> None:
    socket = join(channels)
    channels.push(socket, event)
    exit = channels.assert_exit(socket)
    message = str(exit.reason)
    assert message.startswith(f"Room.handle_in returned {shown}")
    line = Room.handle_in.__code__.co_firstlineno
    assert message.endswith(
        "; expected noreply(socket), reply(socket, status, payload) or stop(socket, reason, reply=...) "
        f"(defined at {__file__}:{line})"
    )


def test_an_unexpected_message_is_a_logged_warning_not_a_crash(
    channels: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    socket = join(channels)
    socket.channel_pid.send("surprise")  # type: ignore[union-attr]
    channels.settle()
    assert caplog.records[-1].levelno == logging.WARNING
    assert caplog.records[-1].getMessage() == (
        "Room (topic 'room:1') received unexpected message in handle_info: 'surprise'"
    )
    assert channels.get_state(socket).joined


def test_pushing_to_a_stopped_channel_is_ignored(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "stop")
    channels.assert_exit(socket)
    channels.push(socket, "reply")
    channels.refute_reply("2")


class RepliesFromHandleInfo(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_info(self, message: Any, socket: Socket) -> Any:
        return reply(socket, "ok", {})  # there is no client push to reply to


def test_a_reply_from_handle_info_crashes_with_a_message_naming_the_shapes(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RepliesFromHandleInfo)
    socket.channel_pid.send("tick")  # type: ignore[union-attr]
    exit = channels.assert_exit(socket)
    assert isinstance(exit.reason, InvalidReturn)
    assert str(exit.reason).startswith(
        "RepliesFromHandleInfo.handle_info returned Replied(status='ok', payload={}); "
        "expected noreply(socket) or stop(socket, reason)"
    )
