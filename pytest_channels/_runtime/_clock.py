"""The one notion of time the runtime reads: timers and "now".

Runtime time is an integer of nanoseconds that starts at 0, so it never suffers the float
rounding of epoch-scale loop times, and timers live in one heap ordered by
``(deadline, sequence)``: timers due at the same instant fire in the order they were set,
which neither asyncio nor trio guarantee.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

NS_PER_SECOND = 1_000_000_000

DEFAULT_WALL_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
"""Where a virtual clock's wall clock starts, unless told otherwise."""


Seconds = float | dt.timedelta
"""A duration: seconds as a number, or a `datetime.timedelta`."""


def to_ns(seconds: Seconds, *, name: str = "duration") -> int:
    """Convert seconds (or a `timedelta`) to whole nanoseconds, refusing negative and non-finite values.

    Example:
        >>> to_ns(1.5), to_ns(dt.timedelta(milliseconds=100))
        (1500000000, 100000000)
    """
    if not isinstance(seconds, dt.timedelta):
        kind = type(seconds)
        if (kind is float or kind is int) and 0 <= seconds < math.inf:  # the common case, first
            return round(seconds * NS_PER_SECOND)
    else:
        if seconds < dt.timedelta(0):
            raise ValueError(f"{name} must be a duration >= 0 (got {seconds!r})")
        whole = (seconds.days * 86_400 + seconds.seconds) * NS_PER_SECOND
        return whole + seconds.microseconds * 1_000  # exact: no float on the way
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds (got {seconds!r})")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0 (got {seconds!r})")
    return round(seconds * NS_PER_SECOND)


def check_seconds(value: float, *, name: str) -> float:
    """Check a duration in seconds as `to_ns` does, and return it as a float.

    Example:
        >>> check_seconds(2, name="timeout")
        2.0
    """
    to_ns(value, name=name)  # the one place that says what a duration may be
    return float(value)


def format_ns(ns: int) -> str:
    """Render a virtual instant for humans: ``1.050s``."""
    return f"{ns / NS_PER_SECOND:.3f}s"


class Timer:
    """A pending timer; `cancel()` it to stop it from firing.

    Attributes:
        deadline_ns: the runtime instant, in nanoseconds, at which it fires.
        description: what firing it does, for failure output.
    """

    __slots__ = ("_callback", "_handle", "_seq", "deadline_ns", "description")

    def __init__(self, deadline_ns: int, seq: int, callback: Callable[[], None], description: str) -> None:
        self.deadline_ns = deadline_ns
        self._seq = seq
        self._callback: Callable[[], None] | None = callback
        self.description = description
        self._handle: asyncio.TimerHandle | None = None  # on an event loop's own heap (see LoopClock)

    def __lt__(self, other: Timer) -> bool:
        return (self.deadline_ns, self._seq) < (other.deadline_ns, other._seq)

    @property
    def pending(self) -> bool:
        """Whether the timer will still fire."""
        return self._callback is not None

    def cancel(self) -> bool:
        """Stop the timer. Returns whether it was still pending."""
        was_pending = self._callback is not None
        self._callback = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        return was_pending

    def _fire(self) -> None:
        callback, self._callback = self._callback, None
        self._handle = None
        if callback is not None:
            callback()

    def __repr__(self) -> str:
        state = "pending" if self.pending else "done"
        return f"<Timer at {format_ns(self.deadline_ns)} {self.description} ({state})>"


class Clock(Protocol):
    """What the runtime needs from a clock. `SystemClock` and `VirtualClock` implement it."""

    def now_ns(self) -> int:
        """Monotonic runtime time in nanoseconds, starting near 0."""
        ...

    def wall(self) -> dt.datetime:
        """The wall-clock time (aware, UTC) that corresponds to `now_ns()`."""
        ...

    def call_at(self, deadline_ns: int, callback: Callable[[], None], description: str = "") -> Timer:
        """Run `callback` once the runtime reaches `deadline_ns`."""
        ...

    def pending_timers(self) -> list[Timer]:
        """Every pending timer, earliest first."""
        ...


class _TimerHeap:
    """A clock's own timers, ordered by (deadline, creation); cancelled ones are dropped lazily."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = itertools.count()
        self.tie_break: Callable[[], int] | None = None
        """A seam for the fault explorer: ranks timers due at one instant (a draw in [0, 2**16))
        ahead of their creation order, so a schedule can choose which is taken first."""

    def _push(self, deadline_ns: int, callback: Callable[[], None], description: str) -> Timer:
        seq = next(self._seq)
        if self.tie_break is not None:
            seq += self.tie_break() << 48
        timer = Timer(deadline_ns, seq, callback, description)
        heapq.heappush(self._heap, timer)
        return timer

    def next_deadline_ns(self) -> int | None:
        """The instant of the earliest pending timer, or None."""
        heap = self._heap
        while heap and not heap[0].pending:
            heapq.heappop(heap)
        return heap[0].deadline_ns if heap else None

    def pending_timers(self) -> list[Timer]:
        """Every pending timer, earliest first."""
        return sorted(t for t in self._heap if t.pending)

    def cancel_all(self) -> int:
        """Cancel every pending timer; returns how many were pending."""
        cancelled = sum(t.cancel() for t in self._heap)
        self._heap.clear()
        return cancelled

    def now_ns(self) -> int:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} now={format_ns(self.now_ns())} timers={len(self.pending_timers())}>"


class VirtualClock(_TimerHeap):
    """A clock that moves only when told to: the runtime's clock in tests.

    Time starts at 0 and advances by `advance`/`advance_to`, which fire every timer due on
    the way, in order. The test harness advances it for you inside `assert_*`, `refute_*`
    and `advance`, always after the runtime is idle.

    Args:
        wall_start: the wall-clock time that virtual instant 0 stands for.
        on_move: called with the new wall time whenever time moves (to keep another clock in step).

    Example:
        >>> clock = VirtualClock()
        >>> fired = []
        >>> _ = clock.call_at(2_000_000_000, lambda: fired.append("b"))
        >>> _ = clock.call_at(1_000_000_000, lambda: fired.append("a"))
        >>> clock.advance(1.5)
        >>> fired, clock.now()
        (['a'], 1.5)
    """

    def __init__(
        self,
        wall_start: dt.datetime = DEFAULT_WALL_START,
        on_move: Callable[[dt.datetime], None] | None = None,
    ) -> None:
        if wall_start.tzinfo is None:
            raise ValueError(f"wall_start must be timezone-aware (got {wall_start!r})")
        super().__init__()
        self.wall_start = wall_start
        self._now_ns = 0
        self._on_move = on_move

    def now_ns(self) -> int:
        return self._now_ns

    def now(self) -> float:
        """Virtual seconds since the clock started."""
        return self._now_ns / NS_PER_SECOND

    def wall(self) -> dt.datetime:
        return self.wall_start + dt.timedelta(microseconds=self._now_ns // 1000)

    def call_at(self, deadline_ns: int, callback: Callable[[], None], description: str = "") -> Timer:
        return self._push(max(deadline_ns, self._now_ns), callback, description)

    def fire_next(self, limit_ns: int) -> Timer | None:
        """Jump to the earliest timer due at or before `limit_ns`, fire it and return it.

        Returns None, without moving time, when no timer is due by then.
        """
        deadline = self.next_deadline_ns()
        if deadline is None or deadline > limit_ns:
            return None
        self._move(deadline)
        timer = heapq.heappop(self._heap)  # the one next_deadline_ns found: pending, and due now
        timer._fire()
        return timer

    def move_to_ns(self, instant_ns: int) -> None:
        """Move time forward to `instant_ns` without firing anything.

        Raises:
            ValueError: when the instant lies in the past, or a timer is due before it.
        """
        if instant_ns < self._now_ns:
            raise ValueError(
                f"time can't go backwards: now is {format_ns(self._now_ns)}, asked for {format_ns(instant_ns)}"
            )
        deadline = self.next_deadline_ns()
        if deadline is not None and deadline < instant_ns:
            raise ValueError(f"a timer is due at {format_ns(deadline)}: fire it before moving past it")
        self._move(instant_ns)

    def advance(self, seconds: float) -> None:
        """Fire every timer due within `seconds`, in order, then move to the end.

        This is the clock alone: the test harness's `advance` also runs the channels until
        idle after each timer, which is what tests want.
        """
        target = self._now_ns + to_ns(seconds)
        while self.fire_next(target) is not None:
            pass
        self._move(target)

    def _move(self, instant_ns: int) -> None:
        if instant_ns != self._now_ns:
            self._now_ns = instant_ns
            if self._on_move is not None:
                self._on_move(self.wall())


class _Wakeup(Protocol):
    def set(self) -> None: ...


class _DrivenClock(_TimerHeap):
    """Timers kept in our own heap, fired by the serving runtime's runner (`fire_due`).

    The runner has nothing else to wait on when its ready queue is empty, so it sleeps until
    the next deadline here, and `call_at` wakes it early for an earlier timer: no task of its own.
    """

    _wakeup: _Wakeup | None = None  # set by fire_due

    def call_at(self, deadline_ns: int, callback: Callable[[], None], description: str = "") -> Timer:
        current = self.next_deadline_ns()
        timer = self._push(deadline_ns, callback, description)
        if self._wakeup is not None and (current is None or deadline_ns < current):
            self._wakeup.set()
        return timer

    def fire_due(self, wakeup: _Wakeup | None = None) -> float | None:
        """Fire every timer due now; return the seconds until the next one (None: no timer).

        `wakeup`, if given, is set when a timer earlier than that is set, until the next call.
        """
        now = self.now_ns()
        while (deadline := self.next_deadline_ns()) is not None and deadline <= now:
            heapq.heappop(self._heap)._fire()
        self._wakeup = wakeup
        deadline = self.next_deadline_ns()
        return None if deadline is None else max(deadline - self.now_ns(), 0) / NS_PER_SECOND


class SystemClock(_DrivenClock):
    """The real clock, for running channels in production.

    Timers fire only while a runtime serves (`Runtime.serving()`): its runner sleeps until
    the earliest deadline when it has nothing else to do, and is woken early when an earlier
    timer is set.
    """

    def __init__(self) -> None:
        super().__init__()
        self._origin = time.monotonic_ns()

    def now_ns(self) -> int:
        return time.monotonic_ns() - self._origin

    def wall(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class LoopClock(_DrivenClock):
    """The event loop's own clock: virtual on a `VirtualTimeLoop` or under trio's `MockClock`.

    One timeline for everything: the runtime's timers, and the `asyncio.sleep`, `wait_for`
    and anyio timeouts in channel code, all read and wait on the loop's time. When the time
    source is an asyncio loop's own `time`, the runtime's timers go straight onto that loop's
    timer heap, beside channel code's sleeps: one heap (a `VirtualTimeLoop` fires timers due
    at one instant in the order they were set). Trio has no such heap to put a callback on:
    its only timers are the deadlines of cancel scopes, each belonging to a task. So under
    trio the timers stay in the clock's own heap, and the runtime's runner, which sleeps
    until the next of them whenever its queue is empty, fires them (`fire_due`); trio's
    `MockClock` jumps to that sleep's deadline as it does to any other.

    Args:
        time_source: the loop's time in seconds (`loop.time`, `MockClock.current_time`).
        wait_idle: returns once nothing is runnable at the current instant.
        wall_start: the wall-clock time of the instant the clock was created.
    """

    def __init__(
        self,
        time_source: Callable[[], float],
        wait_idle: Callable[[], Awaitable[None]],
        wall_start: dt.datetime = DEFAULT_WALL_START,
    ) -> None:
        super().__init__()
        self._source = time_source
        self._origin = time_source()
        self.wait_idle = wait_idle
        self.wall_start = wall_start
        owner = getattr(time_source, "__self__", None)
        self._loop = owner if isinstance(owner, asyncio.AbstractEventLoop) else None
        self._prune_at = 64

    def now_ns(self) -> int:
        return round((self._source() - self._origin) * NS_PER_SECOND)

    def call_at(self, deadline_ns: int, callback: Callable[[], None], description: str = "") -> Timer:
        loop = self._loop
        if loop is None:
            return super().call_at(deadline_ns, callback, description)
        timer = self._push(deadline_ns, callback, description)  # kept for listing and cancel_all: the loop fires it
        timer._handle = loop.call_at(self._origin + deadline_ns / NS_PER_SECOND, timer._fire)
        if len(self._heap) > self._prune_at:  # a timer the loop fired or cancelled leaves only here
            self._heap = [t for t in self._heap if t.pending]
            heapq.heapify(self._heap)
            self._prune_at = 2 * len(self._heap) + 64
        return timer

    def fire_due(self, wakeup: _Wakeup | None = None) -> float | None:
        return super().fire_due(wakeup) if self._loop is None else None  # the loop fires its own

    def wall(self) -> dt.datetime:
        return self.wall_start + dt.timedelta(microseconds=self.now_ns() // 1000)
