"""Runtimes that share one virtual clock settle together: a cluster's nodes, its network, simulated clients.

A runtime alone settles by running its channels until idle. When several runtimes share a
clock, that is not enough: a timer fired for one node may leave work on another, and a
broadcast crossing the network is work for the receiving node. So every runtime of a group
settles the whole group, and `Runtime.run_until` (which settles, checks, then fires the next
timer) drives every node in the order of the one clock without knowing there are several.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

from ._channel import Channel
from ._clock import VirtualClock, format_ns
from ._errors import BroadcastError, NodeStopped, NotIdle
from ._messages import Reason
from ._process import ChannelProcess, Transport
from ._pubsub import Subscriber
from ._results import Error, Ok
from ._runtime import Runtime
from ._socket import Socket, SocketHandler


class Stepper(Protocol):
    """Work in a group that is not a channel: network deliveries, node stops, simulated clients."""

    async def step(self) -> bool:
        """Do what is due at the current instant; return whether anything was done."""
        ...


class Group:
    """The runtimes and other workers on one virtual clock.

    Args:
        clock: the clock every member reads.
        idle_timeout: real seconds the members may keep handing each other work at one
            instant before `settle` fails with `NotIdle`.
    """

    def __init__(self, clock: VirtualClock, idle_timeout: float) -> None:
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.runtimes: list[GroupRuntime] = []
        self.steppers: list[Stepper] = []
        self.on_join: list[Callable[[GroupRuntime], None]] = []
        """Called with every runtime that joins later: what every node runs, as a Presence does."""

    def __repr__(self) -> str:
        return f"<Group runtimes={len(self.runtimes)} steppers={len(self.steppers)} clock={self.clock!r}>"

    async def settle(self) -> None:
        """Run every runtime and worker until none has anything left to do at this instant.

        Raises:
            NotIdle: they kept handing each other work for `idle_timeout` real seconds (two
                channels on different nodes that answer each other's broadcasts forever).
        """
        if not self.steppers and len(self.runtimes) == 1 and self.runtimes[0].stopped is None:
            # A runtime alone, as in most tests, has nobody to hand work to: one settle is enough.
            # A stopped one falls through to the loop, which leaves it to its stop, as for any node.
            await Runtime.settle(self.runtimes[0])
            return
        started = time.monotonic()
        while True:
            worked = False
            for runtime in list(self.runtimes):
                # A stopped node's remaining work is finished by its stop (see Cluster.step), while it drains.
                if runtime.stopped is None and not runtime.idle:
                    await Runtime.settle(runtime)
                    # Still busy after settling means stuck after a NotIdle (its failure is reported),
                    # which must not count as progress or this loop would never end.
                    worked = worked or runtime.idle
            for stepper in list(self.steppers):
                worked = await stepper.step() or worked
            if not worked:
                return
            if time.monotonic() - started > self.idle_timeout:
                raise NotIdle(
                    f"the nodes kept handing each other work at t={format_ns(self.clock.now_ns())} for "
                    f"{self.idle_timeout}s of real time without becoming idle.\n"
                    "Channels that answer each other's broadcasts with no delay never stop: "
                    "give the network a delay, or stop the exchange."
                )

    async def aclose(self, reason: str = "shutdown") -> None:
        """Stop every channel of every runtime, then cancel every timer of the clock."""
        for runtime in list(self.runtimes):
            await Runtime.aclose(runtime, reason)
        self.clock.cancel_all()


class GroupRuntime(Runtime):
    """A runtime in a `Group`: settling it (and so every wait built on `settle`) settles the group.

    It also refuses to be used once its node has stopped (see `Cluster.stop`), with a message
    that says when and what to do instead.

    Args:
        group: the group to join; a new group of one when omitted.
        **kwargs: as for `Runtime`; `clock` must be the group's `VirtualClock`.
    """

    def __init__(self, *, group: Group | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if group is None:
            if not isinstance(self.clock, VirtualClock):
                raise TypeError(f"a group runtime needs a VirtualClock (got {self.clock!r})")
            group = Group(self.clock, self.idle_timeout)
        elif self.clock is not group.clock:
            raise ValueError("a group runtime must run on its group's clock")
        self.group = group
        group.runtimes.append(self)
        self.stopped: str | None = None
        """Why this runtime may no longer be used (its node stopped), or None."""
        self.draining = False
        """True while a stopping node finishes its work: its channels may still broadcast."""
        for start in list(group.on_join):
            start(self)

    def settle(self) -> Coroutine[Any, Any, None]:
        return self.group.settle()  # the group's coroutine itself: one frame less on every wait

    async def aclose(self, reason: str = "shutdown") -> None:
        await self.group.aclose(reason)

    def check_running(self, action: str) -> None:
        """Raise `NodeStopped` if this runtime's node has stopped (and is not finishing its work)."""
        if self.stopped is not None and not self.draining:
            raise NodeStopped(f"{action}: {self.stopped}")

    # Every way in from outside checks first: a stopped node is gone, and saying so beats a silent no-op.

    async def connect(
        self,
        handler: type[SocketHandler],
        params: Mapping[str, Any] | None = None,
        connect_info: Mapping[str, Any] | None = None,
    ) -> Ok | Error:
        self.check_running("connect")
        return await super().connect(handler, params, connect_info)

    def socket(
        self,
        handler: type[SocketHandler] | None = None,
        id: str | None = None,
        assigns: Mapping[str, Any] | None = None,
    ) -> Socket:
        self.check_running("socket")
        return super().socket(handler, id, assigns)

    def start_join(
        self,
        socket: Socket,
        topic: str,
        payload: Any,
        transport: Transport,
        *,
        channel: type[Channel] | None = None,
        join_ref: str | None = None,
    ) -> ChannelProcess | Error:
        self.check_running("join")
        return super().start_join(socket, topic, payload, transport, channel=channel, join_ref=join_ref)

    def push(self, socket: Socket, event: str, payload: Any, ref: str | None = None) -> str:
        self.check_running("push")
        return super().push(socket, event, payload, ref)

    def leave(self, socket: Socket, ref: str | None = None) -> str:
        self.check_running("leave")
        return super().leave(socket, ref)

    def close(self, socket: Socket, reason: Reason = ("shutdown", "closed"), *, timeout: float | None = None) -> None:
        self.check_running("close")
        super().close(socket, reason, timeout=timeout)

    def broadcast(
        self, topic: str, event: str, payload: Any = None, *, from_: Subscriber | None = None
    ) -> BroadcastError | None:
        self.check_running("broadcast")
        return super().broadcast(topic, event, payload, from_=from_)

    def local_broadcast(self, topic: str, event: str, payload: Any = None, *, from_: Subscriber | None = None) -> None:
        self.check_running("local_broadcast")
        super().local_broadcast(topic, event, payload, from_=from_)
