"""The code from docs/clusters.md's section on Redis: each process of a deployment serves its
channels with ChannelsApp and broadcasts to the others through Redis."""

from __future__ import annotations

import socket

import anyio
import pytest
import uvicorn
from chat_app import ChatSocket

from pytest_channels import BrokerUnreachable, ChannelsApp, PubSub, Runtime
from pytest_channels.redis import RedisAdapter


def make_node(url: str, name: str) -> ChannelsApp:
    """One process's app: its runtime's PubSub reaches every process connected to the same Redis."""
    adapter = RedisAdapter(url, node_name=name, channel="chat", connect_timeout=2.0)
    return ChannelsApp({"/socket": ChatSocket}, runtime=Runtime(pubsub=PubSub(adapter)))


async def serve(app: ChannelsApp, listener: socket.socket) -> None:
    """Connect to Redis, then serve until uvicorn stops; both run on the server's event loop."""
    adapter = app.runtime.pubsub.adapter
    assert isinstance(adapter, RedisAdapter)
    async with adapter.connect(app.runtime.pubsub, clock=app.runtime.clock):
        server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", ws="websockets-sansio"))
        await server.serve(sockets=[listener])


@pytest.mark.asyncio
async def test_an_unreachable_redis_fails_fast_with_its_url() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        with (
            anyio.fail_after(10),
            pytest.raises(BrokerUnreachable, match=rf"^could not connect to Redis at {url} within 2s: "),
        ):
            await serve(make_node(url, "web-1"), listener)
