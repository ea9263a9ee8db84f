"""The code from docs/clusters.md's section on Redis: wiring a runtime to other processes through Redis."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import anyio
import pytest

from pytest_channels import BrokerUnreachable, PubSub, Runtime
from pytest_channels.redis import RedisAdapter


async def run_node(url: str, name: str, serve: Callable[[Runtime], Awaitable[None]]) -> None:
    """One process of a deployment: its broadcasts reach every process connected to the same Redis."""
    adapter = RedisAdapter(url, node_name=name, channel="my_app", connect_timeout=2.0)
    runtime = Runtime(pubsub=PubSub(adapter))
    async with adapter.connect(runtime.pubsub, clock=runtime.clock), runtime.serving():
        await serve(runtime)  # a transport accepts connections here, until shutdown


@pytest.mark.asyncio
async def test_an_unreachable_redis_fails_fast_with_its_url() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"

    async def serve(runtime: Runtime) -> None:
        raise AssertionError("never reached: the adapter could not connect")

    with anyio.fail_after(10), pytest.raises(BrokerUnreachable, match=rf"^could not connect to Redis at {url} within"):
        await run_node(url, "web-1", serve)
