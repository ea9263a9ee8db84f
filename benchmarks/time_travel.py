"""Time: tests that span virtual seconds or hours, and channel code that sleeps by itself.

- The chapter's DedupeChannel drain test (Phoenix needs 1,050 ms of real sleep), against
  the same drain on the system clock in real time.
- A RecurringChannel hour (720 token pushes), against signing 720 tokens directly.
- 10,000 sequential 5 s sleeps inside one channel, and 10,000 timers spread over 1,000
  instants, on the VirtualTimeLoop, against looptime (when installed, as in the `bench`
  extra) and against a plain asyncio loop with real time scaled down 1,000,000 times.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from pytest_channels import Channel, InResult, JoinResult, Runtime, Socket, ok, reply
from pytest_channels.testing import ChannelCase, Settings, VirtualTimeLoop

from ._report import Row, best_of_each

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from hello_sockets.dedupe_channel import DedupeChannel

NO_FREEZE = Settings(freeze_time=False)


def _drain(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "dupe", channel=DedupeChannel)
    for number in (1, 1, 2):
        channels.broadcast_from(socket, "number", {"number": number})
    channels.advance(1.05)
    channels.assert_push("number", {"value": 1}, timeout=0)
    channels.refute_push("number", {"value": 1}, timeout=0)
    channels.assert_push("number", {"value": 2}, timeout=0)


def _drain_test() -> float:
    with ChannelCase(NO_FREEZE) as channels:
        start = time.perf_counter()
        _drain(channels)
        return time.perf_counter() - start


def _drain_test_with_fixture() -> float:
    start = time.perf_counter()
    with ChannelCase() as channels:  # freezegun on, as the fixture's default
        _drain(channels)
    return time.perf_counter() - start


def _drain_in_real_time(scale: float) -> float:
    """The same drain on a serving runtime and the system clock: what Phoenix's test does."""

    class Collect:
        def __init__(self) -> None:
            self.pushes: list[Any] = []

        def deliver(self, message: Any) -> None:
            self.pushes.append(message)

        def exited(self, exit: Any) -> None:
            pass

    async def main() -> float:
        runtime = Runtime()
        client = Collect()
        start = time.perf_counter()
        async with runtime.serving():
            socket = (await runtime.join(runtime.socket(), "dupe", {}, client, channel=DedupeChannel)).socket
            for number in (1, 1, 2):
                runtime.broadcast("dupe", "number", {"number": number})
            await anyio.sleep(1.05 * scale)  # real-time: this is the baseline being measured
            del socket
        assert len(client.pushes) == 2 or scale < 1
        return time.perf_counter() - start

    return asyncio.run(main())


def _hour() -> float:
    with ChannelCase(NO_FREEZE) as channels:
        token = channels.runtime.tokens.sign("salt identifier", 1)
        socket = channels.connect(_auth_socket(), {"token": token}).socket
        channels.subscribe_and_join_or_raise(socket, "recurring")
        start = time.perf_counter()
        channels.advance(3600)
        pushes = channels.flush()
        elapsed = time.perf_counter() - start
        assert len(pushes) == 720
        return elapsed


def _auth_socket() -> Any:
    from hello_sockets.sockets import AuthSocket

    return AuthSocket


def _sign_directly() -> float:
    runtime = Runtime()
    start = time.perf_counter()
    for _ in range(720):
        runtime.tokens.sign("salt identifier", 1)
    return time.perf_counter() - start


class Sleeper(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        for _ in range(payload["sleeps"]):
            await asyncio.sleep(5)
        return reply(socket, "ok", {})


def _sleeps_in_a_channel(count: int) -> float:
    with ChannelCase(Settings(freeze_time=False, virtual_loop=True, max_time=10 * count)) as channels:
        socket = channels.join(channels.socket(), "sleep", channel=Sleeper).socket
        start = time.perf_counter()
        ref = channels.push(socket, "sleep", {"sleeps": count})
        channels.assert_reply(ref, "ok", timeout=dt.timedelta(seconds=5 * count))
        return time.perf_counter() - start


async def _sequential_sleeps(count: int, seconds: float) -> None:
    for _ in range(count):
        await asyncio.sleep(seconds)


async def _spread_timers(count: int, instants: int, unit: float) -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    fired = 0

    def fire() -> None:
        nonlocal fired
        fired += 1
        if fired == count:
            done.set()

    for k in range(count):
        loop.call_later((k % instants + 1) * unit, fire)
    await done.wait()


def _on(loop_factory: Callable[[], asyncio.AbstractEventLoop], work: Callable[[], Any]) -> float:
    loop = loop_factory()
    try:
        start = time.perf_counter()
        loop.run_until_complete(work())
        return time.perf_counter() - start
    finally:
        loop.close()


def _looptime_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import looptime
    except ImportError:
        return None
    return lambda: looptime.new_event_loop(noop_cycles=42)  # looptime's default


def run(smoke: bool) -> list[Row]:
    repeats = 1 if smoke else 5
    count = 1_000 if smoke else 10_000
    drain, drain_with_fixture = best_of_each(repeats * 4, _drain_test, _drain_test_with_fixture)
    hour, signing = best_of_each(repeats, _hour, _sign_directly)
    rows = [
        Row(
            "DedupeChannel drain test (Phoenix: 1,050 ms of sleep)",
            drain,
            _drain_in_real_time(0.01 if smoke else 1.0),
            "s",
            "same drain in real time" + (" (scaled 1/100)" if smoke else ""),
            "< 1 ms",
            None,
        ),
        Row(
            "  the same, with the fixture's setup and teardown (freezegun on)",
            drain_with_fixture,
            drain,
            "s",
            "the test body alone",
            "n/a (reported)",
            None,
        ),
        Row(
            "RecurringChannel: one virtual hour, 720 token pushes",
            hour,
            signing,
            "s",
            "signing 720 tokens directly",
            "< 100 ms",
            None,
        ),
    ]
    rows[0].met = rows[0].ours < 1e-3
    rows[2].met = rows[2].ours < 0.1
    virtual = VirtualTimeLoop
    in_a_channel, bare = best_of_each(
        repeats,
        lambda: _sleeps_in_a_channel(count),
        lambda: _on(virtual, lambda: _sequential_sleeps(count, 5)),
    )
    rows.append(
        Row(
            f"{count:,} sequential 5 s sleeps inside a channel (virtual loop)",
            in_a_channel,
            bare,
            "s",
            "the same sleeps on a bare VirtualTimeLoop",
            "n/a (reported)",
            None,
        )
    )
    looptime = _looptime_factory()
    real = asyncio.new_event_loop
    for label, work, scaled in (
        (
            f"{count:,} sequential 5 s sleeps",
            lambda: _sequential_sleeps(count, 5),
            lambda: _sequential_sleeps(count, 5e-6),
        ),
        (
            f"{count:,} timers over {count // 10:,} instants",
            lambda: _spread_timers(count, count // 10, 0.01),
            lambda: _spread_timers(count, count // 10, 1e-8),
        ),
    ):
        runs = [lambda work=work: _on(virtual, work), lambda scaled=scaled: _on(real, scaled)]
        if looptime is not None:
            runs.append(lambda work=work: _on(looptime, work))
        ours, scaled_time, *theirs = best_of_each(repeats, *runs)
        if theirs:
            met = ours * 10 <= theirs[0]
            rows.append(Row(f"{label}, VirtualTimeLoop", ours, theirs[0], "s", "looptime", "<= 1/10 of it", met))
        rows.append(
            Row(f"{label}, VirtualTimeLoop", ours, scaled_time, "s", "asyncio, real time / 1e6", "n/a (reported)", None)
        )
    return rows
