"""Failures a test causes on purpose, and the wait for their consequences.

`crash` kills a channel from outside, as `Process.exit(pid, :kill)` does in Elixir;
`wait_until` runs every node, client and timer in virtual time until a condition of the
test's own holds (a simulated client rejoined, a node caught up).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._runtime._clock import Seconds
from .._runtime._messages import Exit, Reason
from .._runtime._socket import Socket
from ._format import still_false
from ._group import GroupRuntime

if TYPE_CHECKING:
    from ._core import Core


def crash(core: Core, socket: Socket, reason: Reason) -> Exit:
    """Kill the channel behind `socket` now, without `terminate`, and claim its exit.

    The channel's in-memory state, timers and subscriptions are gone; a simulated client
    sees `phx_error` and rejoins. Crashing a channel that already exited returns that exit.
    """
    __tracebackhide__ = True
    socket = core._own(socket, "crash")
    process = socket.channel_pid
    if process is None:
        raise ValueError(f"crash needs a joined socket, from join or subscribe_and_join (got {socket!r})")
    runtime = core._runtime_of(socket)
    if isinstance(runtime, GroupRuntime):
        runtime.check_running("crash")
    if not process.alive:
        assert process.exit is not None, f"{process.name} on {process.socket.topic!r} is still joining"
        return process.exit
    exit = process.kill(reason)
    assert exit is not None
    core.mailbox.take_exit(lambda e: e is exit)  # on purpose: this crash is no failure of the test
    return exit


async def wait_until(core: Core, condition: Callable[[], object], timeout: Seconds | None) -> None:
    """Settle, check `condition()`, fire the next timer, repeat, until it is true or the timeout passes.

    Raises:
        AssertionError: the condition was still false at the deadline (the clock is left there).
    """
    __tracebackhide__ = True
    if not callable(condition):
        raise TypeError(
            f"wait_until needs a function to call, such as lambda: room.state == 'joined' (got {condition!r})"
        )

    def explain(start_ns: int, end_ns: int) -> str:
        return still_false(_describe(condition), start_ns, end_ns, core.clock.pending_timers())

    # A crash explains a condition that never came true better than a timeout: wait_for says it first.
    await core.wait_for(timeout, lambda: True if condition() else None, explain)


def _describe(condition: Callable[[], object]) -> str:
    name = getattr(condition, "__qualname__", None)
    if isinstance(name, str) and "<lambda>" not in name:
        return name
    try:
        line = inspect.getsource(condition).strip()
    except (OSError, TypeError):
        return repr(condition)
    start = line.find("lambda")
    if start < 0:
        return line
    shown = line[start:]
    end = shown.find(", timeout=")
    return (shown if end < 0 else shown[:end]).rstrip(",) ")
