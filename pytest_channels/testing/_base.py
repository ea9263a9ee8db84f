"""What `ChannelCase` and `AsyncChannelCase` share: everything that does not wait."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, overload
from unittest.mock import ANY

from .._runtime._clock import NS_PER_SECOND, LoopClock, VirtualClock
from .._runtime._errors import BroadcastError
from .._runtime._messages import Exit, Message, Reason
from .._runtime._presence import Presence, Presences
from .._runtime._runtime import Runtime
from .._runtime._socket import Socket, SocketHandler
from . import _calling, _faults, _nodes, _presence
from ._client import Client
from ._cluster import Cluster
from ._core import TEST_SECRET, Core
from ._settings import Settings

M = TypeVar("M", bound=Message)


class CaseBase:
    """The non-waiting half of the harness; see `ChannelCase` for the whole story."""

    is_async = False
    """Whether its waits are awaited (`AsyncChannelCase`)."""

    def __init__(self, settings: Settings | None = None, *, _core: Core | None = None) -> None:
        # `_core`: a view on another case's world (ChannelCase.run hands helpers an async one).
        self._core = _core or Core(settings or Settings())
        self._clients: list[Client] = []

    def _check(self) -> None:
        """Hook run before every call (the async case checks for forgotten awaits)."""

    @property
    def settings(self) -> Settings:
        """The settings in force for this test (ini options, then the `channels` marker)."""
        return self._core.settings

    @property
    def runtime(self) -> Runtime:
        """This test's runtime: broadcast from application code with `channels.runtime.broadcast(...)`.

        With a cluster, it is the first node's runtime (its current one, after a restart).
        """
        if self._core.cluster is None:
            return self._core.runtime
        return _nodes.runtime_for(self._core, None, "runtime")

    @property
    def clock(self) -> VirtualClock | LoopClock:
        """This test's clock: a `VirtualClock`, or the loop's own on a virtual event loop."""
        return self._core.clock

    @property
    def now(self) -> float:
        """Virtual seconds since the test started."""
        return self._core.clock.now_ns() / NS_PER_SECOND

    @property
    def mailbox(self) -> tuple[Message, ...]:
        """Every message received and not yet consumed by an assertion, in arrival order.

        Reading it does not consume anything (Phoenix's `Process.info(self(), :messages)`).
        It shows what has arrived so far: call `settle()` or `advance()` first to let
        channels finish what they were asked to do.
        """
        self._check()
        return tuple(self._core.mailbox.messages)

    @property
    def exits(self) -> tuple[Exit, ...]:
        """Channel exits not yet claimed by `assert_exit`, `leave` or `close`."""
        return tuple(self._core.mailbox.exits)

    @overload
    def messages(
        self,
        kind: type[M],
        event: Any = ANY,
        payload: Any = ANY,
        *,
        topic: str | None = None,
        socket: Socket | None = None,
    ) -> tuple[M, ...]: ...

    @overload
    def messages(
        self,
        kind: None = None,
        event: Any = ANY,
        payload: Any = ANY,
        *,
        topic: str | None = None,
        socket: Socket | None = None,
    ) -> tuple[Message, ...]: ...

    def messages(
        self,
        kind: Any = None,
        event: Any = ANY,
        payload: Any = ANY,
        *,
        topic: str | None = None,
        socket: Socket | None = None,
    ) -> tuple[Message, ...]:
        """The messages in the mailbox that match, in arrival order, consuming nothing.

        Args:
            kind: `Push`, `Reply`, `Broadcast` or `Close` (default: any).
            event: the event (matchers work, as in assertions); a message without one never matches.
            payload: the payload, compared with `==`.
            topic: the topic.
            socket: a joined socket: only what its channel sent to it.
        """
        self._check()
        return self._core.select(kind, event, payload, topic, socket)

    def flush(self) -> tuple[Message, ...]:
        """Consume and return every message in the mailbox."""
        self._check()
        return tuple(self._core.mailbox.flush())

    def socket(
        self,
        handler: type[SocketHandler] | None = None,
        id: str | None = None,
        assigns: Mapping[str, Any] | None = None,
        *,
        node: str | None = None,
    ) -> Socket:
        """A socket built without running `connect` (Phoenix's `socket/3`).

        Args:
            handler: the socket handler whose routes pick the channel on join.
            id: the socket id.
            assigns: initial assigns.
            node: the cluster node the socket lives on (default: the first node).
        """
        self._check()
        return self._core.socket(handler, id, assigns, node)

    def subscribe(self, topic: str, *, node: str | None = None) -> None:
        """Receive every broadcast on `topic` (on `node`'s PubSub) as a `Broadcast` (duplicates deliver twice)."""
        self._check()
        self._core.subscribe(topic, node)

    def unsubscribe(self, topic: str, *, node: str | None = None) -> None:
        """Stop receiving broadcasts on `topic` (on `node`'s PubSub)."""
        self._check()
        self._core.unsubscribe(topic, node)

    # -- several nodes, failing connections ------------------------------------------------------

    def cluster(self, *names: str, seed: int | None = None) -> Cluster:
        """Run several named nodes on this test's clock: this test's runtime becomes `names[0]`.

        Each node has its own PubSub and sockets; a broadcast on any node reaches every node
        through `cluster.network` (at most once), and every wait runs all nodes. Pass
        `node="name"` to `socket`, `connect`, `subscribe` and `client` to choose one.

        Args:
            names: the nodes to start, in order; more can start later with `cluster.start(name)`.
            seed: seeds the network's randomness; a random one by default, shown when the test fails.
        """
        self._check()
        self._enter_loop()
        return _nodes.start_cluster(self._core, names, seed, TEST_SECRET)

    def _enter_loop(self) -> None:
        """Bind to the test's virtual event loop now, if the harness owns it (the sync harness does)."""

    def client(
        self,
        handler: type[SocketHandler],
        params: Mapping[str, Any] | None = None,
        *,
        node: str | None = None,
        connect_info: Mapping[str, Any] | None = None,
    ) -> Client:
        """A simulated official Phoenix JavaScript client for `handler`; call `connect()` on it.

        It rejoins and reconnects with phoenix.js's backoff on the virtual clock, so a test can
        assert what a real client would see. A crash of one of its channels fails the test
        unless claimed with `assert_exit`, as for the test's own channels.
        """
        self._check()
        if not (isinstance(handler, type) and issubclass(handler, SocketHandler)):
            raise TypeError(f"client needs a SocketHandler subclass (got {handler!r})")
        _nodes.require_own_clock(self._core, "channels.client()")
        _nodes.runtime_for(self._core, node, "client")  # an unknown node fails here, not at the first connect
        client = Client(
            self._core, handler, params, node=node, connect_info=connect_info, number=len(self._clients) + 1
        )
        self._clients.append(client)
        group = getattr(self._core.runtime, "group", None)
        assert group is not None
        group.add_stepper(client)
        return client

    def crash(self, socket: Socket, reason: Reason = "killed") -> Exit:
        """Kill the channel behind `socket` now, without `terminate` (Elixir's `Process.exit(pid, :kill)`).

        Its in-memory state is gone. The exit is claimed (the test did it on purpose) and
        returned; a simulated client sees `phx_error` and rejoins with backoff.
        """
        self._check()
        return _faults.crash(self._core, socket, reason)

    def push(self, socket: Socket, event: str, payload: Any = None) -> str:
        """Send `event` to the channel behind `socket`, as the client would; returns the ref.

        The channel handles it the next time the test waits (any `assert_*`, `refute_*`,
        `settle`, `advance`, `get_state`). The payload is normalized as the wire would
        (string keys, a fresh copy). A channel that has exited ignores it.
        """
        __tracebackhide__ = True
        self._check()
        return self._core.push(socket, event, payload)

    def cast(self, socket: Socket, message: Any) -> None:
        """Send `message` to the channel's `handle_cast` (GenServer.cast); it runs at the next wait.

        A cast to a channel that has exited is dropped, as in OTP; on a stopped node it raises
        `NodeStopped`.
        """
        self._check()
        _calling.cast(self._core, socket, message)

    def broadcast_from(self, socket: Socket, event: str, payload: Any = None) -> BroadcastError | None:
        """Broadcast on the socket's topic from the test: every subscriber but the test gets it.

        Events the channel does not intercept reach the test's mailbox as a `Push` at once
        (Phoenix's fastlane); intercepted ones go through the channel's `handle_out`.
        Returns a BroadcastError when the broadcast could not reach other nodes.
        """
        __tracebackhide__ = True
        self._check()
        return self._core.broadcast_from(socket, event, payload)

    def broadcast_from_or_raise(self, socket: Socket, event: str, payload: Any = None) -> None:
        """`broadcast_from`, raising the BroadcastError instead of returning it (`broadcast_from!`)."""
        failure = self.broadcast_from(socket, event, payload)
        if failure is not None:
            raise failure

    def presence_list(self, presence: type[Presence], topic: str, *, node: str | None = None) -> Presences:
        """What `presence.list(topic)` returns on `node` (the test's runtime by default) now.

        Nothing runs: `settle` or `advance` first, or wait with `assert_presence`.
        """
        self._check()
        return _presence.presence_list(self._core, presence, topic, node)
