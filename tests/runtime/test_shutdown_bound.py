"""The server's shutdown (a `ChannelsApp` lifespan) gives each channel's `terminate` its
`shutdown` seconds, then kills the channel and logs where its `terminate` was waiting.

The stuck `terminate` here sleeps an hour (virtual, so it costs nothing) or, on a real
loop, ten seconds, not forever: a regressed bound fails the test instead of hanging the suite.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from pytest_channels import (
    Channel,
    ChannelsApp,
    Exit,
    JoinResult,
    Message,
    Ok,
    Reason,
    Runtime,
    Socket,
    SocketHandler,
    ok,
)
from pytest_channels.testing import VirtualTimeLoop


class UserSocket(SocketHandler):
    pass


class Stuck(Channel):
    guard = 3600.0  # far past the bound, and virtual on the virtual loop

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def terminate(self, reason: Reason, socket: Socket) -> None:
        await anyio.sleep(self.guard)


class Impatient(Stuck):
    shutdown = 0
    guard = 10.0  # real-time: on a real loop, reached only if the bound regressed


class Recorder:
    """A transport that keeps the exits."""

    def __init__(self) -> None:
        self.exits: list[Exit] = []

    def deliver(self, message: Message) -> None:
        pass

    def exited(self, exit: Exit) -> None:
        self.exits.append(exit)


def _app() -> ChannelsApp:
    """A server with a lasting secret: without one its startup refuses to serve."""
    return ChannelsApp(
        {"/socket": UserSocket}, runtime=Runtime(secret_key_base="a lasting secret, twenty chars or more")
    )


def _lifespan(app: ChannelsApp, channel: type[Channel], transport: Recorder) -> tuple[list[Any], Any]:
    """The lifespan protocol as an ASGI server runs it: startup, then (once a channel joined) shutdown."""
    sent: list[Any] = []
    steps = iter(["startup", "shutdown"])

    async def receive() -> dict[str, Any]:
        step = next(steps)
        if step == "shutdown":
            joined = await app.runtime.join(app.runtime.socket(), "room:1", None, transport, channel=channel)
            assert isinstance(joined, Ok)
        return {"type": f"lifespan.{step}"}

    async def send(message: Any) -> None:
        sent.append(message)

    return sent, lambda: app({"type": "lifespan"}, receive, send)


def _run_on_a_virtual_loop(start: Callable[[], Any]) -> float:
    loop = VirtualTimeLoop()
    try:
        loop.run_until_complete(start())
        return loop.time()
    finally:
        loop.close()


def test_the_servers_shutdown_kills_a_channel_whose_terminate_outlives_its_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, transport = _app(), Recorder()
    sent, start = _lifespan(app, Stuck, transport)
    assert _run_on_a_virtual_loop(start) == 5.0
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert [exit.reason for exit in transport.exits] == ["killed"]
    assert (
        "Stuck (topic 'room:1') was killed: its terminate('shutdown') did not return within 5 seconds "
        "(Stuck.shutdown) and was cut short. It was waiting at:\n"
        f'  File "{__file__}", line {inspect.getsourcelines(Stuck.terminate)[1] + 1}, in terminate\n'
        "    await anyio.sleep(self.guard)\n"
    ) in caplog.text


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_servers_shutdown_is_bounded_in_real_time_on_a_real_loop(backend: str) -> None:
    app, transport = _app(), Recorder()
    sent, start = _lifespan(app, Impatient, transport)
    anyio.run(start, backend=backend)
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert [exit.reason for exit in transport.exits] == ["killed"]
