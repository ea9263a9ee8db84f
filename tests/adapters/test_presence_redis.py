"""Presence over the Redis adapter, with a real redis-server: two runtimes replicate, and a node that
goes away leaves after the down period, in real time (short periods keep it quick)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import pytest
from redis_server import RedisServer, running_redis

from pytest_channels import (
    Channel,
    Exit,
    InfoResult,
    JoinResult,
    Message,
    Ok,
    Presence,
    PubSub,
    Push,
    Runtime,
    Socket,
    noreply,
    ok,
)
from pytest_channels.redis import RedisAdapter

WITHIN = 10.0
"""Real seconds replication over a real server may take."""


class FastPresence(Presence):
    """Phoenix's rules with short periods: a heartbeat every 50 ms, down after 0.5 s of silence."""

    broadcast_period = 0.05
    max_silent_periods = 2
    down_period = 0.5
    permdown_period = 5.0


class Room(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.send("after_join")
        return ok(socket.assign(user=payload["user"]))

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        FastPresence.track(socket, socket.assigns["user"], {"via": "redis"})
        return noreply(socket)


class Collect:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def deliver(self, message: Message) -> None:
        self.messages.append(message)

    def exited(self, exit: Exit) -> None:
        pass


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@asynccontextmanager
async def node(url: str, name: str, channel: str) -> AsyncIterator[Runtime]:
    """A runtime on the Redis adapter, serving, with the presence started (as the application would)."""
    adapter = RedisAdapter(url, node_name=name, channel=channel)
    runtime = Runtime(pubsub=PubSub(adapter))
    async with adapter.connect(runtime.pubsub, clock=runtime.clock), runtime.serving():
        FastPresence.start(runtime)
        yield runtime


async def eventually(condition: Callable[[], object], what: str) -> None:
    with anyio.move_on_after(WITHIN):
        while not condition():
            await anyio.sleep(0.01)  # real-time: a real server, real sockets and the system clock
        return
    raise AssertionError(f"{what}: not within {WITHIN}s of real time")


def keys(runtime: Runtime) -> set[str]:
    return set(FastPresence.list("room:1", runtime=runtime))


@pytest.mark.asyncio
async def test_two_runtimes_replicate_presence_through_redis(redis_server: RedisServer) -> None:
    channel = f"presence-{uuid.uuid4().hex}"
    client = Collect()
    async with node(redis_server.url, "web-1", channel) as web1, node(redis_server.url, "web-2", channel) as web2:
        alice = await web1.join(web1.socket(), "room:1", {"user": "alice"}, client, channel=Room)
        await web2.join(web2.socket(), "room:1", {"user": "bob"}, client, channel=Room)
        await eventually(lambda: keys(web1) == keys(web2) == {"alice", "bob"}, "both runtimes list alice and bob")
        assert isinstance(alice, Ok)
        web1.leave(alice.socket)
        await eventually(lambda: keys(web2) == {"bob"}, "alice's leave reached web-2")
    diffs = [m.payload for m in client.messages if isinstance(m, Push) and m.event == "presence_diff"]
    assert {"bob"} in [set(d["joins"]) for d in diffs]


@pytest.mark.asyncio
async def test_a_runtime_that_goes_away_leaves_after_the_down_period(redis_server: RedisServer) -> None:
    channel = f"presence-{uuid.uuid4().hex}"
    async with AsyncExitStack() as stack:
        web1 = await stack.enter_async_context(node(redis_server.url, "web-1", channel))
        async with node(redis_server.url, "web-2", channel) as web2:
            await web2.join(web2.socket(), "room:1", {"user": "bob"}, Collect(), channel=Room)
            await eventually(lambda: keys(web1) == {"bob"}, "web-1 lists bob")
            server = FastPresence.server(web2)
            assert server is not None
            server.tracker.stop()  # its heartbeats stop, as when the node dies
        gone_at = anyio.current_time()
        await eventually(lambda: keys(web1) == set(), "web-1 dropped bob")
        assert FastPresence.down_period is not None
        # No heartbeat for the down period, seen at a tick: never before (one period was already quiet).
        assert anyio.current_time() - gone_at >= FastPresence.down_period - 2 * FastPresence.broadcast_period
