"""Fan-out: one broadcast to N joined channels, half of them intercepting the event.

Every delivery is counted (asserted). The floor is putting the same message on N
asyncio.Queues and taking it off again. Memory per joined channel is measured with
tracemalloc, against the memory of one asyncio.Queue per channel.
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

from pytest_channels import Channel, InfoResult, JoinResult, Push, Socket, noreply, ok
from pytest_channels.testing import ChannelCase, Settings

from ._report import Row


class Listener(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)


class Interceptor(Listener):
    intercept = ("tick",)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        self.push(event, payload)
        return noreply(socket)


@dataclass
class FanOut:
    channels: int
    ours_per_message: float
    floor_per_message: float
    ours_bytes_per_channel: float
    floor_bytes_per_queue: float


def _ours(n: int) -> tuple[float, float]:
    with ChannelCase(Settings(freeze_time=False)) as channels:
        socket = channels.socket()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            channels.join(socket, "room", channel=Interceptor if i % 2 else Listener)
        per_channel = (tracemalloc.get_traced_memory()[0] - before) / n
        tracemalloc.stop()
        gc.collect()  # the joins' garbage is the set-up's, not the broadcast's, to collect
        start = time.perf_counter()
        channels.runtime.broadcast("room", "tick", {"n": 1})
        channels.settle()
        delivered = sum(1 for message in channels.flush() if isinstance(message, Push))
        elapsed = time.perf_counter() - start
        assert delivered == n, (delivered, n)
        return elapsed / n, per_channel


def _floor(n: int) -> tuple[float, float]:
    async def main() -> tuple[float, float]:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        queues: list[asyncio.Queue[dict[str, int]]] = [asyncio.Queue() for _ in range(n)]
        per_queue = (tracemalloc.get_traced_memory()[0] - before) / n
        tracemalloc.stop()
        gc.collect()  # as for ours
        start = time.perf_counter()
        message = {"n": 1}
        for queue in queues:
            queue.put_nowait(dict(message))  # a copy each, as every receiver gets its own
        delivered = sum(1 for queue in queues if queue.get_nowait())
        elapsed = time.perf_counter() - start
        assert delivered == n
        return elapsed / n, per_queue

    return asyncio.run(main())


def measure(sizes: list[int]) -> list[FanOut]:
    results = []
    for n in sizes:
        ours_runs, floor_runs = [], []
        for _ in range(3 if n <= 10_000 else 1):  # in turns, as best_of_each does
            ours_runs.append(_ours(n))
            floor_runs.append(_floor(n))
        (ours, ours_memory), (floor, floor_memory) = min(ours_runs), min(floor_runs)
        results.append(FanOut(n, ours, floor, ours_memory, floor_memory))
    return results


def run(smoke: bool) -> tuple[list[Row], list[FanOut]]:
    sizes = [100, 1_000] if smoke else [1_000, 10_000, 100_000]
    results = measure(sizes)
    rows = []
    for result in results:
        rows.append(
            Row(
                f"fan-out to {result.channels:,} channels, per delivered message",
                result.ours_per_message,
                result.floor_per_message,
                "s",
                "asyncio.Queue per channel",
                "<= 3x",
                result.ours_per_message <= 3 * result.floor_per_message,
            )
        )
    largest = results[-1]
    rows.append(
        Row(
            f"memory per joined channel ({largest.channels:,} joined)",
            largest.ours_bytes_per_channel,
            largest.floor_bytes_per_queue,
            "B",
            "one asyncio.Queue",
            "a few KiB",
            largest.ours_bytes_per_channel <= 4096,
        )
    )
    return rows, results
