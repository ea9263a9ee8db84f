"""CPython asyncio's private loop internals, as pytest_channels/testing/_loop.py uses them.

The virtual loop keeps its timers on `BaseEventLoop._scheduled` (a heap of `TimerHandle`s
ordered by `_when`), marks each one `_scheduled`, and moves time from inside the selector's
`select`. asyncio documents none of it: each test here checks one assumption on a plain
`SelectorEventLoop`, so a Python release that changes one fails here by name rather than as
a loop that hangs or fires timers out of order. Delete this file when _loop.py stops using them.
"""

from __future__ import annotations

import asyncio
import heapq
import sys
from asyncio import events
from collections.abc import Iterator
from typing import Any

import pytest

PYTHON = sys.version.split()[0]


def _broken(what: str) -> str:
    return (
        f"Python {PYTHON}'s asyncio no longer {what}. pytest_channels/testing/_loop.py (VirtualTimeLoop) relies "
        "on it: adapt the loop to this release, or run virtual-loop tests on the releases this file passes on."
    )


@pytest.fixture
def loop() -> Iterator[Any]:
    plain = asyncio.SelectorEventLoop()
    try:
        yield plain  # Any: these attributes are missing from the stubs, which is the point
    finally:
        plain.close()


@pytest.mark.parametrize("name", ["_scheduled", "_selector", "_check_closed"])
def test_every_private_loop_attribute_the_virtual_loop_uses_is_there(loop: Any, name: str) -> None:
    assert hasattr(loop, name), _broken(f"gives a SelectorEventLoop the attribute {name}")


def test_call_later_puts_a_timer_handle_on_the_scheduled_heap_with_its_deadline_as_when(loop: Any) -> None:
    handle = loop.call_later(10, lambda: None)
    assert isinstance(loop._scheduled, list), _broken("keeps pending timers in the list BaseEventLoop._scheduled")
    assert loop._scheduled == [handle], _broken("puts call_later's TimerHandle on _scheduled")
    assert handle._when == handle.when(), _broken("stores a TimerHandle's deadline as _when")
    assert handle._scheduled is True, _broken("marks a TimerHandle on the heap as _scheduled")


def test_a_timer_handle_is_made_from_when_callback_args_loop_and_context(loop: Any) -> None:
    ran: list[int] = []
    handle = events.TimerHandle(loop.time(), ran.append, (1,), loop, None)
    handle._run()
    assert ran == [1], _broken("builds TimerHandle(when, callback, args, loop, context)")
    assert {"_when", "_scheduled"} <= set(events.TimerHandle.__slots__), _broken(
        "declares TimerHandle._when and _scheduled as slots (the virtual loop subclasses it with one more)"
    )


def test_the_loop_runs_a_handle_pushed_onto_scheduled_when_due_and_skips_a_cancelled_one(loop: Any) -> None:
    ran: list[str] = []
    now = loop.time()
    for name in ("kept", "cancelled"):
        handle: Any = events.TimerHandle(now, ran.append, (name,), loop, None)
        heapq.heappush(loop._scheduled, handle)
        handle._scheduled = True
    handle.cancel()
    loop.run_until_complete(asyncio.sleep(0))
    loop.run_until_complete(asyncio.sleep(0))
    assert ran == ["kept"], _broken("runs the due TimerHandles of _scheduled, in heap order, skipping cancelled ones")


def test_each_iteration_selects_through_the_selector_attribute_with_the_time_to_the_next_timer(loop: Any) -> None:
    timeouts: list[float | None] = []
    real = loop._selector.select

    def select(timeout: float | None = None) -> Any:
        timeouts.append(timeout)
        loop.stop()
        return real(0)

    loop._selector.select = select
    loop.call_later(3600, lambda: None)
    loop.run_forever()
    assert len(timeouts) == 1, _broken("calls self._selector.select(timeout) once an iteration, found on the instance")
    assert 3590 < (timeouts[0] or 0) <= 3600, _broken("passes select the time to the earliest timer of _scheduled")


def test_a_fresh_loop_has_only_its_self_pipe_registered_with_the_selector(loop: Any) -> None:
    # The virtual loop counts more than one registration as open sockets (io_grace).
    assert len(loop._selector.get_map()) == 1, _broken("registers only its self-pipe in _selector.get_map()")


def test_a_closed_loop_says_so_through_check_closed(loop: Any) -> None:
    loop._check_closed()
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop._check_closed()
