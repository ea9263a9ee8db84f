"""An asyncio event loop whose clock is virtual: `asyncio.sleep(5)` returns at once, at t=5.

Time starts at 0 and moves only when nothing is runnable: the loop then jumps straight to
its earliest timer. Timers due at the same instant fire in the order they were set (asyncio
itself only compares deadlines). Two guards make a hang impossible: when nothing can ever
wake up (no timer, no I/O, no thread work) for `idle_timeout` real seconds it raises
`Deadlock`, naming the blocked tasks; when the next timer lies past `max_time` (periodic
timers running virtual time away) it raises `VirtualTimeLimit`.

It relies on four of CPython's `BaseEventLoop` internals, as looptime does (it is not a
uvloop), because asyncio has no public way to do either thing: to order timers that are due
at one instant (its heap compares deadlines only, so `call_at` puts our own handle on the
loop's heap, `_scheduled`, and marks it `_scheduled` as `call_at` would), and to move time
instead of sleeping when nothing is runnable (its selector's `select` is the one place where
the loop sleeps, reached through `_selector`; `_check_closed` is `call_at`'s own first step).
tests/virtual_loop/test_asyncio_internals_contract.py checks each of them by name, so a Python
release that changes one fails there rather than as a loop that hangs or misorders timers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import heapq
import itertools
import math
import selectors
from asyncio import events
from collections.abc import Callable, Iterator
from contextvars import Context
from types import FrameType
from typing import Any, TypeVar, TypeVarTuple, Unpack, cast

from .._runtime._clock import NS_PER_SECOND, format_ns
from .._runtime._errors import ChannelsError
from .._runtime._eventloop import LIBRARIES

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class Deadlock(ChannelsError):
    """Nothing could ever wake up: every task waits, and no timer, I/O or thread work is pending."""


class VirtualTimeLimit(ChannelsError):
    """Virtual time would pass the loop's `max_time`: a wait that is never satisfied while timers keep firing."""


class _FifoTimerHandle(events.TimerHandle):
    # heapq and heapify compare with < only: order by (deadline, creation). Every heap
    # operation calls this about log2(timers) times, so the key is one tuple compared in C.
    __slots__ = ("_key",)
    _key: tuple[float, int]

    def __lt__(self, other: _FifoTimerHandle) -> bool:  # type: ignore[override]
        return self._key < other._key


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop on virtual time. Use it through `virtual_loop_factory` or directly.

    Args:
        idle_timeout: real seconds to wait for I/O or thread work when nothing else can
            happen, before raising `Deadlock`.
        max_time: virtual seconds after which the loop refuses to jump (`VirtualTimeLimit`).
        io_grace: real seconds to wait for socket I/O before each jump, while sockets are
            open. 0 (the default) jumps at once: a reply from a real server that is on its
            way loses the race against a pending timeout. Raise it for tests that talk to
            real local servers, or run such tests in real time.

    Example:
        >>> import asyncio
        >>> loop = VirtualTimeLoop()
        >>> loop.run_until_complete(asyncio.sleep(3600))
        >>> loop.time()
        3600.0
        >>> loop.close()
    """

    def __init__(
        self,
        *,
        idle_timeout: float = 5.0,
        max_time: float = 86_400.0,
        io_grace: float = 0.0,
    ) -> None:
        super().__init__()
        self._now_ns = 0
        self._seq = itertools.count()
        self.idle_timeout = idle_timeout
        self.max_time = max_time
        self.io_grace = io_grace
        self._thread_work = 0
        self._real_io: list[float] = []  # the real quiet each `real_io` block asks for
        self._real_io_grace = 0.0  # the longest of them: read on every jump, so kept ready
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._internals: Any = cast(Any, self)  # CPython's BaseEventLoop attributes, missing from the stubs
        self._real_select = self._internals._selector.select
        self._internals._selector.select = self._virtual_select

    def time(self) -> float:
        return self._now_ns / NS_PER_SECOND

    def call_at(
        self,
        when: float,
        callback: Callable[[Unpack[Ts]], object],
        *args: *Ts,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        # call_later, asyncio.sleep, wait_for and asyncio.timeout all land here.
        self._internals._check_closed()
        timer = _FifoTimerHandle(when, callback, args, self, context)
        timer._key = (when, next(self._seq))
        heapq.heappush(self._internals._scheduled, timer)
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    @contextlib.contextmanager
    def hold_for_real_io(self, seconds: float) -> Iterator[None]:
        """While open, wait up to `seconds` of real quiet for I/O before jumping (see `real_io`)."""
        self._real_io.append(seconds)
        self._real_io_grace = max(self._real_io)
        try:
            yield
        finally:
            self._real_io.remove(seconds)
            self._real_io_grace = max(self._real_io, default=0.0)

    def run_in_executor(
        self, executor: concurrent.futures.Executor | None, func: Callable[[Unpack[Ts]], T], *args: *Ts
    ) -> asyncio.Future[T]:
        # Thread work (asyncio.to_thread, run_in_executor) is waited for in real time
        # before time may jump: a thread-pool call never loses a race to a virtual timeout.
        future = super().run_in_executor(executor, func, *args)
        self._thread_work += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _: asyncio.Future[Any] | concurrent.futures.Future[Any]) -> None:
        self._thread_work -= 1

    async def wait_idle(self) -> None:
        """Return once nothing is runnable at the current instant, before time moves."""
        waiter: asyncio.Future[None] = self.create_future()
        self._idle_waiters.append(waiter)
        await waiter

    def _virtual_select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        # Real I/O and call_soon_threadsafe wake-ups first.
        ready: list[tuple[selectors.SelectorKey, int]] = self._real_select(0)
        if ready or timeout == 0:
            return ready
        if self._idle_waiters:  # idle at this instant: tell the waiters instead of jumping
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            return []
        grace = self._real_io_grace
        if self._thread_work or grace or (self.io_grace and len(self._internals._selector.get_map()) > 1):
            ready = self._real_select(self.idle_timeout if self._thread_work else max(grace, self.io_grace))
            if ready or self._thread_work:
                if not ready:
                    raise Deadlock(
                        f"thread work did not finish within {self.idle_timeout}s of real time "
                        f"(at t={format_ns(self._now_ns)} virtual)"
                    )
                return ready
        # A timer at infinity (`anyio.sleep_forever()`, `asyncio.sleep(math.inf)`) never fires: no timer at all.
        if timeout is None or self._internals._scheduled[0].when() == math.inf:
            ready = self._real_select(self.idle_timeout)
            if not ready:
                raise Deadlock(self._describe_deadlock())
            return ready
        when = self._internals._scheduled[0].when()
        when_ns = round(when * NS_PER_SECOND)
        if when_ns / NS_PER_SECOND < when:
            # Never land a hair before the deadline: anyio re-arms a timeout whose deadline is still
            # ahead of time(), at the same instant, forever (a float deadline such as 0.1 + 0.2).
            when_ns += 1
        if when_ns > self.max_time * NS_PER_SECOND:
            raise VirtualTimeLimit(
                f"the next timer is at t={format_ns(when_ns)}, past max_time={self.max_time:g}s: a wait that is "
                "never satisfied while timers keep firing (a periodic refresh?). Raise max_time if the test "
                "really spans that long."
            )
        self._now_ns = max(self._now_ns, when_ns)
        return []

    def _describe_deadlock(self) -> str:
        blocked = []
        for task in asyncio.all_tasks(self):
            frame = _innermost_user_frame(task.get_coro())
            where = ""
            if frame is not None:
                where = f" at {frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})"
            blocked.append(f"  - {task.get_name()}{where}")
        listing = "\n".join(sorted(blocked)[:20]) or "  (no tasks)"
        return (
            f"nothing can wake up: every task waits, and no timer, I/O or thread work is pending "
            f"(t={format_ns(self._now_ns)} virtual, {self.idle_timeout}s of real time). Blocked:\n{listing}"
        )


def _innermost_user_frame(coroutine: Any) -> FrameType | None:
    """Follow what a task awaits down to the deepest frame outside the event loop libraries.

    That is the line a person wrote: the channel's `await`, not anyio's task wrapper.
    """
    found = None
    while coroutine is not None:
        frame = getattr(coroutine, "cr_frame", None) or getattr(coroutine, "gi_frame", None)
        if frame is None:
            break
        if found is None or not str(frame.f_globals.get("__name__", "")).startswith(LIBRARIES):
            found = frame
        coroutine = getattr(coroutine, "cr_await", None) or getattr(coroutine, "gi_yieldfrom", None)
    return found


def virtual_loop_factory() -> VirtualTimeLoop:
    """A fresh `VirtualTimeLoop`: pass it as pytest-asyncio's loop factory or anyio's `loop_factory`."""
    return VirtualTimeLoop()
