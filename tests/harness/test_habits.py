"""Habits from elsewhere get a hint: duplicate subscriptions, integer refs, millisecond
timeouts; and a crash already raised by a wait can still be claimed with `assert_exit`."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import pytest

from pytest_channels import Channel, InfoResult, InResult, JoinResult, Socket, noreply, ok, reply
from pytest_channels.testing import ChannelCase, ChannelCrashed, LooksLikeMilliseconds


class Room(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "boom":
            raise ValueError("boom")
        if event == "ask":
            return reply(socket, "ok", {})
        if event == "later":
            self.send_after(payload["after"], "late")
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.push("late", {})
        return noreply(socket)


def test_a_refute_that_finds_a_duplicate_broadcast_says_how_often_the_test_is_subscribed(
    channels: ChannelCase,
) -> None:
    channels.subscribe_and_join_or_raise(channels.socket(), "room:x", channel=Room)
    channels.subscribe_and_join_or_raise(channels.socket(), "room:x", channel=Room)
    channels.runtime.broadcast("room:x", "news", {})
    channels.assert_broadcast("news")
    with pytest.raises(AssertionError) as info:
        channels.refute_broadcast("news")
    assert str(info.value).splitlines()[-1] == (
        "Note: the test is subscribed to 'room:x' 2 times (each subscribe and subscribe_and_join adds one, "
        "as in Phoenix), so every broadcast on it arrives 2 times."
    )


def test_a_failed_assertion_carries_the_same_note(channels: ChannelCase) -> None:
    channels.subscribe("room:x")
    channels.subscribe("room:x")
    channels.subscribe("room:y")
    with pytest.raises(AssertionError) as info:
        channels.assert_broadcast("news")
    assert str(info.value).splitlines()[-1].startswith("Note: the test is subscribed to 'room:x' 2 times")
    assert "room:y" not in str(info.value)


def test_unsubscribing_removes_the_note_with_every_copy(channels: ChannelCase) -> None:
    channels.subscribe("room:x")
    channels.subscribe("room:x")
    channels.unsubscribe("room:x")
    with pytest.raises(AssertionError) as info:
        channels.assert_broadcast("news")
    assert "Note:" not in str(info.value)


@pytest.mark.parametrize("call", ["assert_reply", "refute_reply"])
def test_an_int_ref_is_refused_with_what_refs_are(channels: ChannelCase, call: str) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:x", channel=Room)
    channels.push(socket, "ask")
    with pytest.raises(TypeError) as info:
        getattr(channels, call)(2, "ok")
    assert str(info.value) == (
        f"{call}: refs are strings (got the int 2). Pass the ref that channels.push(...) returned, "
        "or '2' if you counted it yourself."
    )


@pytest.mark.parametrize("timeout", [100, 500, 1000.0, 5000])
def test_a_timeout_that_looks_like_milliseconds_warns(channels: ChannelCase, timeout: float) -> None:
    with pytest.warns(LooksLikeMilliseconds, match=rf"^timeout={timeout!r} is in seconds here") as record:
        channels.refute_push("x", timeout=timeout)
    assert record[0].filename == __file__


@pytest.mark.parametrize("timeout", [0.1, 5, 60, 99.0, 120, 150.5, 600, 3599, 3600])
def test_timeouts_that_read_as_seconds_do_not_warn(channels: ChannelCase, timeout: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        channels.refute_push("x", timeout=timeout)


def test_a_timedelta_says_its_unit_and_never_warns(channels: ChannelCase) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        channels.refute_push("x", timeout=dt.timedelta(seconds=100))
    assert channels.now == 100


@pytest.mark.channels(ms_timeout_warning=0)
def test_the_warning_is_a_setting_that_zero_turns_off(channels: ChannelCase) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        channels.refute_push("x", timeout=100)


@pytest.mark.channels(ms_timeout_warning=1000)
def test_the_warning_threshold_is_a_setting(channels: ChannelCase) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        channels.refute_push("x", timeout=500)
    with pytest.warns(LooksLikeMilliseconds):
        channels.refute_push("x", timeout=1000)


def test_timedelta_works_for_every_wait(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:x", channel=Room)
    channels.push(socket, "later", {"after": 90})
    channels.advance(dt.timedelta(seconds=30))
    channels.refute_push("late", timeout=dt.timedelta(seconds=59))
    channels.assert_push("late", timeout=dt.timedelta(minutes=1))
    assert channels.now == 90
    channels.wait_until(lambda: True, timeout=dt.timedelta(milliseconds=5))
    channels.advance_to(dt.timedelta(hours=1))
    assert channels.now == 3600


def test_a_negative_timedelta_is_refused(channels: ChannelCase) -> None:
    with pytest.raises(ValueError, match=r"^timeout must be a duration >= 0"):
        channels.assert_push("x", timeout=dt.timedelta(seconds=-1))


def test_a_crash_raised_by_settle_can_still_be_claimed_with_assert_exit(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:x", channel=Room)
    channels.push(socket, "boom")
    with pytest.raises(ChannelCrashed):
        channels.settle()
    exit = channels.assert_exit(socket)
    assert isinstance(exit.reason, ValueError)
    assert exit.topic == "room:x"
    with pytest.raises(AssertionError, match=r"^assert_exit\('room:x'\): no matching exit"):
        channels.assert_exit(socket, timeout=0)  # claimed once only
