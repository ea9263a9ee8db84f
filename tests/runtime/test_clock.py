from __future__ import annotations

import datetime as dt
import functools
import math

import anyio
import pytest

from pytest_channels import Runtime, VirtualClock
from pytest_channels._runtime._clock import SystemClock


def test_timers_due_at_the_same_instant_fire_in_the_order_they_were_set() -> None:
    clock = VirtualClock()
    fired: list[int] = []
    for n in range(20):
        clock.call_at(1_000_000_000, functools.partial(fired.append, n))
    clock.call_at(500_000_000, lambda: fired.append(-1))
    clock.advance(1)
    assert fired == [-1, *range(20)]


def test_a_cancelled_timer_never_fires_and_cancel_says_whether_it_was_pending() -> None:
    clock = VirtualClock()
    fired: list[str] = []
    timer = clock.call_at(10, lambda: fired.append("x"))
    assert timer.cancel() is True
    assert timer.cancel() is False
    clock.advance(1)
    assert fired == []
    assert clock.next_deadline_ns() is None


def test_a_timer_set_in_the_past_fires_at_the_current_instant() -> None:
    clock = VirtualClock()
    clock.advance(2)
    timer = clock.call_at(0, lambda: None)
    assert timer.deadline_ns == 2_000_000_000


def test_fire_next_jumps_only_to_timers_within_the_limit() -> None:
    clock = VirtualClock()
    timer = clock.call_at(3_000_000_000, lambda: None)
    assert clock.fire_next(2_000_000_000) is None
    assert clock.now() == 0
    assert clock.fire_next(3_000_000_000) is timer
    assert clock.now() == 3


def test_time_cannot_go_backwards() -> None:
    clock = VirtualClock()
    clock.advance(1)
    with pytest.raises(ValueError, match=r"^time can't go backwards: now is 1.000s, asked for 0.500s$"):
        clock.move_to_ns(500_000_000)


def test_moving_past_a_pending_timer_without_firing_it_is_refused() -> None:
    clock = VirtualClock()
    clock.call_at(1_000_000_000, lambda: None)
    with pytest.raises(ValueError, match=r"^a timer is due at 1.000s: fire it before moving past it$"):
        clock.move_to_ns(2_000_000_000)


@pytest.mark.parametrize("bad", [-1, math.nan, math.inf])
def test_a_negative_or_non_finite_duration_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=r"^duration must be a finite number of seconds >= 0"):
        VirtualClock().advance(bad)


def test_a_duration_must_be_a_number() -> None:
    with pytest.raises(TypeError, match=r"^duration must be a number of seconds \(got '1'\)$"):
        VirtualClock().advance("1")  # type: ignore[arg-type]


def test_wall_time_is_wall_start_plus_virtual_time_and_is_reported_on_every_move() -> None:
    start = dt.datetime(2030, 5, 1, tzinfo=dt.UTC)
    seen: list[dt.datetime] = []
    clock = VirtualClock(start, on_move=seen.append)
    clock.advance(90)
    assert clock.wall() == start + dt.timedelta(seconds=90)
    assert seen == [start + dt.timedelta(seconds=90)]


def test_a_naive_wall_start_is_refused() -> None:
    with pytest.raises(ValueError, match="wall_start must be timezone-aware"):
        VirtualClock(dt.datetime(2030, 1, 1))


def test_the_clock_describes_itself() -> None:
    clock = VirtualClock()
    timer = clock.call_at(1_500_000_000, lambda: None, "flush")
    assert repr(clock) == "<VirtualClock now=0.000s timers=1>"
    assert repr(timer) == "<Timer at 1.500s flush (pending)>"


def test_the_system_clock_fires_due_timers_while_a_runtime_serves() -> None:
    async def main() -> list[str]:
        runtime = Runtime(clock=SystemClock())
        fired: list[str] = []
        done = anyio.Event()

        def fire(what: str) -> None:
            fired.append(what)
            done.set()

        runtime.clock.call_at(runtime.clock.now_ns(), lambda: fire("due before"))
        async with runtime.serving():
            await done.wait()
            done = anyio.Event()
            # Set while the runner sleeps with no timer at all: it is woken to fire this one.
            runtime.clock.call_at(runtime.clock.now_ns(), lambda: fire("set while serving"))
            await done.wait()
        return fired

    assert anyio.run(main) == ["due before", "set while serving"]
