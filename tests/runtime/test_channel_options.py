"""Channel options: the log levels of joins and pushes, and noreply's idle timeout."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import timedelta
from typing import Any

import pytest

from pytest_channels import Channel, InfoResult, InResult, JoinResult, Push, Socket, error, noreply, ok, reply
from pytest_channels.testing import ChannelCase


class Room(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        if payload.get("refuse"):
            return error({"reason": "no"})
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "wait":
            return noreply(socket, timeout=math.inf if payload["seconds"] == "infinity" else payload["seconds"])
        if event == "bad_timeout":
            return noreply(socket, timeout=-1)
        return reply(socket, "ok", {})

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.push("idle", {"message": message})
        return noreply(socket)


class Quiet(Room):
    log_join = False
    log_handle_in = "warning"


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(record.levelno, record.getMessage()) for record in caplog.records]


def test_a_join_is_logged_at_info_with_its_parameters_filtered(
    channels: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "pytest_channels")
    channels.join(channels.socket(), "room:1", {"name": "ada", "password": "hunter2"}, channel=Room)
    channels.join(channels.socket(), "room:2", {"refuse": True}, channel=Room)
    assert lines(caplog) == [
        (logging.INFO, "JOINED room:1 in 0µs\n  Parameters: {'name': 'ada', 'password': '[FILTERED]'}"),
        (logging.INFO, "REFUSED JOIN room:2 in 0µs\n  Parameters: {'refuse': True}"),
    ]


def test_a_handled_push_is_logged_at_debug(channels: ChannelCase, caplog: pytest.LogCaptureFixture) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Room)
    caplog.set_level(logging.DEBUG, "pytest_channels")
    channels.assert_reply(channels.push(socket, "ping", {"n": 1}), "ok")
    assert lines(caplog) == [(logging.DEBUG, "HANDLED ping INCOMING ON room:1 (Room) in 0µs\n  Parameters: {'n': 1}")]


def test_log_join_false_logs_no_join_and_log_handle_in_sets_the_level(
    channels: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "pytest_channels")
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Quiet)
    channels.assert_reply(channels.push(socket, "ping"), "ok")
    assert lines(caplog) == [(logging.WARNING, "HANDLED ping INCOMING ON room:1 (Quiet) in 0µs\n  Parameters: {}")]


def test_channels_on_phoenix_topics_are_never_logged(channels: ChannelCase, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "pytest_channels")
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "phoenix:live_reload", channel=Room)
    channels.assert_reply(channels.push(socket, "ping"), "ok")
    assert caplog.records == []


def test_a_level_that_is_not_one_fails_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match=r"^Loud.log_join must be a logging level .* \(got 'loud'\)$"):

        class Loud(Room):
            log_join = "loud"


class Sleepy(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        await asyncio.sleep(0.0025)  # virtual time, not real-time: no real wait
        return reply(socket, "ok", {})


@pytest.mark.channels(virtual_loop=True)
def test_the_logged_duration_is_runtime_time(channels: ChannelCase, caplog: pytest.LogCaptureFixture) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Sleepy)
    caplog.set_level(logging.DEBUG, "pytest_channels")
    channels.assert_reply(channels.push(socket, "ping"), "ok")
    assert lines(caplog) == [(logging.DEBUG, "HANDLED ping INCOMING ON room:1 (Sleepy) in 2ms\n  Parameters: {}")]


# -- {:noreply, socket, timeout} ----------------------------------------------------------------


def test_noreply_with_a_timeout_sends_timeout_to_handle_info_after_that_long_idle(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Room)
    channels.push(socket, "wait", {"seconds": 5})
    channels.refute_push("idle", timeout=4.999)
    push = channels.assert_push("idle", {"message": "timeout"}, timeout=0.001)
    assert push == Push("room:1", "idle", {"message": "timeout"}, socket.join_ref)
    assert push.at_ns == 5_000_000_000


def test_a_message_before_the_timeout_cancels_it(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Room)
    channels.push(socket, "wait", {"seconds": 5})
    channels.advance(3)
    channels.assert_reply(channels.push(socket, "ping"), "ok")
    channels.refute_push("idle", timeout=60)
    assert channels.runtime.describe_timers() == ""


def test_a_new_timeout_replaces_the_old_one(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Room)
    channels.push(socket, "wait", {"seconds": 5})
    channels.advance(3)
    channels.push(socket, "wait", {"seconds": 5})
    channels.refute_push("idle", timeout=4.999)
    channels.assert_push("idle", {"message": "timeout"}, timeout=0.001)
    assert channels.now == 8


def test_the_pending_timeout_is_named_among_the_timers(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Room)
    channels.push(socket, "wait", {"seconds": 5})
    channels.settle()
    assert channels.runtime.describe_timers() == (
        "  - at 5.000s: Room (topic 'room:1') handle_info('timeout') after 5s without a message"
    )


def test_an_infinite_timeout_is_no_timeout(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Room)
    channels.push(socket, "wait", {"seconds": "infinity"})
    channels.refute_push("idle", timeout=timedelta(days=30))


def test_a_negative_timeout_crashes_the_channel_saying_why(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Room)
    channels.push(socket, "bad_timeout")
    exit = channels.assert_exit(socket)
    assert isinstance(exit.reason, ValueError)
    assert str(exit.reason) == "noreply timeout must be a number of seconds >= 0 or math.inf (got -1)"
