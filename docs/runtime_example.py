"""The runtime without the pytest fixture, from docs/reference.md: a transport, a virtual clock, a serving runtime."""

from __future__ import annotations

import anyio
from chat_app import ChatSocket

from pytest_channels import Exit, Message, Ok, Push, Reply, Runtime, VirtualClock


class Inbox:
    """A transport: where a channel's output goes. This one keeps it, and wakes a waiter on each reply."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.exits: list[Exit] = []
        self.replied = anyio.Event()

    def deliver(self, message: Message) -> None:
        self.messages.append(message)
        if isinstance(message, Reply):
            self.replied.set()

    def exited(self, exit: Exit) -> None:
        self.exits.append(exit)


def test_a_runtime_on_a_virtual_clock() -> None:
    async def main() -> list[Message]:
        runtime = Runtime(clock=VirtualClock())
        inbox = Inbox()
        connected = await runtime.connect(ChatSocket, {"name": "ada"})
        joined = await runtime.join(connected.socket, "room:lobby", {}, inbox)
        assert isinstance(joined, Ok)
        runtime.push(joined.socket, "remind_me", {"after": 60, "text": "tea"})
        await runtime.advance_to_ns(60_000_000_000)  # settles, fires the timer, settles again
        await runtime.aclose()
        return inbox.messages

    messages = anyio.run(main)
    assert [type(message) for message in messages] == [Reply, Push]
    assert messages[-1] == Push("room:lobby", "reminder", {"text": "tea"}, "1")


def test_a_serving_runtime_on_the_system_clock() -> None:
    async def main() -> list[Message]:
        runtime = Runtime()  # SystemClock: timers fire in real time while serving
        inbox = Inbox()
        async with runtime.serving():
            connected = await runtime.connect(ChatSocket, {"name": "ada"})
            joined = await runtime.join(connected.socket, "room:lobby", {}, inbox)
            runtime.push(joined.socket, "ping", {"n": 1})
            await inbox.replied.wait()
        return inbox.messages

    assert anyio.run(main) == [Reply("room:lobby", "2", "ok", {"pong": 1}, "1")]
