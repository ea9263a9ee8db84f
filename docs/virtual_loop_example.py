"""docs/virtual-time.md, "Channel code that sleeps by itself": a virtual event loop."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

from pytest_channels import Channel, InResult, JoinResult, Socket, ok, reply
from pytest_channels.testing import AsyncChannelCase, ChannelCase, virtual_anyio_backend


class Lookup(Channel):
    """Calls a slow backend with a timeout, retrying once after a pause."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        for attempt in (1, 2):
            if attempt == 2:
                await asyncio.sleep(30)  # back off before the second attempt; virtual time, not real-time: no real wait
            try:
                answer = await asyncio.wait_for(slow_backend(payload["delay"]), timeout=2)
            except TimeoutError:
                continue
            return reply(socket, "ok", {"answer": answer, "attempt": attempt})
        return reply(socket, "error", {"reason": "backend timed out twice"})


async def slow_backend(delay: float) -> int:
    await asyncio.sleep(delay)
    return 42


@pytest.mark.channels(virtual_loop=True)
def test_a_timeout_and_a_backoff_inside_the_channel_cost_no_real_time(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "lookup", channel=Lookup)
    ref = channels.push(socket, "find", {"delay": 5})
    # 2 s timeout, 30 s back-off, 2 s timeout again: the error comes at t=34.
    channels.refute_reply(ref, timeout=33.999)
    channels.assert_reply(ref, "error", {"reason": "backend timed out twice"}, timeout=0.001)


@pytest.mark.asyncio
@pytest.mark.channels(virtual_loop=True)
async def test_the_test_itself_sleeps_on_the_same_timeline(channels: AsyncChannelCase) -> None:
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "lookup", channel=Lookup)
    ref = channels.push(socket, "find", {"delay": 1})
    await asyncio.sleep(0.5)  # virtual: the lookup is still running; virtual time, not real-time: no real wait
    await channels.refute_reply(ref, timeout=0)
    await channels.assert_reply(ref, "ok", {"answer": 42, "attempt": 1}, timeout=0.5)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_anyio_backend(request.param)


class Nap(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        await anyio.sleep(payload["seconds"])
        return reply(socket, "ok", {})


@pytest.mark.anyio
async def test_anyio_tests_get_virtual_time_from_their_backend(channels: AsyncChannelCase) -> None:
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "nap", channel=Nap)
    await channels.assert_reply(channels.push(socket, "nap", {"seconds": 600}), "ok", timeout=600)
    assert channels.now == 600


class Backend(Channel):
    """On the node with the database: answers a lookup after its own query time, for every node."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        await asyncio.sleep(0.8)  # the query; virtual time, not real-time: no real wait
        self.broadcast("found", {"answer": 42})
        return reply(socket, "ok", {})


@pytest.mark.channels(virtual_loop=True)
def test_a_cluster_runs_on_the_virtual_loop_with_the_networks_delay_on_the_same_timeline(
    channels: ChannelCase,
) -> None:
    cluster = channels.cluster("web", "db")
    channels.subscribe("lookup", node="web")
    backend = channels.join(channels.socket(node="db"), "lookup", channel=Backend).socket
    cluster.network.delay(0.2, source="db", target="web")
    channels.push(backend, "find", {})
    # 0.8 s in the channel's own sleep on db, then 0.2 s on the network to web.
    channels.refute_broadcast("found", timeout=0.999)
    channels.assert_broadcast("found", {"answer": 42}, timeout=0.001)
