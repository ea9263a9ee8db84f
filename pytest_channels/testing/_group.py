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
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import anyio
import anyio.abc

from .._runtime._clock import LoopClock, VirtualClock, format_ns
from .._runtime._errors import NotIdle
from .._runtime._runtime import Runtime


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

    def add_stepper(self, stepper: Stepper) -> None:
        """A worker joins: from now on every member's wait settles it too."""
        self.steppers.append(stepper)
        self._peer()

    def _peer(self) -> None:
        # A runtime alone, as in most tests, has nobody to hand work to: it settles itself, and
        # its waits never call out here. Company makes the group every member's peers.
        alone = not self.steppers and len(self.runtimes) == 1
        for runtime in self.runtimes:
            runtime.peers = None if alone else self

    async def settle(self) -> None:
        """Run every runtime and worker until none has anything left to do at this instant.

        Raises:
            NotIdle: they kept handing each other work for `idle_timeout` real seconds (two
                channels on different nodes that answer each other's broadcasts forever).
        """
        started = time.monotonic()
        while True:
            self.raise_failure()
            worked = False
            for runtime in list(self.runtimes):
                # A stopped node's remaining work is finished by its stop (see Cluster.step), while it drains.
                if runtime.stopped is None and not runtime.idle:
                    await runtime.settle_own()
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
        self._peer()
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

    def wait_begins(self) -> None:
        """A wait starts: time the test spent between waits is not the nodes' (see `_check_busy`)."""
        self._busy = None

    def check(self) -> None:
        """Raise the stepper task's failure, if any (`Peers.check`)."""
        __tracebackhide__ = True
        if self.failure is not None:
            self.raise_failure()

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
            await Runtime.aclose(runtime, reason)  # the runtime's own, not the group's (GroupRuntime.aclose)
        self.clock.cancel_all()


class GroupRuntime(Runtime):
    """A runtime in a `Group`: once it has company, its waits (all built on `settle`) settle the group.

    A stopped node's runtime refuses to be used (see `Runtime.check_running` and `Cluster.stop`).

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
        for start in list(group._on_join):
            start(self)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[Runtime]:
        """Serve this runtime, and every other runtime of its group in the group's task group."""
        async with super().serving(), self.group.serving(self):
            yield self

    async def aclose(self, reason: str = "shutdown") -> None:
        await self.group.aclose(reason)
