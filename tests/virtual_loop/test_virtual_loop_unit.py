"""VirtualTimeLoop on its own: instant sleeps, FIFO timers, and the two guards."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from pytest_channels._runtime._clock import LoopClock
from pytest_channels.testing import Deadlock, VirtualTimeLimit, VirtualTimeLoop


@pytest.fixture
def loop() -> Iterator[VirtualTimeLoop]:
    loop = VirtualTimeLoop(idle_timeout=0.05, max_time=10_000)
    yield loop
    # A guard stops the loop mid-flight: cancel what it left, so that nothing leaks into the next test.
    leftovers = asyncio.all_tasks(loop)
    for task in leftovers:
        task.cancel()

    async def finish() -> None:
        await asyncio.gather(*leftovers, return_exceptions=True)

    loop.run_until_complete(finish())
    loop.close()


def test_sleeps_return_at_once_at_their_virtual_instant(loop: VirtualTimeLoop) -> None:
    async def main() -> float:
        await asyncio.sleep(3600)  # virtual time, not real-time: no real wait
        return loop.time()

    assert loop.run_until_complete(main()) == 3600.0


def test_timers_due_at_the_same_instant_fire_in_the_order_they_were_set(loop: VirtualTimeLoop) -> None:
    order: list[object] = []

    async def main() -> None:
        for n in range(20):
            loop.call_later(1.0, order.append, n)
        sleepers = [asyncio.sleep(1.0) for _ in range(3)]  # virtual time, not real-time: no real wait
        await asyncio.gather(*sleepers)
        order.append("after")

    loop.run_until_complete(main())
    assert order == [*range(20), "after"]


def test_wait_for_times_out_in_virtual_time(loop: VirtualTimeLoop) -> None:
    async def main() -> float:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), 30)
        return loop.time()

    assert loop.run_until_complete(main()) == 30.0


def test_thread_work_finishes_before_time_may_jump(loop: VirtualTimeLoop) -> None:
    release = threading.Event()

    def slow() -> str:
        release.wait(1)  # real-time: the worker thread is the real wait under test
        return "done"

    async def main() -> str:
        loop.call_soon(release.set)
        return await asyncio.wait_for(asyncio.to_thread(slow), timeout=5)

    assert loop.run_until_complete(main()) == "done"
    assert loop.time() == 0.0


def test_a_task_that_waits_for_nothing_is_a_deadlock_naming_it(loop: VirtualTimeLoop) -> None:
    async def stuck_forever() -> None:
        await asyncio.Event().wait()

    with pytest.raises(Deadlock) as info:
        loop.run_until_complete(stuck_forever())
    message = str(info.value)
    assert message.startswith(
        "nothing can wake up: every task waits, and no timer, I/O or thread work is pending "
        "(t=0.000s virtual, 0.05s of real time). Blocked:\n  - Task-"
    )
    assert "at stuck_forever (" in message


def test_periodic_timers_cannot_run_time_away_past_max_time(loop: VirtualTimeLoop) -> None:
    loop.max_time = 1000

    async def main() -> None:
        async def refresh() -> None:
            while True:
                await asyncio.sleep(300)  # virtual time, not real-time: no real wait

        task = asyncio.create_task(refresh())
        try:
            await asyncio.Event().wait()
        finally:
            task.cancel()

    with pytest.raises(VirtualTimeLimit) as info:
        loop.run_until_complete(main())
    assert str(info.value).startswith("the next timer is at t=1200.000s, past max_time=1000s")
    assert loop.time() == 900.0


def test_wait_idle_returns_before_time_moves(loop: VirtualTimeLoop) -> None:
    seen: list[float] = []

    async def main() -> None:
        loop.call_later(5, seen.append, -1.0)
        asyncio.get_running_loop().call_soon(seen.append, loop.time())
        await loop.wait_idle()
        seen.append(loop.time())

    loop.run_until_complete(main())
    assert seen == [0.0, 0.0]


def test_a_timeout_whose_float_deadline_falls_between_nanoseconds_still_expires(loop: VirtualTimeLoop) -> None:
    import anyio

    async def main() -> float:
        await asyncio.sleep(0.123456789)  # virtual time, not real-time: no real wait
        # time() + 0.2345678901 lies between two nanoseconds: jumping to the lower one would leave
        # anyio re-arming its timeout at the same instant forever.
        with anyio.move_on_after(0.2345678901):
            await asyncio.Event().wait()
        return loop.time()

    assert loop.run_until_complete(main()) == pytest.approx(0.3580246791, abs=1e-9)


def test_runtime_timers_share_the_loops_heap_so_timers_due_at_one_instant_fire_in_the_order_set(
    loop: VirtualTimeLoop,
) -> None:
    async def main() -> tuple[list[str], list[str]]:
        clock = LoopClock(loop.time, loop.wait_idle)
        order: list[str] = []
        clock.call_at(1_000_000_000, lambda: order.append("runtime 1"), "first")
        loop.call_later(1, order.append, "loop")
        dropped = clock.call_at(1_000_000_000, lambda: order.append("cancelled"), "cancelled")
        clock.call_at(1_000_000_000, lambda: order.append("runtime 2"), "second")
        dropped.cancel()
        pending = [t.description for t in clock.pending_timers()]
        await asyncio.sleep(2)  # not real-time: on the VirtualTimeLoop fixture
        return order, pending

    order, pending = loop.run_until_complete(main())
    assert order == ["runtime 1", "loop", "runtime 2"]
    assert pending == ["first", "second"]
