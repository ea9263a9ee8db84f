"""The PubSub adapter contract, run against the in-memory cluster and against a real redis-server.

What every adapter must do, as Phoenix's adapters do: a broadcast reaches each other node once,
with its origin; the publishing node's own subscribers get it once (the broker does not echo it
back); local broadcasts stay local; topics stay apart; one publisher's broadcasts arrive in
order; payloads arrive as sent; a node that joins later gets what is broadcast from then on.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Protocol

import anyio
import pytest
from redis_server import RedisServer, running_redis

from pytest_channels import Broadcast, PubSub
from pytest_channels.redis import RedisAdapter
from pytest_channels.testing import Cluster

DELIVERY_WITHIN = 5.0
"""Real seconds a broadcast may take through a real Redis before the test fails."""


class Inbox:
    """A subscriber that remembers what it got."""

    def __init__(self) -> None:
        self.got: list[Broadcast] = []

    def receive_broadcast(self, broadcast: Broadcast) -> None:
        self.got.append(broadcast)

    def events(self) -> list[str]:
        return [b.event for b in self.got]


class Nodes(Protocol):
    """Named nodes joined by one adapter implementation, and the ways to wait for their deliveries."""

    async def start(self, name: str) -> PubSub: ...

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait until `condition()` holds; fail saying `what` was expected."""
        ...

    async def barrier(self, source: PubSub, receivers: list[PubSub]) -> None:
        """Wait until everything `source` broadcast so far has reached `receivers`."""
        ...


class ClusterNodes:
    """The in-memory cluster: deliveries happen when the cluster settles, in virtual time."""

    def __init__(self) -> None:
        self.cluster = Cluster(seed=0)

    async def start(self, name: str) -> PubSub:
        return self.cluster.start(name).runtime.pubsub

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        await self.cluster.settle()
        assert condition(), what

    async def barrier(self, source: PubSub, receivers: list[PubSub]) -> None:
        await self.cluster.settle()


class RedisNodes:
    """One RedisAdapter per node, on a channel of this test's own, through a real server."""

    def __init__(self, server: RedisServer, stack: AsyncExitStack) -> None:
        self.url = server.url
        self.channel = f"contract-{uuid.uuid4().hex}"
        self.stack = stack
        self.markers = itertools.count()

    async def start(self, name: str) -> PubSub:
        adapter = RedisAdapter(self.url, node_name=name, channel=self.channel)
        pubsub = PubSub(adapter)
        await self.stack.enter_async_context(adapter.connect(pubsub))
        return pubsub

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        with anyio.move_on_after(DELIVERY_WITHIN):
            while not condition():
                await anyio.sleep(0.005)  # real-time: Redis delivers over a real socket
            return
        raise AssertionError(f"{what} (not within {DELIVERY_WITHIN}s of real time)")

    async def barrier(self, source: PubSub, receivers: list[PubSub]) -> None:
        marker = f"barrier-{next(self.markers)}"
        inboxes = [Inbox() for _ in receivers]
        for pubsub, inbox in zip(receivers, inboxes, strict=True):
            pubsub.subscribe(marker, inbox)
        source.broadcast(Broadcast(marker, "marker", {}))  # one publisher, in order: earlier ones are there
        await self.until(lambda: all(inbox.got for inbox in inboxes), f"the {marker} broadcast arrived everywhere")
        for pubsub, inbox in zip(receivers, inboxes, strict=True):
            pubsub.unsubscribe(marker, inbox)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One server for this module's tests; each test uses a Redis channel of its own."""
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@asynccontextmanager
async def cluster_nodes() -> AsyncIterator[Nodes]:
    made = ClusterNodes()
    try:
        yield made
    finally:
        await made.cluster.aclose()


@asynccontextmanager
async def redis_nodes(server: RedisServer) -> AsyncIterator[Nodes]:
    async with AsyncExitStack() as stack:
        yield RedisNodes(server, stack)


Connected = Callable[[], AbstractAsyncContextManager[Nodes]]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["cluster", "redis"])
def connected(request: pytest.FixtureRequest) -> Connected:
    """Nodes joined by each adapter in turn. Tests enter it themselves: an adapter's connection is a
    task group, which must be left in the task that entered it (an async fixture's teardown is not)."""
    if request.param == "cluster":
        return cluster_nodes
    server: RedisServer = request.getfixturevalue("redis_server")
    return lambda: redis_nodes(server)


async def subscribed(nodes: Nodes, name: str, topic: str = "room") -> tuple[PubSub, Inbox]:
    pubsub = await nodes.start(name)
    inbox = Inbox()
    pubsub.subscribe(topic, inbox)
    return pubsub, inbox


@pytest.mark.anyio
async def test_a_broadcast_reaches_every_other_node_once_with_its_origin(connected: Connected) -> None:
    async with connected() as nodes:
        server, on_server = await subscribed(nodes, "server")
        _, on_remote = await subscribed(nodes, "remote")
        third, on_third = await subscribed(nodes, "third")
        third.broadcast(Broadcast("room", "request_ping", {"n": 1}))
        await nodes.until(lambda: len(on_server.got) == len(on_remote.got) == 1, "one copy on server and on remote")
        await nodes.barrier(third, [server])
        assert [(b.event, b.payload, b.origin) for b in on_server.got + on_remote.got] == [
            ("request_ping", {"n": 1}, "third")
        ] * 2
        assert [(b.event, b.origin) for b in on_third.got] == [("request_ping", "third")]  # its own: once, locally


@pytest.mark.anyio
async def test_a_local_broadcast_stays_on_its_node(connected: Connected) -> None:
    async with connected() as nodes:
        server, on_server = await subscribed(nodes, "server")
        remote, on_remote = await subscribed(nodes, "remote")
        server.local_broadcast(Broadcast("room", "local", {}))
        server.broadcast(Broadcast("room", "everywhere", {}))
        await nodes.until(lambda: on_remote.events() == ["everywhere"], "the second broadcast on remote")
        await nodes.barrier(server, [remote])
        assert on_remote.events() == ["everywhere"]
        assert on_server.events() == ["local", "everywhere"]


@pytest.mark.anyio
async def test_topics_stay_apart(connected: Connected) -> None:
    async with connected() as nodes:
        server = await nodes.start("server")
        remote, on_room = await subscribed(nodes, "remote", "room:1")
        other = Inbox()
        remote.subscribe("room:2", other)
        server.broadcast(Broadcast("room:1", "hello", {}))
        await nodes.until(lambda: bool(on_room.got), "the broadcast on room:1")
        await nodes.barrier(server, [remote])
        assert other.got == []


@pytest.mark.anyio
async def test_one_publishers_broadcasts_arrive_in_order(connected: Connected) -> None:
    async with connected() as nodes:
        server = await nodes.start("server")
        _, on_remote = await subscribed(nodes, "remote")
        for n in range(100):
            server.broadcast(Broadcast("room", "n", {"n": n}))
        await nodes.until(lambda: len(on_remote.got) == 100, "100 broadcasts on remote")
        assert [b.payload["n"] for b in on_remote.got] == list(range(100))


@pytest.mark.anyio
async def test_payloads_arrive_as_they_were_sent(connected: Connected) -> None:
    async with connected() as nodes:
        server = await nodes.start("server")
        _, on_remote = await subscribed(nodes, "remote")
        payload: dict[str, Any] = {"text": "héllo ✓", "n": 1.5, "big": 2**53, "none": None, "list": [1, {"a": [True]}]}
        server.broadcast(Broadcast("room", "data", payload))
        await nodes.until(lambda: bool(on_remote.got), "the payload on remote")
        assert on_remote.got[0].payload == payload


@pytest.mark.anyio
async def test_broadcast_from_skips_the_sender_only_on_its_own_node(connected: Connected) -> None:
    async with connected() as nodes:
        server, on_server = await subscribed(nodes, "server")
        _, on_remote = await subscribed(nodes, "remote")
        sender = Inbox()
        server.subscribe("room", sender)
        server.broadcast(Broadcast("room", "hi", {}), from_=sender)
        await nodes.until(lambda: bool(on_remote.got), "the broadcast on remote")
        assert (sender.got, on_server.events(), on_remote.events()) == ([], ["hi"], ["hi"])


@pytest.mark.anyio
async def test_a_node_that_starts_later_gets_what_is_broadcast_from_then_on(connected: Connected) -> None:
    async with connected() as nodes:
        server = await nodes.start("server")
        _, on_remote = await subscribed(nodes, "remote")
        server.broadcast(Broadcast("room", "before", {}))
        await nodes.until(lambda: bool(on_remote.got), "the first broadcast on remote")
        late, on_late = await subscribed(nodes, "late")
        server.broadcast(Broadcast("room", "after", {}))
        await nodes.until(lambda: on_late.events() == ["after"], "only the second broadcast on the late node")
        late.broadcast(Broadcast("room", "from the late node", {}))
        await nodes.until(lambda: on_remote.events()[-1:] == ["from the late node"], "the late node's broadcast")
