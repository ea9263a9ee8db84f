"""A channel's `terminate` gets its `shutdown` seconds (5 by default, as Phoenix), then it is killed.

Each stuck `terminate` here would wait forever, as Phoenix's `:timer.sleep(:infinity)` does,
but for a guard of its own that ends the wait after `guard` seconds: should the bound ever
stop working, these tests fail on the guard instead of hanging the suite.
"""

from __future__ import annotations

import logging
from typing import Any
from unittest.mock import ANY

import anyio
import pytest

from pytest_channels import Channel, Close, InResult, JoinResult, Reason, Reply, Socket, noreply, ok, stop
from pytest_channels.testing import AsyncChannelCase, ChannelCase, ChannelCrashed, Settings

TERMINATED: list[Reason] = []


@pytest.fixture(autouse=True)
def _forget_terminations() -> None:
    TERMINATED.clear()


class Stuck(Channel):
    """Its terminate never returns (unless its own guard ends the wait: then it says "returned")."""

    guard = 10.0  # real-time: on a real loop, reached only if the bound regressed

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        return stop(socket, "normal") if event == "stop" else noreply(socket)

    async def terminate(self, reason: Reason, socket: Socket) -> None:
        TERMINATED.append(reason)
        with anyio.move_on_after(self.guard):
            await anyio.sleep_forever()  # the line the failure output points at
        TERMINATED.append("returned")


class StuckForAnHour(Stuck):
    """On a virtual loop the guard is virtual too: an hour costs nothing, and is far past any bound."""

    guard = 3600.0


class Patient(StuckForAnHour):
    shutdown = 30.0


class Slow(Channel):
    """Its terminate takes three seconds: within the default bound."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def terminate(self, reason: Reason, socket: Socket) -> None:
        await anyio.sleep(3)  # not real-time: its tests run on the virtual loop
        TERMINATED.append(reason)


class Impatient(Stuck):
    shutdown = 0


def _join(channels: ChannelCase, channel: type[Channel]) -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=channel)


def test_close_with_a_timeout_kills_a_channel_whose_terminate_does_not_return(channels: ChannelCase) -> None:
    """Phoenix's "kills the channel when we reach timeout on close"."""
    socket = _join(channels, Stuck)
    exit = channels.close(socket, timeout=0)
    assert exit.reason == "killed"
    assert exit.crashed
    assert TERMINATED == [("shutdown", "closed")]  # terminate is not called again with "killed"
    assert channels.close(socket) is exit  # closing again does not crash
    assert channels.exits == ()  # the close claimed the exit it caused


@pytest.mark.channels(virtual_loop=True)
def test_close_kills_the_channel_after_its_shutdown_of_five_virtual_seconds(channels: ChannelCase) -> None:
    socket = _join(channels, StuckForAnHour)
    exit = channels.close(socket)
    assert (exit.reason, channels.now) == ("killed", 5.0)
    assert TERMINATED == [("shutdown", "closed")]


@pytest.mark.channels(virtual_loop=True)
def test_the_close_timeout_replaces_the_channels_shutdown(channels: ChannelCase) -> None:
    exit = channels.close(_join(channels, StuckForAnHour), timeout=1.5)
    assert (exit.reason, channels.now) == ("killed", 1.5)


@pytest.mark.channels(virtual_loop=True)
def test_a_channel_may_give_its_terminate_more_time_with_shutdown(channels: ChannelCase) -> None:
    exit = channels.close(_join(channels, Patient))
    assert (exit.reason, channels.now) == ("killed", 30.0)


@pytest.mark.channels(virtual_loop=True)
def test_a_terminate_that_returns_within_its_shutdown_ends_the_channel_as_usual(channels: ChannelCase) -> None:
    exit = channels.close(_join(channels, Slow))
    assert (exit.reason, channels.now) == (("shutdown", "closed"), 3.0)
    assert TERMINATED == [("shutdown", "closed")]


@pytest.mark.channels(virtual_loop=True)
def test_leave_kills_a_channel_whose_terminate_outlives_its_shutdown(channels: ChannelCase) -> None:
    socket = _join(channels, StuckForAnHour)
    exit = channels.leave(socket)
    assert (exit.reason, channels.now) == ("killed", 5.0)
    assert channels.mailbox == (
        Reply("room:1", ANY, "ok", {}, socket.join_ref),
        Close("room:1", ("shutdown", "left"), socket.join_ref),
    )
    assert channels.exits == ()


@pytest.mark.channels(idle_timeout=0.05)
def test_on_a_real_loop_the_real_time_guard_bounds_terminate_too(
    channels: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    # real-time: the point is the guard, 0.05 real seconds; the channel's shutdown (5 s) is longer
    exit = channels.close(_join(channels, Stuck))
    assert exit.reason == "killed"
    assert TERMINATED == [("shutdown", "closed")]
    assert (
        "Stuck (topic 'room:1') was killed: its terminate(('shutdown', 'closed')) did not return within "
        "the real-time guard (idle_timeout=0.05 real seconds) and was cut short." in caplog.text
    )


def test_a_kill_the_test_did_not_ask_for_fails_it_and_says_where_terminate_waited(channels: ChannelCase) -> None:
    socket = _join(channels, Impatient)
    channels.push(socket, "stop")
    with pytest.raises(ChannelCrashed) as info:
        channels.settle()
    lines = str(info.value).splitlines()
    assert lines[0] == "Impatient on 'room:1' stopped abnormally at t=0.000s with 'killed'."
    assert lines[1] == (
        "It was killed: its terminate('normal') did not return within 0 real seconds (Impatient.shutdown) "
        "and was cut short. It was waiting at:"
    )
    assert lines[2].startswith(f'  File "{__file__}", line ')
    assert lines[2].endswith(", in terminate")
    assert lines[3] == "    await anyio.sleep_forever()  # the line the failure output points at"
    assert lines[4] == "Make terminate return sooner, or give it more time: Impatient.shutdown = <seconds> (now 0)."


def test_a_kill_can_be_claimed_like_any_other_exit(channels: ChannelCase, caplog: pytest.LogCaptureFixture) -> None:
    socket = _join(channels, Impatient)
    channels.push(socket, "stop")
    with caplog.at_level(logging.ERROR, logger="pytest_channels"):
        assert channels.assert_exit(socket, reason="killed").reason == "killed"
    assert "Impatient (topic 'room:1') was killed" in caplog.text


def test_a_node_stop_kills_a_channel_whose_terminate_does_not_return(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b")
    socket = channels.subscribe_and_join_or_raise(channels.socket(node="b"), "room:1", channel=Impatient)
    cluster.stop("b")
    assert channels.assert_exit(socket, reason="killed").channel == "Impatient"
    assert TERMINATED == ["shutdown"]


def test_on_a_real_loop_the_real_time_guard_bounds_the_whole_teardown() -> None:
    # real-time: the point is the guard, 0.05 real seconds shared by every terminate of the teardown
    channels = ChannelCase(Settings(idle_timeout=0.05))
    for topic in ("room:1", "room:2"):
        channels.subscribe_and_join_or_raise(channels.socket(), topic, channel=Stuck)
    with pytest.raises(ChannelCrashed) as info:
        channels.__exit__(None, None, None)
    assert str(info.value).startswith(
        "Stuck on 'room:1' stopped abnormally at t=0.000s with 'killed'\n  and Stuck on 'room:2': 'killed'.\n"
        "It was killed: its terminate('shutdown') did not return within the real-time guard "
        "(idle_timeout=0.05 real seconds) and was cut short."
    )
    assert TERMINATED == ["shutdown", "shutdown"]


@pytest.mark.parametrize("shutdown", ["5", -1, float("inf"), True])
def test_a_shutdown_that_is_not_a_number_of_seconds_is_refused_when_the_class_is_defined(shutdown: Any) -> None:
    with pytest.raises(TypeError, match=r"^Bad\.shutdown must be a finite number of seconds >= 0, the time"):
        type("Bad", (Channel,), {"shutdown": shutdown})


def test_a_negative_close_timeout_is_refused(channels: ChannelCase) -> None:
    socket = _join(channels, Stuck)
    with pytest.raises(ValueError, match=r"^close timeout must be a finite number of seconds >= 0 \(got -1\)$"):
        channels.close(socket, timeout=-1)
    assert channels.close(socket, timeout=0).reason == "killed"


@pytest.mark.asyncio
async def test_close_with_a_timeout_kills_the_channel_under_pytest_asyncio(channels: AsyncChannelCase) -> None:
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Stuck)
    assert (await channels.close(socket, timeout=0)).reason == "killed"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_leave_kills_the_channel_under_anyio_on_asyncio_and_trio(channels: AsyncChannelCase) -> None:
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Impatient)
    assert (await channels.leave(socket)).reason == "killed"
    assert TERMINATED == [("shutdown", "left")]


@pytest.mark.channels(virtual_loop=True)  # on a real loop the harness waits out a terminate before it returns
def test_killing_a_node_ends_a_channel_waiting_in_its_bounded_terminate_at_once(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b")
    socket = channels.subscribe_and_join_or_raise(channels.socket(node="b"), "room:1", channel=StuckForAnHour)
    channels.push(socket, "stop")
    channels.advance(1)  # terminate("normal") has begun, 4 of its 5 seconds left
    assert TERMINATED == ["normal"]
    cluster.kill("b")
    channels.settle()
    assert channels.assert_exit(socket).reason == ("shutdown", "killed")
    assert channels.now == 1.0
    assert TERMINATED == ["normal"]  # cut where it waited: neither "returned" nor run again


@pytest.mark.asyncio
@pytest.mark.channels(virtual_loop=True)
async def test_killing_a_node_from_an_async_test_ends_a_channel_waiting_in_its_terminate_at_once(
    channels: AsyncChannelCase,
) -> None:
    cluster = channels.cluster("a", "b")
    socket = await channels.subscribe_and_join_or_raise(channels.socket(node="b"), "room:1", channel=StuckForAnHour)
    channels.push(socket, "stop")
    await channels.advance(1)
    cluster.kill("b")  # inside the loop: the terminate is cut at once
    await channels.settle()
    assert (await channels.assert_exit(socket)).reason == ("shutdown", "killed")
    assert (channels.now, TERMINATED) == (1.0, ["normal"])
