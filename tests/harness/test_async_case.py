"""The same harness in async tests: pytest-asyncio, and anyio on asyncio and trio."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from pytest_channels import Channel, InfoResult, InResult, JoinResult, Socket, SocketHandler, noreply, ok, reply
from pytest_channels.testing import AsyncChannelCase, NeverAwaited


class Clocked(Channel):
    async def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        await anyio.lowlevel.checkpoint()
        self.send_after(2, "tick")
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        await anyio.lowlevel.checkpoint()
        return reply(socket, "ok", {"now": dt.datetime.now(dt.UTC).isoformat(), "time": time.time()})

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.push("tick", {"wall": dt.datetime.now(dt.UTC).isoformat()})
        return noreply(socket)


async def scenario(channels: AsyncChannelCase) -> None:
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "c", channel=Clocked)
    await channels.refute_push("tick", timeout=1.999)
    await channels.assert_push("tick", {"wall": "2024-01-01T00:00:02+00:00"}, timeout=0.001)
    ref = channels.push(socket, "now")
    got = await channels.assert_reply(ref, "ok")
    assert got.payload == {"now": "2024-01-01T00:00:02+00:00", "time": 1704067202.0}
    await channels.advance(58)
    assert channels.now == 60
    exit = await channels.leave(socket)
    assert exit.reason == ("shutdown", "left")


@pytest.mark.asyncio
async def test_the_async_case_works_under_pytest_asyncio(channels: AsyncChannelCase) -> None:
    assert isinstance(channels, AsyncChannelCase)
    await scenario(channels)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_the_async_case_works_under_anyio_on_asyncio_and_trio(channels: AsyncChannelCase) -> None:
    await scenario(channels)


@pytest.mark.anyio
@pytest.mark.channels(wire=True)
async def test_the_async_case_runs_the_connection_state_machine_on_the_wire_on_asyncio_and_trio(
    channels: AsyncChannelCase,
) -> None:
    await scenario(channels)


@pytest.mark.asyncio
async def test_a_call_that_is_never_awaited_fails_at_the_next_call(channels: AsyncChannelCase) -> None:
    line = sys._getframe().f_lineno + 1
    channels.assert_push("never")  # type: ignore[unused-awaitable]  # the mistake under test
    with pytest.raises(NeverAwaited) as info:
        channels.socket()
    message = str(info.value)
    assert message.startswith(
        "1 harness call(s) were never awaited, so they checked nothing:\n  - assert_push(...) at "
    )
    assert message.endswith(f"test_async_case.py:{line}\nAdd `await` in front of each.")


@pytest.mark.asyncio
async def test_a_call_that_is_never_awaited_is_reported_at_teardown(channels: AsyncChannelCase) -> None:
    channels.refute_push()  # type: ignore[unused-awaitable]  # the mistake under test
    problems = channels._teardown()
    assert len(problems) == 1
    assert problems[0].startswith("never awaited (add `await`): refute_push(...) at ")


terminated: list[str] = []


class AsyncFarewellSocket(SocketHandler):
    """Accepts everyone (the default connect)."""


class AsyncFarewell(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        with anyio.fail_after(1):  # real-time: the point is that a real timed wait works (trio's clock is not frozen)
            await anyio.sleep(0.001)  # real-time: see above
        return reply(socket, "ok", {})

    async def terminate(self, reason: Any, socket: Socket) -> None:
        await anyio.lowlevel.checkpoint()
        terminated.append(f"{socket.topic}:{reason}")


@pytest.fixture
def farewells() -> Iterator[list[str]]:
    terminated.clear()
    yield terminated
    # Finalized after the test body, and so after the channels stopped inside the test's loop.
    assert terminated == ["bye:shutdown"]


@pytest.mark.anyio
async def test_an_async_terminate_runs_in_the_tests_loop_at_the_end_under_anyio(
    farewells: list[str], channels: AsyncChannelCase
) -> None:
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "bye", channel=AsyncFarewell)
    await channels.assert_reply(channels.push(socket, "wait"), "ok")


@pytest.mark.asyncio
async def test_an_async_terminate_runs_in_the_tests_loop_at_the_end_under_pytest_asyncio(
    farewells: list[str], channels: AsyncChannelCase
) -> None:
    await channels.subscribe_and_join_or_raise(channels.socket(), "bye", channel=AsyncFarewell)


@pytest.mark.asyncio
async def test_awaiting_a_harness_call_twice_is_refused(channels: AsyncChannelCase) -> None:
    waiting = channels.settle()
    await waiting
    with pytest.raises(RuntimeError, match=r"^channels.settle\(\.\.\.\) at .* was awaited twice"):
        await waiting


@pytest.mark.anyio
async def test_time_in_the_test_body_follows_the_virtual_clock_under_anyio(channels: AsyncChannelCase) -> None:
    await channels.advance(10)
    assert time.time() == 1704067210.0
    assert dt.datetime.now(dt.UTC) == dt.datetime(2024, 1, 1, 0, 0, 10, tzinfo=dt.UTC)


@pytest.mark.asyncio
async def test_time_in_the_test_body_follows_the_virtual_clock_under_pytest_asyncio(
    channels: AsyncChannelCase,
) -> None:
    await channels.advance(10)
    assert time.time() == 1704067210.0


@pytest.mark.asyncio
async def test_using_a_call_as_its_result_without_await_says_to_add_await(channels: AsyncChannelCase) -> None:
    with pytest.raises(NeverAwaited, match=r"^channels.connect\(\.\.\.\) at .* was used as its result \('socket'\)"):
        _ = channels.connect(AsyncFarewellSocket).socket  # type: ignore[attr-defined]  # the mistake under test
    assert (await channels.connect(AsyncFarewellSocket)).socket.id is None
