"""`ChannelCase` and `AsyncChannelCase` are one harness: the same waits, signatures and docstrings, and
the same behaviour, down to the failure texts and what teardown reports."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, assert_type

import pytest

from pytest_channels import (
    Broadcast,
    Channel,
    Error,
    Exit,
    InfoResult,
    InResult,
    JoinResult,
    Ok,
    Push,
    Reply,
    Socket,
    call_reply,
    error,
    noreply,
    ok,
    reply,
)
from pytest_channels.testing import AsyncChannelCase, ChannelCase, Settings
from pytest_channels.testing._base import CaseBase, waits

WAITS = [w.name for w in waits(CaseBase)]


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_every_wait_is_declared_once_and_both_harnesses_have_it() -> None:
    assert len(WAITS) == len(set(WAITS)) == 20
    for name in WAITS:
        assert name not in vars(CaseBase) or not inspect.isfunction(vars(CaseBase)[name])
        assert inspect.isfunction(vars(ChannelCase)[name]), name
        assert inspect.isfunction(vars(AsyncChannelCase)[name]), name
        assert vars(ChannelCase)[name].__qualname__ == f"ChannelCase.{name}"


def test_both_harnesses_expose_the_same_public_names() -> None:
    assert _public(ChannelCase) == _public(AsyncChannelCase)
    own = {"run", "is_async"}  # run's helper is the bridge between them; is_async tells them apart
    for name in _public(ChannelCase) - own - set(WAITS):
        assert getattr(ChannelCase, name) is getattr(AsyncChannelCase, name), f"{name} is not shared"


@pytest.mark.parametrize("name", WAITS)
def test_a_wait_has_the_same_signature_and_docstring_in_both_harnesses(name: str) -> None:
    sync, asynchronous = getattr(ChannelCase, name), getattr(AsyncChannelCase, name)
    assert sync.__doc__
    assert sync.__doc__ == asynchronous.__doc__
    assert sync.__doc__ == getattr(CaseBase, name).__doc__
    plain, awaited = inspect.signature(sync), inspect.signature(asynchronous)
    assert list(plain.parameters.values()) == list(awaited.parameters.values())
    assert next(iter(plain.parameters)) == "self"
    assert awaited.return_annotation == f"Awaitable[{plain.return_annotation}]"
    assert not plain.return_annotation.startswith("Work")


async def _each_harness_types_its_waits(sync: ChannelCase, asynchronous: AsyncChannelCase, socket: Socket) -> None:
    # Never called: mypy --strict reads it, and fails if a wait's type in either harness is lost.
    assert_type(sync.assert_push("event"), Push)
    assert_type(sync.assert_reply("1"), Reply)
    assert_type(sync.join(socket, "room"), Ok | Error)
    assert_type(sync.settle(), None)
    assert_type(await asynchronous.assert_push("event"), Push)
    assert_type(await asynchronous.assert_broadcast("event"), Broadcast)
    assert_type(await asynchronous.leave(socket), Exit)


def test_the_run_helpers_share_their_parameters() -> None:
    sync, asynchronous = inspect.signature(ChannelCase.run), inspect.signature(AsyncChannelCase.run)
    assert list(sync.parameters) == list(asynchronous.parameters)


# -- behaviour: one scenario, driven through each harness ---------------------------------------


class Echo(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        if payload.get("refuse"):
            return error({"reason": "refused"})
        return ok(socket, {"joined": topic})

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "ping":
            return reply(socket, "ok", payload)
        if event == "later":
            self.send_after(payload["after"], "tick")
        if event == "boom":
            raise ValueError("boom")
        if event == "leak":
            _ = asyncio.get_running_loop().create_task(asyncio.Event().wait(), name="left-by-echo")
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.push("tick", {})
        return noreply(socket)

    def handle_call(self, message: Any, from_: Any, socket: Socket) -> Any:
        return call_reply(socket, message * 2)


Call = Callable[..., Awaitable[Any]]


async def scenario(channels: CaseBase, call: Call) -> list[Any]:
    """What a test sees, step by step: results, and the text of each failure."""
    seen: list[Any] = []

    async def step(name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            result = await call(name, *args, **kwargs)
        except (AssertionError, TypeError, ValueError) as exc:
            seen.append((name, type(exc).__name__, str(exc)))
            return None
        seen.append((name, repr(result)))
        return result

    joined = await step("join", channels.socket(), "room:1", {}, channel=Echo)
    await step("join", channels.socket(), "room:2", {"refuse": True}, channel=Echo)
    socket = await step("subscribe_and_join_or_raise", channels.socket(), "room:3", channel=Echo)
    await step("subscribe_and_join_or_raise", channels.socket(), "room:4", {"refuse": True}, channel=Echo)
    ref = channels.push(socket, "ping", {"n": 1})
    await step("assert_reply", ref, "ok", {"n": 1})
    await step("assert_reply", ref, "ok")  # consumed already: the failure text
    await step("refute_push", "tick")
    channels.push(socket, "later", {"after": 2})
    await step("assert_push", "tick", timeout=1)  # too early: the failure names the timer
    await step("assert_push", "tick", {}, timeout=1)
    await step("advance", 10)
    await step("advance_to", 12.5)
    await step("advance", -1)
    await step("call", socket, 21)
    await step("get_state", joined.socket)
    await step("wait_until", lambda: channels.now >= 20, timeout=10)
    await step("wait_until", lambda: False, timeout=1)
    await step("refute_broadcast", timeout=0)
    channels.broadcast_from(socket, "news", {"x": 1})
    await step("settle")
    await step("assert_broadcast", "news")
    channels.push(socket, "boom")
    await step("settle")  # the crash fails the wait
    await step("assert_exit", socket, timeout=0)  # and can still be claimed
    await step("leave", joined.socket)
    await step("close", socket)
    seen.append(("now", channels.now, "mailbox", [repr(m) for m in channels.flush()]))
    return seen


def _sync_call(case: ChannelCase) -> Call:
    async def call(name: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(case, name)(*args, **kwargs)

    return call


def _async_call(case: AsyncChannelCase) -> Call:
    async def call(name: str, *args: Any, **kwargs: Any) -> Any:
        return await getattr(case, name)(*args, **kwargs)

    return call


def _run_without_a_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (the sync harness runs its own loop inside each call)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise AssertionError("the sync scenario suspended")


def _sync_transcript(settings: Settings) -> list[Any]:
    with ChannelCase(settings) as channels:
        return list(_run_without_a_loop(scenario(channels, _sync_call(channels))))


@pytest.fixture(scope="module")
def sync_transcripts() -> dict[bool, list[Any]]:
    return {wire: _sync_transcript(Settings(wire=wire)) for wire in (False, True)}


@pytest.mark.parametrize("wire", [False, True], ids=["direct", "wire"])
@pytest.mark.asyncio
async def test_the_same_scenario_sees_the_same_things_sync_and_async(
    wire: bool, sync_transcripts: dict[bool, list[Any]]
) -> None:
    async with AsyncChannelCase(Settings(wire=wire)) as channels:
        transcript = await scenario(channels, _async_call(channels))
    assert transcript == sync_transcripts[wire]
    failures = [entry for entry in transcript if len(entry) == 3 and entry[1] == "AssertionError"]
    assert len(failures) >= 5, "the scenario exercises the failure texts too"


def _leaving_a_task(channels: CaseBase) -> Callable[[Call], Coroutine[Any, Any, None]]:
    async def run(call: Call) -> None:
        socket = await call("subscribe_and_join_or_raise", channels.socket(), "room:1", channel=Echo)
        channels.push(socket, "leak")
        await call("settle")

    return run


def _normalized(problem: str) -> str:
    return re.sub(r" coro=<.*?>>", " coro=<...>>", problem)


@pytest.fixture
def sync_teardown_problem() -> str:
    with pytest.raises(AssertionError) as raised, ChannelCase() as channels:
        _run_without_a_loop(_leaving_a_task(channels)(_sync_call(channels)))
    return _normalized(str(raised.value))


@pytest.mark.asyncio
async def test_a_channel_that_leaves_a_task_running_fails_teardown_in_both_harnesses(
    sync_teardown_problem: str,
) -> None:
    # Once only the sync harness saw it: its loop is its own, while an async test's loop
    # is the test's, which pytest-asyncio closes later, cancelling the task without a word.
    with pytest.raises(AssertionError) as raised:
        async with AsyncChannelCase() as channels:
            await _leaving_a_task(channels)(_async_call(channels))
    problem = _normalized(str(raised.value))
    assert problem.startswith(
        "channels teardown found problems:\n"
        "  - channel code left a task running: <Task pending name='left-by-echo' coro=<...>>"
    )
    assert problem == sync_teardown_problem


@pytest.mark.asyncio
async def test_a_task_cancelled_before_the_end_is_not_reported() -> None:
    async with AsyncChannelCase():
        task = asyncio.get_running_loop().create_task(asyncio.Event().wait())
        task.cancel()  # on its way out: not left running, so the exit above raised nothing
    assert task.cancelling()
    with pytest.raises(asyncio.CancelledError):
        await task
