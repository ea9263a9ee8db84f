"""Serving, the runtime runs ready channels in one runner task, and gives a channel a task only to wait.

Phoenix's rules still hold: one message at a time per channel, a channel that waits blocks no
other, a crash stops its channel only, and the runtime is idle when nothing is queued or handled.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import sniffio

from pytest_channels import (
    Channel,
    Exit,
    InfoResult,
    InResult,
    JoinResult,
    Message,
    Ok,
    Reply,
    Runtime,
    Socket,
    noreply,
    ok,
    reply,
)
from pytest_channels._runtime._clock import SystemClock


class Replies:
    """A transport that keeps the replies, and wakes whoever waits for the next one."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.exits: list[Exit] = []
        self.arrived = anyio.Event()

    def deliver(self, message: Message) -> None:
        if isinstance(message, Reply):
            self.replies.append(message)
            self.arrived.set()

    def exited(self, exit: Exit) -> None:
        self.exits.append(exit)

    async def next_reply(self) -> Reply:
        seen = len(self.replies)
        while len(self.replies) == seen:
            self.arrived = anyio.Event()
            await self.arrived.wait()
        return self.replies[seen]


class Echo(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "crash":
            raise RuntimeError("boom")
        return reply(socket, "ok", payload)


gate: dict[str, anyio.Event] = {}


class Waits(Channel):
    """Its handler waits for the test to open the gate, then replies."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "wait":
            await gate["open"].wait()
        return reply(socket, "ok", payload)


class Chatty(Channel):
    """Sends itself a message on every message, `limit` times: busy, never waiting."""

    limit = 20_000

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.count = 0
        self.send("more")
        return ok(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.count += 1
        if self.count < self.limit:
            self.send("more")
        return noreply(socket)


async def _join(runtime: Runtime, channel: type[Channel], transport: Replies) -> Socket:
    joined = await runtime.join(runtime.socket(), channel.__name__, {}, transport, channel=channel)
    assert isinstance(joined, Ok)
    return joined.socket


def test_a_plain_channel_handles_its_messages_without_a_task_per_message() -> None:
    async def main() -> tuple[int, list[Reply], bool]:
        runtime = Runtime()
        transport = Replies()
        async with runtime.serving():
            socket = await _join(runtime, Echo, transport)
            await runtime.settle()
            created = 0
            loop = asyncio.get_running_loop()
            factory = loop.get_task_factory()

            def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
                nonlocal created
                created += 1
                return factory(loop, coro, **kwargs) if factory else asyncio.Task(coro, loop=loop, **kwargs)

            loop.set_task_factory(counting)
            try:
                for n in range(100):
                    runtime.push(socket, "echo", {"n": n})
                await runtime.settle()
            finally:
                loop.set_task_factory(factory)
            return created, transport.replies, runtime.idle

    created, replies, idle = anyio.run(main)
    assert [r.payload for r in replies] == [{"n": n} for n in range(100)]
    assert created == 0
    assert idle


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_handler_that_waits_blocks_only_its_own_channel_and_handles_its_mail_in_order(backend: str) -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        gate["open"] = anyio.Event()
        runtime = Runtime()
        waiting, echo = Replies(), Replies()
        async with runtime.serving():
            slow = await _join(runtime, Waits, waiting)
            fast = await _join(runtime, Echo, echo)
            runtime.push(slow, "wait", {"n": 1})
            runtime.push(slow, "after", {"n": 2})  # queued behind the one that waits
            runtime.push(fast, "echo", {"n": 3})
            await echo.next_reply()  # answered while the other channel's handler waits
            assert waiting.replies == []
            assert not runtime.idle
            gate["open"].set()
            await runtime.settle()
            assert runtime.idle
        return [r.payload for r in waiting.replies], [r.payload for r in echo.replies]

    slow, fast = anyio.run(main, backend=backend)
    assert slow == [{"n": 1}, {"n": 2}]
    assert fast == [{"n": 3}]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_channel_busy_with_its_own_messages_lets_the_others_go_first(backend: str) -> None:
    async def main() -> tuple[int, int]:
        runtime = Runtime()
        busy, echo = Replies(), Replies()
        async with runtime.serving():
            await _join(runtime, Chatty, busy)
            fast = await _join(runtime, Echo, echo)
            runtime.push(fast, "echo", {})
            await echo.next_reply()
            (chatty,) = (p for p in runtime.channels if p.name == "Chatty")
            answered_at = chatty.channel.count  # type: ignore[attr-defined]
            await runtime.settle()
            return answered_at, chatty.channel.count  # type: ignore[attr-defined]

    answered_at, finished = anyio.run(main, backend=backend)
    assert finished == Chatty.limit
    assert answered_at < Chatty.limit


def test_a_crash_stops_only_its_channel_and_the_others_are_still_served(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> tuple[Replies, Replies, bool]:
        runtime = Runtime()
        crashing, other = Replies(), Replies()
        async with runtime.serving():
            doomed = await _join(runtime, Echo, crashing)
            alive = await _join(runtime, Echo, other)
            runtime.push(doomed, "crash", {})
            runtime.push(alive, "echo", {"still": "here"})
            await runtime.settle()
            return crashing, other, runtime.idle

    crashing, other, idle = anyio.run(main)
    assert [type(e.reason) for e in crashing.exits] == [RuntimeError]
    assert [r.payload for r in other.replies] == [{"still": "here"}]
    assert idle
    assert "crashed in handle_in('crash')" in caplog.text


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_serving_on_the_system_clock_the_runner_fires_the_timers_with_no_task_beside_it(backend: str) -> None:
    async def main() -> tuple[list[str], list[str]]:
        runtime = Runtime(clock=SystemClock())
        fired: list[str] = []
        done = anyio.Event()

        def fire() -> None:
            fired.append("due")
            done.set()

        async with runtime.serving():
            await anyio.lowlevel.checkpoint()  # the runner starts, finds nothing ready, and sleeps
            runtime.clock.call_at(runtime.clock.now_ns(), fire)  # wakes it: the first timer
            await done.wait()
            return fired, _package_tasks()

    assert anyio.run(main, backend=backend) == (["due"], ["pytest_channels._runtime._runner.run"])


def _package_tasks() -> list[str]:
    """The running tasks anyio named after the package's own functions."""
    if sniffio.current_async_library() == "trio":
        import trio

        names: list[str] = []
        todo: list[Any] = [trio.lowlevel.current_root_task()]
        while todo:
            task = todo.pop()
            names.append(task.name)
            todo += [child for nursery in task.child_nurseries for child in nursery.child_tasks]
    else:
        names = [task.get_name() for task in asyncio.all_tasks()]
    return sorted(name for name in names if name.startswith("pytest_channels."))
