"""Runtimes that share one virtual clock settle together: a cluster's nodes, its network, simulated clients.

A group has one ready queue, which its runtimes use as their own: a channel with mail, a
packet that arrived, a node to stop and a simulated client's due work are each an entry on
it, in the order they became ready. Settling any member runs that queue until it is empty,
so a timer fired for one node, a broadcast crossing the network and the receiving node's
channels all run in one place, and `Runtime.run_until` (which settles, checks, then fires the
next timer) drives every node in the order of the one clock without knowing there are several.

On a virtual event loop (a `LoopClock`) the runtimes serve instead: the first runtime's
runner steps the one queue as work arrives, for every member, and the loop moves time
whenever every task waits, so a wait that only watches the loop (`Runtime.run_until`) sees
a remote node's answer on the same timeline.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from .._runtime._clock import LoopClock, VirtualClock, format_ns
from .._runtime._errors import NotIdle
from .._runtime._runner import HANDOFF, Resumption, Wake
from .._runtime._runtime import Runtime

if TYPE_CHECKING:
    from .._runtime._process import ChannelProcess


class _Job:
    """An entry of the group's queue that is no channel's: a packet's arrival, a node's stop, a client's work.

    It is run as a channel's drain is (`drain`, by the runner or by `Runtime.settle_own`), so
    the queue needs no second kind of consumer.
    """

    __slots__ = ("name", "run", "runtime")
    inline = True  # settle_own runs it in its own task: what it awaits, it awaits there
    doing = None  # nothing a NotIdle message could name

    def __init__(self, group: Group, run: Callable[[], Awaitable[None] | None], name: str) -> None:
        self.runtime, self.run, self.name = group, run, name

    async def drain(self, deadline: float | None = None) -> None:
        group = self.runtime
        try:
            done = self.run()
            if done is not None:
                if group._stepping is self:
                    await HANDOFF  # the runner's task must not wait for a node's stop
                await done
        finally:
            group._pending -= 1
            group._changed()


class Group:
    """The runtimes and other workers on one virtual clock, and their one ready queue.

    Args:
        clock: the clock every member reads.
        idle_timeout: real seconds the members may keep handing each other work at one
            instant before `settle` fails with `NotIdle`.
    """

    def __init__(self, clock: VirtualClock | LoopClock, idle_timeout: float) -> None:
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.runtimes: list[GroupRuntime] = []
        self.queue: deque[Any] = deque()
        """The one ready queue of every member (see the module)."""
        self._wake: Wake | None = None  # the runner's, while it waits for work (see _runner.Waking)
        self._stepping: object | None = None  # the job the runner is sending into (see _runner.Stepping)
        self._pending = 0  # jobs queued or running: a settle on the loop waits for them too
        self._idle: anyio.Event | None = None  # set when the last pending job is done
        self._resume: anyio.Event | None = None  # set when a stalled runner may go on
        self._tg: anyio.abc.TaskGroup | None = None  # while serving on a loop clock
        self.failure: BaseException | None = None
        """Why the runner stopped handing work around (the nodes never went idle); the next wait raises it."""
        self._on_join: list[Callable[[Runtime], None]] = []
        """Called with every runtime that joins later: what every node runs, as a Presence does."""

    def on_loop_clock(self, clock: LoopClock) -> None:
        """Adopt a virtual event loop's clock, before any node or worker uses the group's clock."""
        if self._pending or len(self.runtimes) > 1:
            raise RuntimeError("the group's clock can only change before it has nodes or workers")
        self.clock = clock
        for runtime in self.runtimes:
            runtime.clock = clock

    def __repr__(self) -> str:
        return f"<Group runtimes={len(self.runtimes)} queued={len(self.queue)} clock={self.clock!r}>"

    def submit(self, run: Callable[[], Awaitable[None] | None], name: str) -> None:
        """Queue `run` (called, and awaited if it returns an awaitable) behind what is ready now."""
        self._pending += 1
        self.queue.append(_Job(self, run, name))
        self._woken()

    def take(self, runtime: Runtime) -> list[Any]:
        """Take `runtime`'s entries off the queue, in order (its channels stay scheduled: mail waits in them)."""
        queue = self.queue
        entries = list(queue)
        taken = [e for e in entries if (e.process if type(e) is Resumption else e).runtime is runtime]
        if taken:
            queue.clear()
            queue.extend(e for e in entries if (e.process if type(e) is Resumption else e).runtime is not runtime)
        return taken

    def put_first(self, entries: list[Any]) -> None:
        """Queue `entries` (what `take` took) ahead of everything ready now."""
        if entries:
            self.queue.extendleft(reversed(entries))
            self._woken()

    def _woken(self) -> None:
        wake = self._wake
        if wake is not None:  # the runner waits for work
            self._wake = None
            wake.set()

    async def settle(self) -> None:
        """Run the group's queue until it is empty, and (serving) every node until it is idle.

        Raises:
            NotIdle: they kept handing each other work for `idle_timeout` real seconds (two
                channels on different nodes that answer each other's broadcasts forever).
        """
        if self._tg is None:
            if self.runtimes:  # a cluster with no node yet has nothing queued
                await self.runtimes[0].settle_own()  # the queue is every runtime's: any of them runs it
            return
        while True:  # serving: the runner runs the queue; wait until every node and job is done at once
            self.check()
            # A stopped node's remaining work is finished by its stop, while it drains.
            busy = next((r for r in self.runtimes if r.stopped is None and not r.idle), None)
            if busy is not None:
                await busy.settle_own()
            elif self._pending:
                self._idle = anyio.Event()
                await self._idle.wait()
            else:
                return

    # -- on a virtual event loop -------------------------------------------------------------------

    @asynccontextmanager
    async def serving(self, first: GroupRuntime) -> AsyncIterator[None]:
        """Serve every member but `first` (which serves itself, and runs the queue) until the block exits."""
        async with anyio.create_task_group() as tg:
            self._tg, self.failure = tg, None
            for runtime in self.runtimes:
                if runtime is not first:
                    runtime.serve_in(tg)
            try:
                yield
            finally:
                self._tg = None
                for runtime in self.runtimes:
                    if runtime is not first:
                        runtime.stop_serving()
                tg.cancel_scope.cancel()

    def when_joined(self, callback: Callable[[Runtime], None]) -> None:
        """Call `callback` with every runtime that joins the group from now on (see `Nodes`)."""
        self._on_join.append(callback)

    def joined(self, runtime: GroupRuntime) -> None:
        """A runtime joined: it shares the queue, and while the group serves, it serves at once too."""
        runtime._runq, runtime._waking = self.queue, self
        self.runtimes.append(runtime)
        # A runtime alone, as in most tests, settles itself and its waits never call out here.
        alone = len(self.runtimes) == 1
        for member in self.runtimes:
            member.peers = None if alone else self
        if self._tg is not None:
            runtime.serve_in(self._tg)

    def _changed(self) -> None:
        # A failure wakes a settle waiting for the jobs too: the stalled runner runs none of them.
        if self._idle is not None and (not self._pending or self.failure is not None):
            self._idle.set()
        if self._tg is not None:
            for runtime in self.runtimes:
                runtime.notify()  # a wait's condition may hold now, or the failure is to be raised

    def wait_begins(self) -> None:
        """Nothing to forget: serving, the runner's own guard times how long it stays busy (`_runner.run`)."""

    def check(self) -> None:
        """Raise the runner's failure, if any, once (`Peers.check`)."""
        __tracebackhide__ = True
        failure, self.failure = self.failure, None
        if failure is not None:
            if self._resume is not None:
                self._resume.set()  # a runner stalled at one instant goes on (see GroupRuntime.stall)
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
        self.queue.clear()
        self._pending = 0
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
        if group is None:  # the harness's own runtime, on its VirtualClock (the one caller with no group)
            assert isinstance(self.clock, VirtualClock)
            group = Group(self.clock, self.idle_timeout)
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

    def _keep_stalled(self, failure: NotIdle) -> Awaitable[None]:
        # The group's one runner is this runtime's, and whichever member's wait comes next raises it.
        group = self.group
        group.failure, group._resume = failure, anyio.Event()
        for runtime in group.runtimes:
            if runtime._idle is not None:
                runtime._idle.set()
        group._changed()
        return group._resume.wait()

    def raise_stalled(self) -> None:
        __tracebackhide__ = True
        self.group.check()

    def _busy_forever(self, process: ChannelProcess) -> NotIdle:
        # Channels of one node answering each other are named, as on a runtime alone. Once a job
        # (a packet, a client's frame) is in the exchange, it crosses nodes, or a client answers.
        if not any(isinstance(p, _Job) for p in (process, *self._runq)):
            return super()._busy_forever(process)
        channel = (
            process if not isinstance(process, _Job) else next((p for p in self._runq if not isinstance(p, _Job)), None)
        )
        if self.peers is None and channel is not None:  # a node alone with a simulated client
            return super()._busy_forever(channel)
        self.group.failure = None  # the runner's own guard would say the same again
        return self.group._not_idle()

    async def aclose(self, reason: str = "shutdown") -> None:
        await self.group.aclose(reason)
