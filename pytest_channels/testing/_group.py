"""Runtimes that share one virtual clock settle together: a cluster's nodes, its network, simulated clients.

A runtime alone settles by running its channels until idle. When several runtimes share a
clock, that is not enough: a timer fired for one node may leave work on another, and a
broadcast crossing the network is work for the receiving node. So every runtime of a group
settles the whole group, and `Runtime.run_until` (which settles, checks, then fires the next
timer) drives every node in the order of the one clock without knowing there are several.

On a virtual event loop (a `LoopClock`) the runtimes serve instead: channels run as tasks as
messages arrive, and the loop moves time whenever every task waits. The group then serves
every member in one task group, and one task of its own does what arrives for the workers
(network deliveries, node stops) as soon as it arrives, so a wait that only watches the loop
(`Runtime.run_until`) sees a remote node's answer on the same timeline.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

import anyio
import anyio.abc

from .._runtime._channel import Channel
from .._runtime._clock import LoopClock, VirtualClock, format_ns
from .._runtime._errors import BroadcastError, NodeStopped, NotIdle
from .._runtime._messages import Reason
from .._runtime._process import ChannelProcess, Transport
from .._runtime._pubsub import Dispatcher, Subscriber, publisher
from .._runtime._results import Error, Ok
from .._runtime._runtime import Runtime
from .._runtime._socket import Socket, SocketHandler


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

    def __init__(self, clock: VirtualClock | LoopClock, idle_timeout: float) -> None:
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.runtimes: list[GroupRuntime] = []
        self.steppers: list[Stepper] = []
        self._tg: anyio.abc.TaskGroup | None = None  # while serving on a loop clock
        self._stepping: anyio.Lock | None = None  # the stepper task and settle() never step at once
        self._woken: anyio.Event | None = None
        self._unpicked: list[GroupRuntime] = []  # joined from outside the loop: picked up by the stepper task
        self._busy: tuple[int, float] | None = None  # the instant the steppers kept working at, and since when
        self.failure: BaseException | None = None
        """Why the stepper task stopped (the nodes never went idle); the next wait raises it."""
        self._on_join: list[Callable[[Runtime], None]] = []
        """Called with every runtime that joins later: what every node runs, as a Presence does."""

    def on_loop_clock(self, clock: LoopClock) -> None:
        """Adopt a virtual event loop's clock, before any node or worker uses the group's clock."""
        if self.steppers or len(self.runtimes) > 1:
            raise RuntimeError("the group's clock can only change before it has nodes or workers")
        self.clock = clock
        for runtime in self.runtimes:
            runtime.clock = clock

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
            self.raise_failure()
            worked = False
            for runtime in list(self.runtimes):
                # A stopped node's remaining work is finished by its stop (see Cluster.step), while it drains.
                if runtime.stopped is None and not runtime.idle:
                    await Runtime.settle(runtime)
                    # Still busy after settling means stuck after a NotIdle (its failure is reported),
                    # which must not count as progress or this loop would never end.
                    worked = worked or runtime.idle
            worked = await self._step() or worked
            if not worked:
                return
            if time.monotonic() - started > self.idle_timeout:
                self.failure = self._busy = None  # the stepper task's own guard would say the same again
                raise self._not_idle()

    async def _step(self) -> bool:
        if self._stepping is None:
            return await self._step_all()
        async with self._stepping:
            return await self._step_all()

    async def _step_all(self) -> bool:
        worked = False
        for stepper in list(self.steppers):
            worked = await stepper.step() or worked
        return worked

    # -- on a virtual event loop -------------------------------------------------------------------

    @asynccontextmanager
    async def serving(self, first: GroupRuntime) -> AsyncIterator[None]:
        """Serve every member but `first` (which serves itself) until the block exits; see the module."""
        async with anyio.create_task_group() as tg:
            self._tg, self._stepping, self.failure = tg, anyio.Lock(), None
            for runtime in self.runtimes:
                if runtime is not first:
                    self._serve(runtime)
            tg.start_soon(self._step_when_woken, tg)
            try:
                yield
            finally:
                self._tg = self._stepping = self._woken = None
                self._unpicked.clear()
                for runtime in self.runtimes:
                    if runtime is not first:
                        runtime.stop_serving()
                tg.cancel_scope.cancel()

    def when_joined(self, callback: Callable[[Runtime], None]) -> None:
        """Call `callback` with every runtime that joins the group from now on (see `Nodes`)."""
        self._on_join.append(callback)

    def joined(self, runtime: GroupRuntime) -> None:
        """A runtime joined: while the group serves, it serves at once too."""
        self.runtimes.append(runtime)
        if self._tg is not None:
            self._serve(runtime)

    def _serve(self, runtime: GroupRuntime) -> None:
        assert self._tg is not None
        runtime.serve_in(self._tg)
        # A sync test makes nodes between its waits, outside the loop, where no task can start:
        # the stepper task starts its runner then, which runs what was queued meanwhile.
        self._unpicked.append(runtime)
        self.wake()

    def wake(self) -> None:
        """Something arrived for the workers (a packet, a node to stop): the stepper task does it."""
        if self._woken is not None:
            self._woken.set()

    async def _step_when_woken(self, tg: anyio.abc.TaskGroup) -> None:
        while True:
            # Kept locally: the serving block may end (and clear `_woken`) while this task steps.
            woken = self._woken = anyio.Event()
            while self._unpicked:
                tg.start_soon(self._unpicked.pop(0)._run_ready, tg)
            # After a failure it hands no work around, so the loop goes idle and the wait can raise it.
            if self.failure is None and await self._step():
                self._check_busy()
                for runtime in self.runtimes:
                    runtime.notify()  # a wait's condition may hold now, or the failure is to be raised
            await woken.wait()

    def _check_busy(self) -> None:
        now = self.clock.now_ns()
        if self._busy is None or self._busy[0] != now:
            self._busy = (now, time.monotonic())
        elif time.monotonic() - self._busy[1] > self.idle_timeout:
            self.failure = self._not_idle()

    def reset_busy(self) -> None:
        """A wait starts: time the test spent between waits is not the nodes' (see `_check_busy`)."""
        self._busy = None

    def raise_failure(self) -> None:
        """Raise the stepper task's failure, once: the next wait runs the nodes again."""
        failure, self.failure = self.failure, None
        if failure is not None:
            self._busy = None
            self.wake()
            raise failure

    def _not_idle(self) -> NotIdle:
        return NotIdle(
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
        self.nodes = group
        group.joined(self)
        self.draining = False
        """True while a stopping node finishes its work: its channels may still broadcast."""
        for start in list(group._on_join):
            start(self)

    def settle(self) -> Coroutine[Any, Any, None]:
        return self.group.settle()  # the group's coroutine itself: one frame less on every wait

    def run_until(self, limit_ns: int, done: Callable[[], bool]) -> Coroutine[Any, Any, bool]:
        group = self.group
        if group._tg is None:
            return super().run_until(limit_ns, done)  # the coroutine itself, as for settle
        group.reset_busy()

        def done_or_failed() -> bool:
            __tracebackhide__ = True
            group.raise_failure()  # the stepper task's failure, which it cannot raise in the wait itself
            return done()

        return super().run_until(limit_ns, done_or_failed)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[Runtime]:
        """Serve this runtime, and every other runtime of its group in the group's task group."""
        async with super().serving(), self.group.serving(self):
            yield self

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

    async def call(self, socket: Socket, message: Any, *, timeout: float = 5.0) -> Any:
        self.check_running("call")
        return await super().call(socket, message, timeout=timeout)

    def cast(self, socket: Socket, message: Any) -> None:
        self.check_running("cast")
        super().cast(socket, message)

    def broadcast(
        self,
        topic: str,
        event: str,
        payload: Any = None,
        *,
        from_: Subscriber | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> BroadcastError | None:
        sender = publisher.get()
        # A stopped node's own channels still finish what was queued for them, broadcasts
        # included, however the loop orders that work before the stop's own step.
        if not (isinstance(sender, ChannelProcess) and sender.runtime is self):
            self.check_running("broadcast")
        return super().broadcast(topic, event, payload, from_=from_, dispatcher=dispatcher)

    def local_broadcast(
        self,
        topic: str,
        event: str,
        payload: Any = None,
        *,
        from_: Subscriber | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.check_running("local_broadcast")
        super().local_broadcast(topic, event, payload, from_=from_, dispatcher=dispatcher)

    def direct_broadcast(self, node: str, topic: str, event: str, payload: Any = None) -> BroadcastError | None:
        self.check_running("direct_broadcast")
        return super().direct_broadcast(node, topic, event, payload)
