"""How a serving runtime runs its ready channels: in one task, and in a task of their own only to wait.

A channel's drain (its mailbox, one message at a time) is a coroutine. Serving, the runtime's
runner takes each ready channel off the runtime's one ready queue and runs its drain right in
the runner's task, by sending into the coroutine. Plain callbacks never wait, so nearly every
drain returns from that first send: no task is made, scheduled or torn down per message.

A drain that must wait (an `async def` callback, a terminate that awaits) reaches `HANDOFF`
before it awaits anything of the channel's. The runner then gives the coroutine, paused just
there, to a task of its own, which resumes it at once. Nothing of the channel ran yet at that
point, no cancel scope or timeout was entered, so the task carries it on exactly as if it had
run it from the start. A drain that has handled many messages in a row reaches `AGAIN` and
goes to the back of the queue, so one busy channel does not keep the others waiting.

The queue may hold other work too: whatever has a `drain()` and a `runtime` to say it is
stepped (the harness's cluster queues a packet's arrival, a node's stop and a simulated
client's due work this way, on the one queue its runtimes share). A settle outside serving
whose queue holds a channel with async callbacks runs it the same way, until it is idle.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.abc
import anyio.lowlevel

from ._eventloop import running_trio

if TYPE_CHECKING:
    from ._clock import Clock, _DrivenClock


class _Pause:
    """What a drain yields to the runner: awaited only while the runner steps it (see the module)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"

    def __await__(self) -> Generator[Any, Any, None]:
        yield self


HANDOFF = _Pause("handoff")
"""Awaited by a drain the runner steps, just before it awaits something: move me to a task."""

AGAIN = _Pause("again")
"""Awaited by a drain the runner steps after many messages in a row: requeue me behind the others."""

_STEPS_PER_CHECKPOINT = 64
"""Drains the runner steps before it lets the event loop run its I/O and other tasks."""


Wake = anyio.Event | asyncio.Event
"""An event the runner waits on: anyio's, or the running asyncio loop's own."""


class Waking(Protocol):
    """Who holds the runner's wake-up while its queue is empty: the runtime, or the group sharing its queue.

    (Not the queue: a plain deque's methods cost a third less than a subclass's, on every message.)
    """

    _wake: Wake | None


class Guard(Protocol):
    """Whose channels the runner steps on a virtual clock, where busy work at one instant stops time."""

    @property
    def clock(self) -> Clock: ...

    idle_timeout: float

    def stall(self, entry: Any) -> Awaitable[None]:
        """Keep the NotIdle for `entry`'s work for the next wait to raise; done once it has."""
        ...


class Stepping(Protocol):
    """The runtime whose runner steps drains: it says which one it is stepping now."""

    _stepping: object | None
    """The process whose drain the runner is sending into, or None. Only that drain awaits
    HANDOFF before it waits, and AGAIN when busy (a process keeps no flag of its own: every
    attribute more costs each of a hundred thousand channels a bigger instance dict)."""


class Steppable(Protocol):
    """What the runner runs: a channel process (or a presence server) with a drain."""

    runtime: Stepping
    name: str
    scheduled: bool
    mailbox: deque[Any]

    def drain(self, deadline: float | None = None) -> Coroutine[Any, Any, None]: ...


class Resumption:
    """A drain paused at AGAIN, waiting in the ready queue for its turn to go on."""

    __slots__ = ("coroutine", "process")

    def __init__(self, process: Steppable, coroutine: Coroutine[Any, Any, None]) -> None:
        self.process, self.coroutine = process, coroutine


def step(entry: Any, ready: deque[Any], tg: anyio.abc.TaskGroup, finished: Callable[[], None] | None = None) -> Any:
    """Run one ready entry (a process, or a paused drain) until its drain returns or must wait.

    Returns AGAIN when the drain paused, busy (then the event loop's other work is due too),
    HANDOFF when it went on in a task of its own (which calls `finished` at its end), else None.
    """
    if type(entry) is Resumption:
        process, coroutine = entry.process, entry.coroutine
    else:
        process, coroutine = entry, entry.drain()
    runtime = process.runtime
    runtime._stepping = process
    try:
        yielded = coroutine.send(None)
    except StopIteration:
        return None
    finally:
        runtime._stepping = None
    if yielded is AGAIN:
        ready.append(Resumption(process, coroutine))
        return AGAIN
    # HANDOFF, or (from a drain that does not know the runner) whatever it waits on.
    tg.start_soon(_carry_on, coroutine, yielded, finished, name=process.name)
    return HANDOFF


async def _carry_on(coroutine: Coroutine[Any, Any, None], yielded: Any, finished: Callable[[], None] | None) -> None:
    try:
        await Resume(coroutine, yielded)
    finally:
        if finished is not None:
            finished()


_STARTED = object()


class Resume:
    """Goes on with a coroutine that already yielded `yielded`, in the task that awaits this.

    What the coroutine yields passes through to the event loop, and what the loop sends or
    throws back passes through to it, exactly as `await coroutine` would had it started in this
    task. `cr_frame` and `cr_await` are the coroutine's, so that whoever follows a task's awaits
    (the virtual loop naming a deadlock's blocked line) follows them into the channel's code.
    """

    __slots__ = ("_coroutine", "_first")

    def __init__(self, coroutine: Coroutine[Any, Any, None] | Generator[Any, Any, None], yielded: Any) -> None:
        # A coroutine's `__await__` goes on the same way (the server's send that had to wait).
        self._coroutine, self._first = coroutine, yielded

    def __await__(self) -> Resume:
        return self

    def __iter__(self) -> Resume:
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        first, self._first = self._first, _STARTED
        yielded = self._coroutine.send(value) if first is _STARTED else first
        while isinstance(yielded, _Pause):  # nothing to wait for: go on at once
            yielded = self._coroutine.send(None)
        return yielded

    def throw(self, kind: Any, value: Any = None, traceback: Any = None) -> Any:
        # The interpreter passes what it throws as three values; the coroutine takes the exception.
        error = value if value is not None else kind
        yielded = self._coroutine.throw(error() if isinstance(error, type) else error)
        while isinstance(yielded, _Pause):
            yielded = self._coroutine.send(None)
        return yielded

    def close(self) -> None:
        self._coroutine.close()

    @property
    def cr_frame(self) -> Any:
        return getattr(self._coroutine, "cr_frame", None)

    @property
    def cr_await(self) -> Any:
        return getattr(self._coroutine, "cr_await", None)


async def run(
    ready: deque[Any],
    waking: Waking,
    tg: anyio.abc.TaskGroup,
    timers: _DrivenClock | None = None,
    handed: list[Any] | None = None,
    guard: Guard | None = None,
) -> None:
    """Step ready entries as they come, and fire a driven clock's timers as they fall due (no task of their own).

    Serving, forever, sleeping until the next timer or the next work when nothing is ready. With
    `handed` (a settle), until nothing is ready and no drain handed to a task runs; each process
    handed to a task is added to it, for the settle's guard to name. Drains paused at AGAIN when
    it ends are closed there, and their channels queued again as fresh drains.

    With a `guard` (on a virtual clock), work that keeps the runner busy at one instant of the
    guard's clock for `idle_timeout` real seconds, never letting time move, is stalled: the
    runner awaits `guard.stall(entry)` (`entry` stepped last) before it steps more.
    """
    # The runner waits for work once per batch, often once per message: asyncio's own event
    # costs a fraction of anyio's, which asks sniffio for the library every time it is made.
    trio = running_trio()
    new_event: Callable[[], Wake] = anyio.Event if trio else asyncio.Event
    running = steps = 0
    since: tuple[int, float] | None = None  # the instant the runner has been busy at, and since when (real)

    def finished() -> None:  # a drain handed to a task ended: the settle may be over
        nonlocal running
        running -= 1
        wake = waking._wake
        if wake is not None:
            waking._wake = None
            wake.set()

    try:
        while True:
            while ready:
                steps += 1
                entry = ready.popleft()
                outcome = step(entry, ready, tg, None if handed is None else finished)
                if outcome is HANDOFF and handed is not None:
                    running += 1
                    handed.append(entry.process if type(entry) is Resumption else entry)
                # A busy channel yields to I/O and other tasks as often as it did with a task of its own.
                elif outcome is AGAIN or steps % _STEPS_PER_CHECKPOINT == 0:
                    if timers is not None:
                        timers.fire_due()  # a queue that never empties does not hold timers back
                    if guard is not None:
                        now = guard.clock.now_ns()
                        if since is None or since[0] != now:
                            since = (now, time.monotonic())
                        elif time.monotonic() - since[1] > guard.idle_timeout:
                            since = None
                            await guard.stall(entry)
                    await anyio.lowlevel.checkpoint()
            if handed is not None and not running:
                return
            since = None  # idle: whatever comes next starts a new streak
            waking._wake = wake = new_event()
            delay = None if timers is None else timers.fire_due(wake)
            if ready:  # a timer queued work
                continue
            if delay is None:
                await wake.wait()
            elif trio:
                with anyio.move_on_after(delay):
                    await wake.wait()
            else:  # a timer handle costs a fraction of a cancel scope, and this runs once per batch
                handle = asyncio.get_running_loop().call_later(delay, wake.set)
                try:
                    await wake.wait()
                finally:
                    handle.cancel()
    finally:
        waking._wake = None
        for entry in [ready.popleft() for _ in range(len(ready))]:
            if type(entry) is Resumption:
                entry.coroutine.close()
                entry = entry.process
                if entry.scheduled or not entry.mailbox:
                    continue
                entry.scheduled = True
            ready.append(entry)
