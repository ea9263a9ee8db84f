"""Misuse of the runtime and of a channel's functions gets an error that says what was wrong."""

from __future__ import annotations

from typing import Any, ClassVar

import anyio
import pytest

from pytest_channels import (
    Channel,
    InResult,
    JoinResult,
    NotJoined,
    PubSub,
    Runtime,
    Socket,
    VirtualClock,
    noreply,
    ok,
)
from pytest_channels._runtime._clock import SystemClock
from pytest_channels.testing import ChannelCase


class Keeper(Channel):
    """Keeps its last instance, and replies later, through a socket ref, with the status its push names."""

    kept: ClassVar[list[Channel]] = []

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        Keeper.kept[:] = [self]
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        self.socket_ref(socket).reply(payload["status"])
        return noreply(socket)


class Nobody:
    def deliver(self, message: Any) -> None:
        pass

    def exited(self, exit: Any) -> None:
        pass


def test_a_topic_must_be_a_str_and_a_channel_a_channel_class() -> None:
    runtime = Runtime(clock=VirtualClock())
    socket = runtime.socket()
    with pytest.raises(TypeError, match=r"^a topic must be a str \(got 1\)$"):
        runtime.start_join(socket, 1, {}, Nobody(), channel=Keeper)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^channel must be a Channel subclass \(got <class 'object'>\)$"):
        runtime.start_join(socket, "room", {}, Nobody(), channel=object)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^a topic must be a str \(got None\)$"):
        PubSub().subscribe(None, Nobody())  # type: ignore[arg-type]


def test_intercept_must_list_event_names() -> None:
    with pytest.raises(TypeError, match=r"^Wrong\.intercept must be a list of event names \(got 'secret'\)$"):

        class Wrong(Keeper):
            intercept = "secret"


def test_only_a_virtual_clock_can_be_advanced() -> None:
    with pytest.raises(TypeError, match=r"^only a runtime on a VirtualClock can be advanced"):
        Runtime(clock=SystemClock()).virtual_clock()


def test_a_runtime_serves_once_at_a_time() -> None:
    async def main() -> None:
        runtime = Runtime()
        async with runtime.serving():
            with pytest.raises(RuntimeError, match=r"^this runtime is already serving$"):
                async with runtime.serving():
                    pass

    anyio.run(main)


def test_a_reply_status_must_be_a_str(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room", channel=Keeper)
    channels.push(socket, "answer", {"status": 404})
    exit = channels.assert_exit(socket)
    assert isinstance(exit.reason, TypeError)
    assert str(exit.reason) == "Keeper reply status must be a str (got 404)"


def test_a_channel_function_after_the_channel_exited_says_so(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room", channel=Keeper)
    channels.leave(socket)
    with pytest.raises(NotJoined, match=r"^Keeper\.push\('late'\) was called after the channel on 'room' exited$"):
        Keeper.kept[0].push("late")
