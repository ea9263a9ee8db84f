"""Several named nodes on one virtual clock, each a runtime with its own PubSub, joined by a network.

This is the chapter's `server`, `remote` and `third` in one test: a broadcast on any node
reaches subscribers on every node (at most once, through the `Network`), `local_broadcast`
stays on its node, and a node that starts later is connected to all the others at once, as
`Node.connect` makes a full mesh in Erlang.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from typing import Any

from .._runtime._clock import LoopClock, VirtualClock, format_ns, to_ns
from .._runtime._errors import NodeStopped, UnknownNode
from .._runtime._messages import Broadcast
from .._runtime._pubsub import LocalAdapter, PubSub, publisher
from .._runtime._runtime import Runtime
from ._group import Group, GroupRuntime
from ._network import Network


class ClusterAdapter:
    """A cluster node's PubSub adapter: each broadcast goes to the network once per other running node."""

    def __init__(self, cluster: Cluster, node_name: str) -> None:
        self.node_name = node_name
        self._cluster = cluster

    def __repr__(self) -> str:
        return f"<ClusterAdapter node={self.node_name!r}>"

    def publish(self, broadcast: Broadcast) -> None:
        self._cluster._publish(self.node_name, broadcast)

    def direct_publish(self, node_name: str, broadcast: Broadcast) -> None:
        """Send the broadcast to the node `node_name` only; UnknownNode if the cluster has none."""
        self._cluster._publish(self.node_name, broadcast, only=node_name)


class Node:
    """One node of a `Cluster`: a name and a runtime. Get it with `cluster.node(name)` or `cluster[name]`.

    A restarted node is a new `Node` with the same name and a fresh runtime (the old one's
    memory is gone); `incarnation` counts the starts.

    Attributes:
        name: the node's name, which messages carry as their `origin`.
        runtime: the node's runtime: connect, join and broadcast through it.
        started_at_ns, stopped_at_ns: when it started and stopped (None while running).
        incarnation: 1 for the first start of this name, 2 after a restart, and so on.
    """

    def __init__(self, name: str, runtime: GroupRuntime, started_at_ns: int, incarnation: int) -> None:
        self.name = name
        self.runtime = runtime
        self.started_at_ns = started_at_ns
        self.stopped_at_ns: int | None = None
        self.incarnation = incarnation
        self._on_stop: list[Callable[[], None]] = []

    @property
    def running(self) -> bool:
        return self.stopped_at_ns is None

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call `callback()` when this node stops: connections to it are lost then."""
        self._on_stop.append(callback)

    def __repr__(self) -> str:
        since = f"started t={format_ns(self.started_at_ns)}"
        if self.stopped_at_ns is not None:
            since += f", stopped t={format_ns(self.stopped_at_ns)}"
        return f"<Node {self.name!r} #{self.incarnation} {since} channels={len(self.runtime.channels)}>"


class Cluster:
    """Named nodes on one virtual clock, connected by a `Network` the test controls.

    Every node shares the clock and the token secret (as real nodes share
    `secret_key_base`); each has its own PubSub and sockets. Settling any node's runtime
    settles the whole cluster, so every wait drives all nodes in the clock's order.

    Args:
        clock: the shared clock; a new `VirtualClock` when omitted.
        seed: seeds the network's randomness; a random seed (see `seed`) when omitted.
        secret_key_base: the token secret every node shares; a random one when omitted.
        check_payloads: refuse payloads that could not cross the wire as JSON.
        idle_timeout: real seconds the nodes may stay busy before a wait fails with `NotIdle`.
        group: the group of runtimes to join (the test harness passes its own).

    Example:
        >>> import anyio
        >>> async def main():
        ...     cluster = Cluster(seed=1)
        ...     for name in ("server", "remote"):
        ...         cluster.start(name)
        ...     got = []
        ...     class Listener:
        ...         def receive_broadcast(self, broadcast):
        ...             got.append(broadcast)
        ...     cluster["server"].runtime.pubsub.subscribe("ping", Listener())
        ...     cluster["remote"].runtime.broadcast("ping", "request_ping", {})
        ...     await cluster.settle()
        ...     return got
        >>> anyio.run(main)
        [Broadcast(topic='ping', event='request_ping', payload={}, t=0.000s, origin='remote')]
    """

    def __init__(
        self,
        *,
        clock: VirtualClock | LoopClock | None = None,
        seed: int | None = None,
        secret_key_base: str | None = None,
        check_payloads: bool = True,
        idle_timeout: float = 5.0,
        group: Group | None = None,
    ) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int (got {seed!r})")
        if group is not None:
            clock = group.clock
        self.clock: VirtualClock | LoopClock = clock if clock is not None else VirtualClock()
        self.seed: int = seed if seed is not None else secrets.randbits(32)
        """The network's seed: pass it back as `seed=` to repeat a run exactly."""
        self._group = group if group is not None else Group(self.clock, idle_timeout)
        self._secret = secret_key_base or secrets.token_urlsafe(32)
        self._check_payloads = check_payloads
        self._idle_timeout = idle_timeout
        self._nodes: dict[str, Node] = {}
        self.network = Network(self.clock, self.seed, node=self._lookup, submit=self._group.submit)
        """The links between the nodes: delay, drop, partition, heal."""

    def __repr__(self) -> str:
        return f"<Cluster nodes={list(self.names)} seed={self.seed} network: {self.network.describe()}>"

    # -- nodes -------------------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The running nodes' names, in the order they first started."""
        return tuple(name for name, node in self._nodes.items() if node.running)

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The running nodes."""
        return tuple(node for node in self._nodes.values() if node.running)

    def node(self, name: str) -> Node:
        """The running node called `name`.

        Raises:
            UnknownNode: the cluster never had a node of that name.
            NodeStopped: the node is stopped (start it again with `start`).
        """
        node = self._lookup(name)
        if not node.running:
            assert node.runtime.stopped is not None
            raise NodeStopped(node.runtime.stopped)
        return node

    __getitem__ = node

    def start(self, name: str, *, runtime: Runtime | None = None) -> Node:
        """Start a node, connected at once to every running node; a stopped name starts afresh.

        Args:
            name: a name no running node has.
            runtime: an existing single-node runtime on this cluster's group to make this
                node (the test harness turns its own runtime into the first node this way).

        Raises:
            ValueError: a node of that name is running.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"a node name must be a non-empty str (got {name!r})")
        current = self._nodes.get(name)
        if current is not None and current.running:
            raise ValueError(f"node {name!r} is already running; stop it first, or use restart({name!r})")
        if runtime is None:
            runtime = GroupRuntime(
                group=self._group,
                clock=self.clock,
                pubsub=PubSub(ClusterAdapter(self, name)),
                secret_key_base=self._secret,
                check_payloads=self._check_payloads,
                idle_timeout=self._idle_timeout,
            )
        else:
            if not isinstance(runtime, GroupRuntime) or runtime.group is not self._group:
                raise ValueError("start(runtime=...) takes a runtime of this cluster's group")
            if not isinstance(runtime.pubsub.adapter, LocalAdapter):
                raise ValueError(f"this runtime is already a node ({runtime.pubsub.adapter!r})")
            runtime.pubsub.adapter = ClusterAdapter(self, name)
        node = Node(name, runtime, self.clock.now_ns(), current.incarnation + 1 if current else 1)
        self._nodes[name] = node  # a restarted name keeps its place in the order
        return node

    def stop(self, name: str) -> Node:
        """Stop a node: from now on it receives nothing and cannot be used, and at the next wait
        its channels finish what they were handling and terminate with reason "shutdown".

        Their in-memory state is gone with them. Packets in flight to it are lost; connections
        to it (see `Node.on_stop`) are told at once. Returns the stopped node.
        """
        node = self.node(name)
        now = self.clock.now_ns()
        node.stopped_at_ns = now
        node.runtime.stopped = (
            f"node {name!r} was stopped at t={format_ns(now)}; start it again with cluster.start({name!r}) "
            "(a new runtime: sockets of the old one are gone)"
        )
        # What the node had ready runs with the stop, draining (so its channels may still use the
        # node), not ahead of it on the queue, where the node already refuses them.
        held = self._group.take(node.runtime)
        self._group.submit(lambda: self._finish(node.runtime, held), f"the stop of node {name!r}")
        for callback in list(node._on_stop):
            callback()
        return node

    def kill(self, name: str) -> Node:
        """Kill a node at once, as a crash or a power cut would: no channel finishes anything.

        Unlike `stop`, its channels do not handle what was queued for them and their
        `terminate` is not called: each ends now with reason `("shutdown", "killed")` (the
        test did it on purpose, so, as for `channels.crash`, it is no failure). The rest is
        `stop`: packets in flight to it are lost, connections to it are told. Returns the node.
        """
        node = self.node(name)
        for process in node.runtime.channels:
            process.kill(("shutdown", "killed"))
        return self.stop(name)

    def restart(self, name: str) -> Node:
        """`stop` then `start`: the same name, a fresh runtime."""
        self.stop(name)
        return self.start(name)

    # -- time --------------------------------------------------------------------------------------

    async def settle(self) -> None:
        """Run every node until none has anything to do at this instant (network deliveries included)."""
        await self._group.settle()

    async def advance(self, seconds: float) -> None:
        """Move time forward, firing due timers of every node and of the network in order."""
        target = self.clock.now_ns() + to_ns(seconds)
        if self._group.runtimes:
            await self._group.runtimes[0].advance_to_ns(target)
        elif isinstance(self.clock, VirtualClock):
            self.clock.advance(seconds)

    async def aclose(self) -> None:
        """Stop every channel on every node and cancel every timer."""
        await self._group.aclose()

    # -- what adapters and the group call -------------------------------------------------------------

    def _lookup(self, name: str) -> Node:
        if not isinstance(name, str):
            raise TypeError(f"a node name must be a str (got {name!r})")
        node = self._nodes.get(name)
        if node is None:
            listed = ", ".join(repr(n) for n in self._nodes) or "none yet"
            raise UnknownNode(f"unknown node {name!r}; the cluster's nodes are {listed}")
        return node

    def _publish(self, source: str, broadcast: Broadcast, *, only: str | None = None) -> None:
        if broadcast.origin is None:
            broadcast = dataclasses.replace(broadcast, origin=source)
        sender = publisher.get()
        if only is not None:
            # Sent even to a stopped node, as to any address: the network counts it as node_down.
            target = self._lookup(only)
            self.network.send(source, only, broadcast, publisher=sender, target_runtime=target.runtime)
            return
        for name, node in self._nodes.items():
            if name != source and node.running:
                self.network.send(source, name, broadcast, publisher=sender, target_runtime=node.runtime)

    async def _finish(self, runtime: Runtime, held: list[Any]) -> None:
        """A stop's entry on the queue: the stopped node's channels finish their work, then shut down."""
        runtime.draining = True
        try:
            self._group.put_first(held)
            await runtime.settle_own()
            for process in runtime.channels:
                await process._exit("shutdown", graceful_close=False)
        finally:
            runtime.draining = False
