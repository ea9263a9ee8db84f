"""The harness's side of a cluster: node names to runtimes, and Phoenix's disconnect by socket id.

`channels.cluster("server", "remote")` turns the test's own runtime into the first node, so
sockets made before and after it agree, and `node=None` keeps meaning "the test's runtime".
Every node's runtime is in the test runtime's group, so each wait drives them all.
"""

from __future__ import annotations

from typing import Protocol

from .._runtime._errors import NodeStopped, UnknownNode
from .._runtime._process import Transport
from .._runtime._runtime import Runtime
from .._server._multiplexer import ById
from ._cluster import Cluster
from ._group import GroupRuntime
from ._settings import Settings


class CoreState(Protocol):
    """What these functions read and set of the harness's `_core.Core` (named here, so no import circle)."""

    runtime: Runtime
    settings: Settings
    cluster: Cluster | None
    first_node: str | None

    @property
    def on_loop(self) -> bool: ...


def same_world(own: Runtime, other: Runtime) -> bool:
    """Whether `other` is the test's runtime or one of its cluster's nodes (any incarnation)."""
    if other is own:
        return True
    return isinstance(own, GroupRuntime) and isinstance(other, GroupRuntime) and other.group is own.group


def require_own_clock(core: CoreState, what: str) -> None:
    """Simulated clients are driven by the harness's waits, on its own `VirtualClock`.

    On a virtual event loop the runtime serves on the loop's clock instead, and nothing would
    run their retries: say so rather than let a test wait for nothing.
    """
    if core.on_loop or core.settings.virtual_loop:
        raise RuntimeError(
            f"{what} runs on the harness's own virtual clock, but this test runs on a virtual event loop "
            "(virtual_loop): the two do not combine yet. Run this test without virtual_loop."
        )


def start_cluster(core: CoreState, names: tuple[str, ...], seed: int | None, secret: str) -> Cluster:
    """Make the test's runtime the node `names[0]` and start the others on the same clock.

    On a virtual event loop that clock is the loop's, so the harness must be on the loop first
    (the sync harness starts its loop for this; see `ChannelCase.cluster`).
    """
    if core.cluster is not None:
        raise ValueError(
            f"this test already has a cluster ({', '.join(core.cluster.names)}); "
            "start more nodes on it with cluster.start(name)"
        )
    if not names:
        raise ValueError("cluster needs at least one node name, as in channels.cluster('server', 'remote')")
    if core.settings.virtual_loop and not core.on_loop:
        raise RuntimeError(
            "channels.cluster(...) on a virtual event loop must run inside the test's loop, which has not "
            "started yet: make the cluster in the test body (an async fixture runs before the test's loop "
            "is the channels' clock)"
        )
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"node {twice[0]!r} is named twice")
    runtime = core.runtime
    assert isinstance(runtime, GroupRuntime)
    cluster = Cluster(
        group=runtime.group,
        seed=seed,
        secret_key_base=secret,
        check_payloads=core.settings.check_payloads,
        idle_timeout=core.settings.idle_timeout,
    )
    cluster.start(names[0], runtime=runtime)
    for name in names[1:]:
        cluster.start(name)
    core.cluster, core.first_node = cluster, names[0]
    return cluster


def runtime_for(core: CoreState, node: str | None, action: str) -> Runtime:
    """The runtime behind `node=`: the named node, or the test's first node (its own runtime).

    Raises:
        UnknownNode: no such node, or no cluster at all.
        NodeStopped: the node is stopped.
    """
    if core.cluster is None:
        if node is None:
            return core.runtime
        raise UnknownNode(
            f"{action}: unknown node {node!r}: this test has no cluster; start one with channels.cluster({node!r}, ...)"
        )
    try:
        return core.cluster.node(node if node is not None else core.first_node or "").runtime
    except (UnknownNode, NodeStopped) as exc:
        raise type(exc)(f"{action}: {exc}") from None


class _Disconnect(ById):
    """The harness's side of Phoenix's disconnect by id: the test's channels joined with the id close."""

    __slots__ = ("runtime", "socket_id", "transport")

    def __init__(self, runtime: Runtime, socket_id: str, transport: Transport) -> None:
        super().__init__(self._close_channels)
        self.runtime = runtime
        self.socket_id = socket_id
        self.transport = transport

    def _close_channels(self) -> None:
        for process in self.runtime.channels:
            through = getattr(process.transport, "via", process.transport)  # a join's Recipient
            if through is self.transport and process.socket.id == self.socket_id and process.alive:
                self.runtime.close(process.socket)


def stop_on_disconnect(runtime: Runtime, socket_id: str, transport: Transport) -> None:
    """Close, on the next wait, every channel joined on `runtime` through `transport` with this socket id
    when someone broadcasts `"disconnect"` on the id (Phoenix's way to log a user out everywhere)."""
    subscribers = runtime.pubsub.subscribers(socket_id)
    if not any(isinstance(s, _Disconnect) and s.transport is transport for s in subscribers):
        runtime.pubsub.subscribe(socket_id, _Disconnect(runtime, socket_id, transport))
