"""Clusters on a virtual event loop: channel code's own sleeps on every node and the network's delays, one timeline."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from pytest_channels import (
    Broadcast,
    Channel,
    InfoResult,
    InResult,
    JoinResult,
    NotIdle,
    Push,
    Socket,
    noreply,
    ok,
)
from pytest_channels._runtime._clock import LoopClock
from pytest_channels.testing import AsyncChannelCase, ChannelCase, Settings, virtual_anyio_backend

pytestmark = pytest.mark.channels(virtual_loop=True)


class Napper(Channel):
    """Naps by itself (asyncio or anyio) before it broadcasts; the node that hears it naps before pushing."""

    intercept = ("woke",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "nap":
            await asyncio.sleep(payload["seconds"])  # virtual time, not real-time: no real wait
        else:
            await anyio.sleep(payload["seconds"])  # virtual time, not real-time: no real wait
        self.broadcast("woke", {"at": _now(), "on": _node(socket)})
        return noreply(socket)

    async def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        if payload["on"] != _node(socket):
            await anyio.sleep(1)  # not real-time: the listening node's own pause after the delay, in virtual time
        self.push(event, {**payload, "heard": _now(), "by": _node(socket)})
        return noreply(socket)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def _node(socket: Socket) -> str | None:
    return socket.runtime.pubsub.node if socket.runtime is not None else None


def test_a_nodes_own_sleep_and_the_networks_delay_add_up_on_one_timeline(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.subscribe("room", node="server")
    napper = channels.join(channels.socket(node="remote"), "room", channel=Napper).socket
    cluster.network.delay(0.5, source="remote", target="server")
    channels.push(napper, "nap", {"seconds": 3})
    channels.refute_broadcast("woke", timeout=3.499)
    broadcast = channels.assert_broadcast("woke", {"at": "00:00:03.000", "on": "remote"}, timeout=0.001)
    assert (broadcast.origin, broadcast.at_ns, channels.now) == ("remote", 3_500_000_000, 3.5)
    assert isinstance(channels.clock, LoopClock)
    assert cluster.clock is channels.clock  # every node reads the loop's clock


def test_the_receiving_node_sleeps_after_the_delay_before_it_pushes(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    listener = channels.subscribe_and_join_or_raise(channels.socket(node="server"), "room", channel=Napper)
    napper = channels.join(channels.socket(node="remote"), "room", channel=Napper).socket
    cluster.network.delay(0.25)
    channels.push(napper, "anyio_nap", {"seconds": 2})
    # remote naps until 2 and hears itself at once; the network carries it until 2.25, server naps until 3.25.
    woke = {"at": "00:00:02.000", "on": "remote"}
    channels.assert_push("woke", {**woke, "heard": "00:00:02.000", "by": "remote"}, timeout=2)
    channels.refute_push("woke", timeout=1.249)
    channels.assert_push("woke", {**woke, "heard": "00:00:03.250", "by": "server"}, timeout=0.001)
    assert channels.now == 3.25
    assert listener.topic == "room"


def test_advance_runs_every_node_through_its_sleeps_and_the_network(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b", "c")
    channels.subscribe("room", node="c")
    for node in ("a", "b"):
        channels.join(channels.socket(node=node), "room", channel=Napper)
    cluster.network.delay(1, target="c")
    channels.push(channels.join(channels.socket(node="a"), "room", channel=Napper).socket, "nap", {"seconds": 5})
    channels.advance(6)
    heard = [(type(m).__name__, m.origin, m.at_ns) for m in channels.flush() if isinstance(m, (Push, Broadcast))]
    # a's two listeners hear it at 5 (the one that napped broadcasts, and hears itself too), b's one at 6
    # after its own nap; the test's subscription on c gets it at 6, after the delay to c. (What happens on
    # two nodes at one instant comes in no promised order, as in Phoenix: compare them sorted.)
    assert sorted(heard, key=lambda m: (m[2], m[0], m[1])) == [
        ("Push", "a", 5_000_000_000),
        ("Push", "a", 5_000_000_000),
        ("Broadcast", "a", 6_000_000_000),
        ("Push", "b", 6_000_000_000),
    ]
    assert cluster.network.statistics().delivered == 2  # one packet each to b and c


@pytest.mark.channels(idle_timeout=0.05)
def test_nodes_answering_each_other_forever_fail_a_wait_on_the_loop_instead_of_hanging(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b")
    for node in ("a", "b"):
        channels.join(channels.socket(node=node), "table", channel=PingPong)
    cluster["a"].runtime.broadcast("table", "ball", {"from": "nobody"})
    with pytest.raises(NotIdle, match=r"^the nodes kept handing each other work at t=0\.000s for 0\.05s"):
        channels.refute_push("anything", timeout=1)
    cluster.network.delay(0.5)  # with a delay, time moves on between the shots: the next wait passes
    channels.advance(2)
    assert channels.now == 2


class Volley(Channel):
    """Answers every "volley" from another channel of its node with another one: two never stop."""

    intercept = ("volley",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        self.broadcast_from("volley", {})
        return noreply(socket)


@pytest.mark.asyncio
@pytest.mark.channels(idle_timeout=0.05)
async def test_an_async_wait_on_the_loop_fails_too_when_channels_answer_each_other(channels: AsyncChannelCase) -> None:
    first = (await channels.join(channels.socket(), "court", channel=Volley)).socket
    await channels.join(channels.socket(), "court", channel=Volley)
    channels.broadcast_from(first, "volley", {})
    with pytest.raises(NotIdle, match=r"^the channels were still busy after 0\.05s of real time:\n  - Volley"):
        await channels.settle()


@pytest.mark.asyncio
@pytest.mark.channels(idle_timeout=0.05)
@pytest.mark.parametrize("wait", ["refute_push", "leave", "close"])
async def test_an_async_wait_that_fails_with_not_idle_leaves_teardown_nothing_to_raise_again(
    channels: AsyncChannelCase, wait: str
) -> None:
    # As in a sync test: the guard fired, so teardown stops the channels as they are rather than
    # settle them, which could only fire it again (the test then errored at teardown).
    first = (await channels.join(channels.socket(), "court", channel=Volley)).socket
    await channels.join(channels.socket(), "court", channel=Volley)
    third = (await channels.join(channels.socket(), "court", channel=Volley)).socket
    channels.broadcast_from(first, "volley", {})
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "refute_push": lambda: channels.refute_push("anything"),
        "leave": lambda: channels.leave(third),
        "close": lambda: channels.close(third),
    }
    with pytest.raises(NotIdle, match=r"^the channels were still busy after 0\.05s of real time:\n  - "):
        await calls[wait]()


class PingPong(Channel):
    """Answers every "ball" from another node with another one, with no pause."""

    intercept = ("ball",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        if payload["from"] != _node(socket):
            self.broadcast("ball", {"from": _node(socket)})
        return noreply(socket)


@pytest.mark.asyncio
async def test_an_async_test_sleeps_on_the_same_timeline_as_the_network(channels: AsyncChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.subscribe("news", node="server")
    cluster.network.delay(2)
    cluster["remote"].runtime.broadcast("news", "flash", {})
    await asyncio.sleep(2)  # not real-time: the test's own sleep, in virtual time; the packet lands meanwhile
    broadcast = await channels.assert_broadcast("flash", timeout=0)
    assert (broadcast.origin, broadcast.at_ns) == ("remote", 2_000_000_000)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_anyio_backend(request.param)


@pytest.mark.anyio
async def test_clusters_run_on_the_virtual_loop_under_anyio_on_asyncio_and_trio(channels: AsyncChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.subscribe("room", node="server")
    napper = (await channels.join(channels.socket(node="remote"), "room", channel=Napper)).socket
    cluster.network.delay(0.5)
    channels.push(napper, "anyio_nap", {"seconds": 4})
    await anyio.sleep(1)  # virtual time, not real-time: no real wait
    await channels.refute_broadcast("woke", timeout=3.499)
    broadcast = await channels.assert_broadcast("woke", {"at": "00:00:04.000", "on": "remote"}, timeout=0.001)
    assert (broadcast.at_ns, channels.now) == (4_500_000_000, 4.5)
    cluster.stop("remote")
    await channels.settle()
    assert cluster.names == ("server",)


def test_a_cluster_made_before_an_async_tests_loop_is_bound_says_where_to_make_it() -> None:
    case = AsyncChannelCase(Settings(virtual_loop=True))
    with pytest.raises(RuntimeError, match=r"^channels\.cluster\(\.\.\.\) on a virtual event loop must run inside"):
        case.cluster("server", "remote")
    case._core.finish()


@pytest.mark.asyncio
async def test_one_runner_task_runs_every_node_and_the_network(channels: AsyncChannelCase) -> None:
    cluster = channels.cluster("a", "b", "c")
    channels.subscribe("room", node="c")
    await channels.join(channels.socket(node="b"), "room", channel=Napper)
    cluster.network.delay(1)
    cluster["a"].runtime.broadcast("room", "hi", {})
    await channels.assert_broadcast("hi", timeout=1)
    # No runner per node, and no task of its own for the network's deliveries (anyio names tasks after functions).
    ours = sorted(name for task in asyncio.all_tasks() if (name := task.get_name()).startswith("pytest_channels."))
    assert ours == ["pytest_channels._runtime._runner.run"]
