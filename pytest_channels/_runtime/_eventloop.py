"""What the runtime needs to know of the event loop it runs on, and nothing of which test set it up.

The runtime runs under asyncio or trio through anyio, on a real clock or on a test's virtual
one. A test's clock jumps as soon as every task waits, which would let any timeout around
real network I/O (the Redis adapter's) expire before the reply could arrive. `real_io` asks
the loop to wait for real I/O first; a loop says it can through the `RealIOHold` protocol
(the harness's `VirtualTimeLoop` does), trio's `MockClock` through its autojump threshold.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import weakref
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

LIBRARIES = ("asyncio", "anyio", "trio", "outcome", "pytest_channels")
"""Modules whose frames are never the user's line (outcome: trio re-raises through it)."""


@runtime_checkable
class RealIOHold(Protocol):
    """An event loop whose clock jumps when every task waits, and can wait for real I/O first."""

    def hold_for_real_io(self, seconds: float) -> contextlib.AbstractContextManager[None]:
        """While open, wait up to `seconds` of real quiet for I/O before jumping virtual time."""
        ...


def running_trio() -> bool:
    """Whether this code runs in a trio task (trio is optional: never imported here)."""
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


def real_io(seconds: float) -> contextlib.AbstractContextManager[None]:
    """While the block waits for real I/O, let virtual time jump only after `seconds` of real quiet.

    A clock that jumps to the next timer as soon as every task waits would let a reply on its
    way from a real server lose to any timeout, even one of seconds. Inside this block such a
    loop first waits up to `seconds` of real time for I/O, so a timeout of `seconds` around
    the I/O takes at least that much real time: a silent server fails it, an answering one
    never loses to it. On a loop with a real clock it changes nothing.
    """
    if seconds <= 0:
        return contextlib.nullcontext()
    if running_trio():
        return _trio_real_io(seconds)
    loop = asyncio.get_running_loop()
    return loop.hold_for_real_io(seconds) if isinstance(loop, RealIOHold) else contextlib.nullcontext()


_trio_holds: weakref.WeakKeyDictionary[Any, list[float]] = weakref.WeakKeyDictionary()
"""For each trio `MockClock` inside a `real_io` block: its own autojump threshold, then each open block's seconds."""


@contextlib.contextmanager
def _trio_real_io(seconds: float) -> Iterator[None]:
    """`real_io` on trio: raise the `MockClock`'s autojump threshold while the block is open."""
    import trio.lowlevel
    import trio.testing

    clock = trio.lowlevel.current_clock()
    if not isinstance(clock, trio.testing.MockClock):
        yield
        return
    holds = _trio_holds.setdefault(clock, [clock.autojump_threshold])
    holds.append(seconds)
    clock.autojump_threshold = max(holds)
    try:
        yield
    finally:
        del holds[holds.index(seconds, 1)]  # after the first: that one is the clock's own threshold
        clock.autojump_threshold = max(holds)
        if len(holds) == 1:
            del _trio_holds[clock]
