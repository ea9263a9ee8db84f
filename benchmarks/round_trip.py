"""Round trip: test push -> channel handle_in -> reply -> assert_reply.

Baselines: two asyncio tasks ping-ponging over asyncio.Queue (the floor), and Django
Channels' WebsocketCommunicator talking to an equivalent consumer (the Python peer).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pytest_channels import Channel, InResult, JoinResult, Socket, ok, reply
from pytest_channels.testing import AsyncChannelCase, ChannelCase, Settings

from ._report import Row, best_of_each

SETTINGS = Settings(freeze_time=False)


class Echo(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        return reply(socket, "ok", payload)


async def _floor(n: int) -> float:
    requests: asyncio.Queue[dict[str, int]] = asyncio.Queue()
    replies: asyncio.Queue[dict[str, int]] = asyncio.Queue()

    async def echo() -> None:
        while True:
            replies.put_nowait(await requests.get())

    task = asyncio.create_task(echo())
    start = time.perf_counter()
    for i in range(n):
        requests.put_nowait({"i": i})
        await replies.get()
    elapsed = time.perf_counter() - start
    task.cancel()
    return elapsed / n


async def _async_harness(n: int) -> float:
    async with AsyncChannelCase(SETTINGS) as channels:
        socket = (await channels.join(channels.socket(), "echo", channel=Echo)).socket
        start = time.perf_counter()
        for i in range(n):
            ref = channels.push(socket, "ping", {"i": i})
            await channels.assert_reply(ref, "ok", {"i": i})
        return (time.perf_counter() - start) / n


def _sync_harness(n: int) -> float:
    with ChannelCase(SETTINGS) as channels:
        socket = channels.join(channels.socket(), "echo", channel=Echo).socket
        start = time.perf_counter()
        for i in range(n):
            ref = channels.push(socket, "ping", {"i": i})
            channels.assert_reply(ref, "ok", {"i": i})
        return (time.perf_counter() - start) / n


async def _django(n: int) -> float:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(INSTALLED_APPS=["channels"], CHANNEL_LAYERS={})
        django.setup()
    from channels.generic.websocket import AsyncJsonWebsocketConsumer
    from channels.testing import WebsocketCommunicator

    class EchoConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
        async def receive_json(self, content: Any, **kwargs: Any) -> None:
            await self.send_json({"status": "ok", "response": content})

    communicator = WebsocketCommunicator(EchoConsumer.as_asgi(), "/echo/")
    connected, _ = await communicator.connect()
    assert connected
    start = time.perf_counter()
    for i in range(n):
        await communicator.send_json_to({"i": i})
        assert await communicator.receive_json_from() == {"status": "ok", "response": {"i": i}}
    elapsed = time.perf_counter() - start
    await communicator.disconnect()
    return elapsed / n


def _django_installed() -> bool:
    try:
        import channels.testing  # noqa: F401
    except ImportError:
        return False  # the peer is installed only with the `bench` extra
    return True


def run(smoke: bool) -> list[Row]:
    n = 200 if smoke else 5_000
    repeats = 1 if smoke else 7
    runs = [lambda: asyncio.run(_floor(n)), lambda: asyncio.run(_async_harness(n)), lambda: _sync_harness(n)]
    if _django_installed():
        runs.append(lambda: asyncio.run(_django(max(n // 10, 50))))
    floor, ours_async, ours_sync, *peer = best_of_each(repeats, *runs)
    rows = [
        Row(
            "round trip, async test",
            ours_async,
            floor,
            "s",
            "asyncio.Queue ping-pong",
            "<= 2x",
            ours_async <= 2 * floor,
        ),
        Row("round trip, sync test", ours_sync, floor, "s", "asyncio.Queue ping-pong", "n/a (reported)", None),
    ]
    if peer:
        rows.append(
            Row(
                "round trip vs Django Channels",
                ours_async,
                peer[0],
                "s",
                "WebsocketCommunicator",
                "<= 1/20 of it",
                ours_async * 20 <= peer[0],
            )
        )
    return rows
