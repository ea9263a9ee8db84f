"""The runtime outside tests: serving on the system clock, as a network transport will use it."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from pytest_channels import (
    Channel,
    Exit,
    InfoResult,
    InResult,
    JoinResult,
    Message,
    Ok,
    Push,
    Reason,
    Reply,
    Runtime,
    Socket,
    noreply,
    ok,
    reply,
)


class Collect:
    """A minimal transport: remembers what it got and wakes whoever waits for a push."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.exits: list[Exit] = []
        self.pushed = anyio.Event()

    def deliver(self, message: Message) -> None:
        self.messages.append(message)
        if isinstance(message, Push):
            self.pushed.set()

    def exited(self, exit: Exit) -> None:
        self.exits.append(exit)


terminated: list[Reason] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    terminated.clear()


class Timed(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.send_after(0, "tick")  # due at once: the system clock's driver fires it
        return ok(socket, {"hello": True})

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        return reply(socket, "ok", payload)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.push("tick", {})
        return noreply(socket)

    def terminate(self, reason: Reason, socket: Socket) -> None:
        terminated.append(reason)


def test_a_serving_runtime_joins_fires_system_timers_and_stops_channels_on_exit() -> None:
    async def main() -> Collect:
        runtime = Runtime()
        transport = Collect()
        async with runtime.serving():
            joined = await runtime.join(runtime.socket(), "t", {}, transport, channel=Timed)
            assert isinstance(joined, Ok)
            assert joined.reply == {"hello": True}
            await transport.pushed.wait()
            assert terminated == []
        return transport

    transport = anyio.run(main)
    assert [type(m) for m in transport.messages] == [Push]
    assert terminated == ["shutdown"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_serving_runtime_handles_pushes_as_they_arrive(backend: str) -> None:
    async def main() -> list[Message]:
        runtime = Runtime()
        transport = Collect()
        async with runtime.serving():
            socket = (await runtime.join(runtime.socket(), "t", {}, transport, channel=Timed)).socket
            await transport.pushed.wait()
            done = anyio.Event()
            original = transport.deliver

            def deliver(message: Message) -> None:
                original(message)
                if isinstance(message, Reply):
                    done.set()

            transport.deliver = deliver  # type: ignore[method-assign]
            runtime.push(socket, "echo", {"x": 1})
            await done.wait()
        return transport.messages

    messages = anyio.run(main, backend=backend)
    assert isinstance(messages[-1], Reply)
    assert messages[-1].payload == {"x": 1}


def test_settle_while_serving_waits_until_every_message_is_handled() -> None:
    async def main() -> list[Reply]:
        runtime = Runtime()
        transport = Collect()
        async with runtime.serving():
            socket = (await runtime.join(runtime.socket(), "t", {}, transport, channel=Timed)).socket
            for n in range(5):
                runtime.push(socket, "echo", {"n": n})
            await runtime.settle()
            assert runtime.idle
            return [m for m in transport.messages if isinstance(m, Reply)]

    replies = anyio.run(main)
    assert [r.payload for r in replies] == [{"n": n} for n in range(5)]
