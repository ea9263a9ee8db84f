"""Async tests from docs/getting-started.md: pytest-asyncio, and anyio on asyncio and trio."""

from __future__ import annotations

import pytest
from chat_app import ChatSocket

from pytest_channels import Socket
from pytest_channels.testing import AsyncChannelCase, NeverAwaited


async def join_lobby(channels: AsyncChannelCase) -> Socket:
    socket = (await channels.connect(ChatSocket, {"name": "ada"})).socket
    return await channels.subscribe_and_join_or_raise(socket, "room:lobby")


@pytest.mark.asyncio
async def test_a_ping_is_answered_under_pytest_asyncio(channels: AsyncChannelCase) -> None:
    socket = await join_lobby(channels)
    ref = channels.push(socket, "ping", {"n": 1})
    await channels.assert_reply(ref, "ok", {"pong": 1})


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_a_reminder_arrives_under_anyio(channels: AsyncChannelCase) -> None:
    socket = await join_lobby(channels)
    channels.push(socket, "remind_me", {"after": 60, "text": "tea"})
    await channels.refute_push("reminder", timeout=59.999)
    await channels.assert_push("reminder", {"text": "tea"}, timeout=0.001)
    assert channels.now == 60


@pytest.mark.asyncio
async def test_a_forgotten_await_fails_at_the_next_call(channels: AsyncChannelCase) -> None:
    channels.refute_push("reminder")  # type: ignore[unused-awaitable]  # the mistake shown here
    with pytest.raises(NeverAwaited, match=r"^1 harness call\(s\) were never awaited, so they checked nothing:"):
        channels.socket()
