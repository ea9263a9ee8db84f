"""Which event loop a test runs on, and how to give it virtual time: asyncio or trio.

On asyncio, virtual time is a `VirtualTimeLoop`; on trio it is trio's own `MockClock` with
autojump (it jumps to the next deadline as soon as every task waits).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._runtime._eventloop import running_trio
from ._loop import VirtualTimeLoop, virtual_loop_factory

if TYPE_CHECKING:
    from ._settings import Settings

VirtualBackend = tuple[Callable[[], float], Callable[[], Awaitable[None]]]


def current_virtual_backend() -> VirtualBackend | None:
    """For the running loop, if its time is virtual: its time source and its wait-idle.

    Must be called inside the test's event loop. Returns None on a loop with a real clock.
    """
    if running_trio():
        import trio
        import trio.testing

        clock = trio.lowlevel.current_clock()
        if not isinstance(clock, trio.testing.MockClock) or clock.autojump_threshold != 0:
            return None
        return clock.current_time, trio.testing.wait_all_tasks_blocked
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualTimeLoop):
        return None
    return loop.time, loop.wait_idle


def describe_current_loop() -> str:
    if running_trio():
        import trio

        return f"trio with {trio.lowlevel.current_clock()!r}"
    return repr(asyncio.get_running_loop())


def configure_loop(settings: Settings) -> None:
    """Apply the test's guards to the running virtual loop (trio's guard is the test's deadline)."""
    if running_trio():
        return
    loop = asyncio.get_running_loop()
    if isinstance(loop, VirtualTimeLoop):
        loop.idle_timeout = settings.idle_timeout
        loop.max_time = loop.time() + settings.max_time
        loop.io_grace = settings.io_grace


def virtual_anyio_backend(name: str = "asyncio") -> tuple[str, dict[str, Any]]:
    """The value for anyio's `anyio_backend` fixture that runs a test in virtual time.

    Args:
        name: "asyncio" (a `VirtualTimeLoop`) or "trio" (a fresh `MockClock` that jumps to
            the next deadline as soon as every task waits).

    Example:
        >>> virtual_anyio_backend("asyncio")[0]
        'asyncio'
    """
    if name == "asyncio":
        return ("asyncio", {"loop_factory": virtual_loop_factory})
    if name == "trio":
        import trio.testing

        return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})
    raise ValueError(f"virtual_anyio_backend takes 'asyncio' or 'trio' (got {name!r})")
