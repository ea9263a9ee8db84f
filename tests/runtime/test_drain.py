"""Draining: connections close in batches, channels terminate with ("shutdown", "draining"), without a network.

The app is driven through ASGI messages in this process, as a server would drive it; the
batch interval is real time, kept short.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from pytest_channels import (
    Channel,
    ChannelsApp,
    Drainer,
    JoinResult,
    Reason,
    Runtime,
    Socket,
    SocketHandler,
    ok,
    route,
)

stopped: list[tuple[str, Reason]] = []


class Room(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def terminate(self, reason: Reason, socket: Socket) -> None:
        assert socket.topic is not None
        stopped.append((socket.topic, reason))


class Stuck(Channel):
    """Its terminate never returns: its shutdown bound ends it."""

    shutdown = 0.05  # real-time: the runtime's clock is real here

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def terminate(self, reason: Reason, socket: Socket) -> None:
        assert socket.topic is not None
        stopped.append((socket.topic, reason))
        await anyio.sleep_forever()


class UserSocket(SocketHandler):
    channels = (route("room:*", Room), route("stuck:*", Stuck))


@pytest.fixture(autouse=True)
def _reset() -> None:
    stopped.clear()


class FakeWebSocket:
    """One client of the app, speaking ASGI's WebSocket messages."""

    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name
        self.inbox, self._to_app = anyio.create_memory_object_stream[dict[str, Any]](100)
        self.sent: list[MutableMapping[str, Any]] = []
        self.joined = anyio.Event()

    async def receive(self) -> MutableMapping[str, Any]:
        return await self._to_app.receive()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "websocket.send":
            self.joined.set()
        if message["type"] == "websocket.close":
            self.log.append(f"{self.name} closed {message['code']}")
            self.inbox.send_nowait({"type": "websocket.disconnect", "code": message["code"]})

    def close(self) -> None:
        self.inbox.close()
        self._to_app.close()


def lasting() -> Runtime:
    """A runtime with a lasting secret: without one, the app's startup refuses to serve."""
    return Runtime(secret_key_base="the drain tests' secret, 20+ chars")


@asynccontextmanager
async def served(app: ChannelsApp) -> AsyncIterator[Callable[[], Any]]:
    """The app's lifespan, run as a server runs it; yields a function that shuts it down."""
    to_app, from_test = anyio.create_memory_object_stream[dict[str, Any]](10)
    started, ended = anyio.Event(), anyio.Event()

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "lifespan.startup.failed":
            raise AssertionError(f"the app did not start: {message['message']}")
        (started if message["type"] == "lifespan.startup.complete" else ended).set()

    async with to_app, from_test, anyio.create_task_group() as tg:
        lifespan: dict[str, Any] = {"type": "lifespan"}
        tg.start_soon(app, lifespan, from_test.receive, send)
        to_app.send_nowait({"type": "lifespan.startup"})
        with anyio.fail_after(5):  # real-time: a startup that never answers fails the test, never hangs it
            await started.wait()

        async def shutdown() -> None:
            to_app.send_nowait({"type": "lifespan.shutdown"})
            with anyio.fail_after(60):  # real-time: past every drain here, so a stuck shutdown fails
                await ended.wait()

        yield shutdown
        if not ended.is_set():
            await shutdown()


CLIENTS: list[FakeWebSocket] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    for client in CLIENTS:
        client.close()
    CLIENTS.clear()


async def connect(
    app: ChannelsApp, tg: anyio.abc.TaskGroup, log: list[str], name: str, topic: str = "room"
) -> FakeWebSocket:
    client = FakeWebSocket(log, name)
    CLIENTS.append(client)
    scope: dict[str, Any] = {"type": "websocket", "path": "/socket/websocket", "query_string": b"vsn=2.0.0"}
    scope["client"] = (name, 1)
    tg.start_soon(app, scope, client.receive, client.send)
    client.inbox.send_nowait({"type": "websocket.connect"})
    client.inbox.send_nowait(
        {"type": "websocket.receive", "text": json.dumps(["1", "1", f"{topic}:{name}", "phx_join", {}])}
    )
    with anyio.fail_after(5):  # real-time: the app answers in real time
        await client.joined.wait()
    return client


def test_a_drain_closes_connections_in_batches_with_1012_and_channels_terminate_draining(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "pytest_channels")
    log: list[str] = []

    async def main() -> int:
        app = ChannelsApp(
            {"/socket": UserSocket}, runtime=lasting(), drainer=Drainer(batch_size=2, batch_interval=0.05, shutdown=5)
        )
        closed = 0
        async with served(app), anyio.create_task_group() as tg:
            for name in "abcde":
                await connect(app, tg, log, name)
            closed = await app.drain()
            log.append("drained")
        return closed

    assert anyio.run(main) == 5
    closes = log[: log.index("drained")]
    assert sorted(closes) == [f"{name} closed 1012" for name in "abcde"]
    assert sorted(stopped) == [(f"room:{name}", ("shutdown", "draining")) for name in "abcde"]
    assert "draining 2 of 5 connections (round 1 of 3)" in caplog.text
    assert "draining 1 of 5 connections (round 3 of 3)" in caplog.text


def test_the_lifespan_shutdown_drains_first_so_every_terminate_runs_before_the_runtime_stops() -> None:
    log: list[str] = []

    async def main() -> None:
        app = ChannelsApp({"/socket": UserSocket}, runtime=lasting(), drainer=Drainer(batch_interval=0))
        async with served(app) as shutdown, anyio.create_task_group() as tg:
            for name in "ab":
                await connect(app, tg, log, name)
            await shutdown()
            assert not app.serving

    anyio.run(main)
    assert sorted(log) == ["a closed 1012", "b closed 1012"]
    assert sorted(stopped) == [("room:a", ("shutdown", "draining")), ("room:b", ("shutdown", "draining"))]


def test_connections_left_when_the_drain_runs_out_of_time_close_at_once(caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []

    async def main() -> None:
        app = ChannelsApp(
            {"/socket": UserSocket}, runtime=lasting(), drainer=Drainer(batch_size=1, batch_interval=10, shutdown=0.05)
        )
        async with served(app), anyio.create_task_group() as tg:
            for name in "abc":
                await connect(app, tg, log, name)
            assert await app.drain() == 3

    anyio.run(main)
    assert sorted(log) == ["a closed 1012", "b closed 1012", "c closed 1012"]
    assert "drain: 2 connections still open after 0.05s: closing them at once" in caplog.text


def test_without_a_drainer_the_lifespan_shutdown_stops_channels_with_shutdown() -> None:
    async def main() -> None:
        app = ChannelsApp({"/socket": UserSocket}, runtime=lasting(), drainer=False)
        async with served(app) as shutdown, anyio.create_task_group() as tg:
            await connect(app, tg, [], "a")
            await shutdown()
            tg.cancel_scope.cancel()

    anyio.run(main)
    assert stopped == [("room:a", "shutdown")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, r"^Drainer batch_size must be an int >= 1 \(got 0\)$"),
        ({"batch_interval": -1}, r"^Drainer batch_interval must be a finite number of seconds >= 0"),
        ({"shutdown": float("inf")}, r"^Drainer shutdown must be a finite number of seconds >= 0"),
    ],
)
def test_a_drainer_refuses_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Drainer(**kwargs)


def test_a_terminate_stuck_in_a_drain_is_killed_at_its_shutdown_and_the_drain_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []

    async def main() -> None:
        app = ChannelsApp({"/socket": UserSocket}, runtime=lasting(), drainer=Drainer(batch_interval=0, shutdown=30))
        async with served(app), anyio.create_task_group() as tg:
            await connect(app, tg, log, "a", topic="stuck")
            await connect(app, tg, log, "b")
            assert await app.drain() == 2
            assert all(connection.stopped for connection in app.connections)

    anyio.run(main)
    assert sorted(stopped) == [("room:b", ("shutdown", "draining")), ("stuck:a", ("shutdown", "draining"))]
    assert "Stuck (topic 'stuck:a') was killed: its terminate(('shutdown', 'draining')) did not return" in caplog.text
    assert "still open after" not in caplog.text  # the channel's bound, not the drain's, ended the wait
