"""One async helper body serves `def` tests (through `channels.run`) and `async def` tests alike."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_channels import Channel, InfoResult, InResult, JoinResult, Socket, noreply, ok, reply
from pytest_channels.testing import AsyncChannelCase, ChannelCase, NeverAwaited


class Room(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "later":
            self.send_after(payload["after"], payload["text"])
            return reply(socket, "ok", {})
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.push("reminder", {"text": message})
        return noreply(socket)


async def remind(channels: AsyncChannelCase, text: str, *, after: float) -> Socket:
    """The helper, written once."""
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Room)
    await channels.assert_reply(channels.push(socket, "later", {"after": after, "text": text}), "ok")
    await channels.assert_push("reminder", {"text": text}, timeout=after)
    return socket


def test_a_def_test_runs_the_helper_on_its_own_channels(channels: ChannelCase) -> None:
    socket = channels.run(remind, "tea", after=30)
    assert channels.now == 30
    assert socket.topic == "room:1"
    channels.refute_push("reminder")  # the helper consumed it from the test's one mailbox


@pytest.mark.channels(virtual_loop=True)
def test_a_def_test_on_a_virtual_loop_runs_it_too(channels: ChannelCase) -> None:
    channels.run(remind, "tea", after=30)
    assert channels.now == 30


@pytest.mark.asyncio
async def test_an_async_test_awaits_the_same_helper(channels: AsyncChannelCase) -> None:
    await remind(channels, "tea", after=30)
    await channels.run(remind, "coffee", after=5)
    assert channels.now == 35


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_and_so_does_one_on_anyio(channels: AsyncChannelCase) -> None:
    await channels.run(remind, "tea", after=1)


async def forgets(channels: AsyncChannelCase) -> None:
    channels.refute_push("x")  # type: ignore[unused-awaitable]  # the mistake shown here


def test_a_wait_the_helper_forgot_to_await_fails_the_call(channels: ChannelCase) -> None:
    with pytest.raises(NeverAwaited, match=r"^1 harness call\(s\) were never awaited"):
        channels.run(forgets)
