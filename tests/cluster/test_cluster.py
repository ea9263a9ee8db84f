"""Several nodes in one test: broadcasts cross nodes, carry their origin, and every wait runs every node."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from both_clocks import on_virtual_loop, pytest_generate_tests  # noqa: F401 - every sync test on both clocks
from hello_sockets.sockets import AuthSocket, UserSocket

from pytest_channels import (
    Broadcast,
    Channel,
    InfoResult,
    InResult,
    JoinResult,
    NodeStopped,
    NotIdle,
    Presence,
    Push,
    Reason,
    Socket,
    UnknownNode,
    noreply,
    ok,
)
from pytest_channels._runtime._clock import VirtualClock
from pytest_channels.testing import AsyncChannelCase, ChannelCase, Cluster
from pytest_channels.testing._group import GroupRuntime

TERMINATED: list[tuple[str | None, Reason]] = []


@pytest.fixture(autouse=True)
def _forget_terminations() -> None:
    TERMINATED.clear()


class Relay(Channel):
    """Rebroadcasts what its client says; pushes a reminder later; remembers a counter in memory."""

    intercept = ("shout",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket.assign(count=0))

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "say":
            self.broadcast("said", payload)
        elif event == "later":
            self.send_after(payload["after"], payload["text"])
        return noreply(socket.assign(count=socket.assigns["count"] + 1))

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        self.push("shouted", {"text": payload["text"].upper(), "by": node_of(socket)})
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.push("reminder", {"text": message})
        return noreply(socket)

    def terminate(self, reason: Reason, socket: Socket) -> None:
        TERMINATED.append((node_of(socket), reason))


def node_of(socket: Socket) -> str | None:
    return socket.runtime.pubsub.node if socket.runtime is not None else None


def join_relay(channels: ChannelCase, node: str, topic: str = "room") -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(node=node), topic, channel=Relay)


def test_a_broadcast_on_a_node_without_sockets_reaches_a_client_on_another_node(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.join(channels.socket(UserSocket, node="server"), "ping")
    cluster["remote"].runtime.broadcast("ping", "request_ping", {})
    push = channels.assert_push("request_ping", {})
    assert push.origin == "remote"


def test_a_node_that_starts_later_is_connected_to_every_other_node_at_once(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.join(channels.socket(UserSocket, node="server"), "ping")
    third = cluster.start("third")
    channels.subscribe("ping", node="third")
    third.runtime.broadcast("ping", "request_ping", {"from": "third"})
    assert channels.assert_push("request_ping").origin == "third"
    cluster["remote"].runtime.broadcast("ping", "request_ping", {"from": "remote"})
    assert channels.assert_broadcast("request_ping", {"from": "remote"}).origin == "remote"
    assert cluster.names == ("server", "remote", "third")


def test_the_tests_own_runtime_becomes_the_first_node(channels: ChannelCase) -> None:
    before = channels.socket(UserSocket)
    cluster = channels.cluster("server", "remote")
    assert cluster["server"].runtime is channels.runtime is before.runtime
    assert channels.socket().runtime is channels.runtime
    channels.join(before, "ping")
    cluster["remote"].runtime.broadcast("ping", "request_ping", {})
    channels.assert_push("request_ping")


def test_local_broadcast_stays_on_its_node(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    channels.subscribe("news", node="server")
    channels.subscribe("news", node="remote")
    cluster["remote"].runtime.local_broadcast("news", "local", {})
    assert channels.assert_broadcast("local").origin == "remote"
    channels.refute_broadcast("local", timeout=10)


def test_each_node_delivers_once_to_its_own_subscribers(channels: ChannelCase) -> None:
    cluster = channels.cluster("a", "b", "c")
    for node in cluster.names:
        channels.subscribe("news", node=node)
    cluster["b"].runtime.broadcast("news", "flash", {"n": 1})
    channels.settle()
    assert [(m.origin, m.event) for m in channels.flush() if isinstance(m, Broadcast)] == [("b", "flash")] * 3


def test_a_channel_broadcast_reaches_channels_joined_on_other_nodes(channels: ChannelCase) -> None:
    channels.cluster("server", "remote")
    speaker = join_relay(channels, "server")
    join_relay(channels, "remote")
    channels.push(speaker, "say", {"text": "hi"})
    channels.settle()
    pushes = [(m.origin, m.payload) for m in channels.flush() if isinstance(m, Push)]
    assert pushes == [("server", {"text": "hi"})] * 2  # the fastlane on both nodes


def test_an_intercepted_event_runs_handle_out_on_the_node_of_each_channel(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    join_relay(channels, "server")
    join_relay(channels, "remote")
    cluster["server"].runtime.broadcast("room", "shout", {"text": "hey"})
    channels.settle()
    shouted = sorted(m.payload["by"] for m in channels.flush() if isinstance(m, Push) and m.event == "shouted")
    assert shouted == ["remote", "server"]


def test_the_test_can_broadcast_from_a_socket_on_any_node(channels: ChannelCase) -> None:
    channels.cluster("server", "remote")
    remote = join_relay(channels, "remote", "room")
    join_relay(channels, "server", "room")
    channels.broadcast_from(remote, "news", {"n": 1})
    channels.settle()
    assert sorted(m.origin or "" for m in channels.flush() if isinstance(m, Push)) == ["remote", "remote"]


def test_timers_on_every_node_fire_in_the_order_of_the_one_clock(channels: ChannelCase) -> None:
    channels.cluster("server", "remote")
    server, remote = join_relay(channels, "server"), join_relay(channels, "remote")
    channels.push(server, "later", {"after": 2, "text": "server at 2"})
    channels.push(remote, "later", {"after": 1, "text": "remote at 1"})
    channels.push(server, "later", {"after": 3, "text": "server at 3"})
    first = channels.assert_push("reminder", timeout=5)
    assert (first.payload["text"], first.origin, channels.now) == ("remote at 1", "remote", 1)
    channels.advance(5)
    assert [m.payload["text"] for m in channels.flush() if isinstance(m, Push)] == ["server at 2", "server at 3"]


def test_tokens_signed_on_one_node_verify_on_another(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    token = cluster["server"].runtime.tokens.sign("salt identifier", 7)
    result = channels.connect(AuthSocket, {"token": token}, node="remote")
    assert result.socket.id == "auth_socket:7"
    assert result.socket.runtime is cluster["remote"].runtime


def test_stopping_a_node_terminates_its_channels_and_their_state_is_gone(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    remote = join_relay(channels, "remote")
    channels.push(remote, "later", {"after": 5, "text": "never"})
    channels.settle()
    assert channels.get_state(remote).assigns["count"] == 1
    cluster.stop("remote")
    channels.settle()
    assert TERMINATED == [("remote", "shutdown")]
    assert [e.reason for e in channels.exits] == ["shutdown"]
    channels.refute_push("reminder", timeout=10)  # its timer died with it
    restarted = cluster.start("remote")
    assert restarted.incarnation == 2
    again = join_relay(channels, "remote")
    assert channels.get_state(again).assigns["count"] == 0


def test_a_stopped_node_says_so_when_it_is_used(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    socket = join_relay(channels, "remote")
    old = cluster["remote"].runtime
    cluster.stop("remote")
    expected = r"node 'remote' was stopped at t=0\.000s; start it again with cluster\.start\('remote'\)"
    with pytest.raises(NodeStopped, match=r"^socket: " + expected):
        channels.socket(node="remote")
    with pytest.raises(NodeStopped, match=r"^push: " + expected):
        channels.push(socket, "say", {"text": "hi"})
    with pytest.raises(NodeStopped, match=r"^broadcast: " + expected):
        old.broadcast("room", "x", {})
    with pytest.raises(NodeStopped, match=r"^" + expected):
        cluster["remote"]
    cluster.restart("server")
    assert channels.runtime is cluster["server"].runtime  # the test's runtime follows its first node


def test_unknown_node_names_are_refused_with_the_names_there_are(channels: ChannelCase) -> None:
    with pytest.raises(UnknownNode, match=r"^socket: unknown node 'remote': this test has no cluster; start one"):
        channels.socket(node="remote")
    cluster = channels.cluster("server", "remote")
    nodes = r"the cluster's nodes are 'server', 'remote'$"
    with pytest.raises(UnknownNode, match=r"^subscribe: unknown node 'thrid'; " + nodes):
        channels.subscribe("ping", node="thrid")
    with pytest.raises(UnknownNode, match=r"^unknown node 'x'"):
        cluster.network.delay(1, source="x")
    with pytest.raises(ValueError, match=r"^this test already has a cluster \(server, remote\)"):
        channels.cluster("third")
    with pytest.raises(ValueError, match=r"^node 'remote' is already running"):
        cluster.start("remote")


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ((), r"^cluster needs at least one node name"),
        (("a", "b", "a"), r"^node 'a' is named twice$"),
    ],
)
def test_a_cluster_needs_distinct_names(channels: ChannelCase, names: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        channels.cluster(*names)


def test_a_single_node_test_carries_no_origin(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room", channel=Relay)
    channels.push(socket, "say", {"text": "hi"})
    assert channels.assert_broadcast("said").origin is None
    assert repr(channels.assert_push("said")) == "Push(topic='room', event='said', payload={'text': 'hi'}, t=0.000s)"


def test_a_cluster_with_no_node_yet_settles_and_advances() -> None:
    async def scenario() -> float:
        cluster = Cluster(seed=1)
        await cluster.settle()
        await cluster.advance(1)
        return cluster.clock.now_ns() / 1e9

    assert anyio.run(scenario) == 1.0


def test_a_cluster_runs_without_the_harness() -> None:
    async def scenario() -> list[Broadcast]:
        cluster = Cluster(seed=1)
        for name in ("server", "remote"):
            cluster.start(name)
        got: list[Broadcast] = []

        class Listener:
            def receive_broadcast(self, broadcast: Broadcast) -> None:
                got.append(broadcast)

        cluster["server"].runtime.pubsub.subscribe("ping", Listener())
        cluster.network.delay(0.25)
        cluster["remote"].runtime.broadcast("ping", "request_ping", {})
        await cluster.settle()
        assert got == []
        await cluster.advance(0.25)
        await cluster.aclose()
        return got

    got = anyio.run(scenario)
    assert [(b.event, b.origin, b.at_ns) for b in got] == [("request_ping", "remote", 250_000_000)]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
async def test_an_async_test_runs_a_cluster_on_asyncio_and_trio(channels: AsyncChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    result = await channels.connect(UserSocket, {}, node="remote")
    await channels.join(result.socket, "ping")
    cluster.network.delay(0.5)
    cluster["server"].runtime.broadcast("ping", "request_ping", {})
    await channels.refute_push("request_ping", timeout=0.4)
    push = await channels.assert_push("request_ping", timeout=0.1)
    assert (push.origin, channels.now) == ("server", 0.5)
    cluster.restart("remote")
    client = channels.client(UserSocket, node="remote")
    client.connect()
    await channels.wait_until(lambda: client.connected)


@pytest.mark.channels(virtual_loop=True)
def test_a_client_on_a_virtual_event_loop_is_refused_with_what_to_do(channels: ChannelCase) -> None:
    on_loop = r"runs on the harness's own virtual clock, but this test runs on a virtual event loop \(virtual_loop\)"
    channels.cluster("server", "remote")  # a cluster is at home there
    with pytest.raises(RuntimeError, match=r"^channels\.client\(\) " + on_loop):
        channels.client(UserSocket)


def test_killing_a_node_ends_its_channels_at_once_without_terminate_or_queued_work(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    local = join_relay(channels, "server")
    remote = join_relay(channels, "remote")
    channels.push(remote, "later", {"after": 5, "text": "never"})
    channels.settle()
    channels.push(remote, "say", {"text": "lost with the node"})  # queued, never handled
    killed = cluster.kill("remote")
    assert not killed.running
    channels.settle()
    assert TERMINATED == []
    assert [(e.topic, e.reason) for e in channels.exits] == [("room", ("shutdown", "killed"))]
    channels.refute_broadcast("said", timeout=10)
    channels.refute_push("reminder", timeout=10)
    assert channels.get_state(local).assigns["count"] == 0  # the other node runs on
    assert cluster.start("remote").incarnation == 2


def test_stopping_a_node_lets_its_channels_finish_what_was_queued(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    remote = join_relay(channels, "remote")
    channels.push(remote, "say", {"text": "handled before the stop"})
    cluster.stop("remote")
    channels.assert_broadcast("said", {"text": "handled before the stop"})
    assert TERMINATED == [("remote", "shutdown")]


class Volley(Channel):
    """Answers every "volley" broadcast on its topic with another one: two of them never stop."""

    intercept = ("volley",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        self.broadcast_from("volley", {"n": payload["n"] + 1})
        return noreply(socket)


@pytest.mark.channels(idle_timeout=0.05)
def test_two_channels_of_one_node_answering_each_other_forever_are_named_not_blamed_on_the_network(
    channels: ChannelCase,
) -> None:
    cluster = channels.cluster("server", "remote")
    cluster.network.partition(["server"], ["remote"])  # nothing crosses: the exchange is the node's own
    first = channels.join(channels.socket(node="server"), "court", channel=Volley).socket
    channels.join(channels.socket(node="server"), "court", channel=Volley)
    channels.broadcast_from(first, "volley", {"n": 0})
    with pytest.raises(NotIdle) as info:
        channels.settle()
    assert str(info.value).startswith(
        "the channels were still busy after 0.05s of real time:\n"
        "  - Volley (topic 'court') in answering other channels, which answer back\n"
    )


class Visitors(Presence):
    """No callbacks: Phoenix's defaults."""


class Visitor(Channel):
    """Tracks its socket when told to: its presence lives on its node."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        Visitors.track(socket, "ada", {})
        return noreply(socket)

    def terminate(self, reason: Reason, socket: Socket) -> None:
        TERMINATED.append((node_of(socket), reason))


def test_a_stopped_nodes_channels_finish_what_was_queued_using_the_node_as_they_drain(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    remote = channels.join(channels.socket(node="remote"), "room", channel=Visitor).socket
    channels.push(remote, "track", {})  # queued ahead of the stop: handled while the node drains
    cluster.stop("remote")
    channels.settle()
    assert TERMINATED == [("remote", "shutdown")]  # not a crash with NodeStopped from Visitors.track


def test_a_stalled_runner_wakes_a_settle_that_waits_for_the_queued_jobs() -> None:
    import trio.testing  # trio is optional: only this test needs it

    async def main() -> BaseException | None:
        runtime = GroupRuntime(clock=VirtualClock(), idle_timeout=1.0)
        group = runtime.group
        raised: list[BaseException] = []

        async def settle() -> None:
            try:
                await group.settle()
            except NotIdle as error:
                raised.append(error)

        async def stall() -> None:  # as the runner's guard does: the job is never run
            await runtime.stall(group.queue[0])

        async with anyio.create_task_group() as tg:
            group._tg = tg  # serving, as on a virtual loop: the runner runs the queue, settle waits for it
            group.submit(lambda: None, "a packet")
            tg.start_soon(settle)
            await trio.testing.wait_all_tasks_blocked()  # the settle waits for the job to be done
            tg.start_soon(stall)
            await trio.testing.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()  # a settle still waiting would wait forever
        return raised[0] if raised else None

    assert isinstance(anyio.run(main, backend="trio"), NotIdle)
