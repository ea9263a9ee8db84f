"""Benchmark: one big broadcast to many WebSocket connections, encoded once against once per subscriber.

Not a test: it prints figures. In one process, without a network, `ChannelsApp` serves N
connections (driven through ASGI messages, as uvicorn drives them), each joined to the same
topic; then one broadcast of a 64 KiB payload goes out. Measured: how long the broadcast
call blocks the event loop (the fan-out is synchronous), and the memory its frames take
until the connections have sent them. The baseline is the same run with the fastlane off,
so that each subscriber copies and encodes the payload itself (what the server did before).

    python -m benchmarks.bench_fastlane              # 5,000 connections, 64 KiB
    python -m benchmarks.bench_fastlane --smoke      # 200 connections
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import tracemalloc
from collections.abc import MutableMapping
from typing import Any

from pytest_channels import ChannelsApp

from .bench_apps import BenchSocket


class Client:
    """A connection whose frames to the client are counted, not sent anywhere."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.received = 0
        self.joined = asyncio.Event()

    async def receive(self) -> MutableMapping[str, Any]:
        return await self.inbox.get()

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "websocket.send":
            self.received += 1
            self.joined.set()


async def measure(connections: int, size: int, fastlane: bool) -> tuple[float, float]:
    """(seconds the broadcast call blocked, MiB of memory its frames took at the peak)."""
    app = ChannelsApp({"/socket": BenchSocket})
    lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def lifespan_send(message: MutableMapping[str, Any]) -> None:
        started.set()

    serving = asyncio.ensure_future(app({"type": "lifespan"}, lifespan.get, lifespan_send))
    lifespan.put_nowait({"type": "lifespan.startup"})
    await started.wait()
    clients = [Client() for _ in range(connections)]
    tasks = []
    for n, client in enumerate(clients):
        scope = {"type": "websocket", "path": "/socket/websocket", "query_string": b"vsn=2.0.0", "client": ("b", n)}
        tasks.append(asyncio.ensure_future(app(scope, client.receive, client.send)))
        client.inbox.put_nowait({"type": "websocket.connect"})
        client.inbox.put_nowait(
            {"type": "websocket.receive", "text": json.dumps(["1", "1", "bench:all", "phx_join", {}])}
        )
    for client in clients:
        await client.joined.wait()
    if not fastlane:
        for process in app.runtime.channels:
            process._fastlane = None  # each subscriber copies and encodes the payload: the old path
    payload = {"blob": "x" * size}
    blocked = time.perf_counter()
    app.runtime.broadcast("bench:all", "big", payload)
    blocked = time.perf_counter() - blocked
    await delivered(clients, 2)  # the join replies, then the broadcast
    tracemalloc.start()  # a second broadcast for the memory: tracing slows the first's timing down
    app.runtime.broadcast("bench:all", "big", payload)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await delivered(clients, 3)
    for client in clients:
        client.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.gather(*tasks)
    lifespan.put_nowait({"type": "lifespan.shutdown"})
    await serving
    return blocked, peak / 2**20


async def delivered(clients: list[Client], each: int) -> None:
    while sum(c.received for c in clients) < each * len(clients):
        await asyncio.sleep(0.01)  # real-time: the connections' writers send in real time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=5_000)
    parser.add_argument("--kib", type=int, default=64)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.connections = 200
    print(f"one {args.kib} KiB broadcast to {args.connections:,} connections, in one process:\n")
    print(f"{'fan-out':<34}{'loop blocked (s)':>18}{'peak MiB':>10}")
    results = {}
    for fastlane in (False, True):
        name = "encoded once (fastlane)" if fastlane else "copied and encoded per subscriber"
        results[fastlane] = asyncio.run(measure(args.connections, args.kib * 1024, fastlane))
        blocked, peak = results[fastlane]
        print(f"{name:<34}{blocked:>18.3f}{peak:>10.1f}")
    (old_blocked, old_peak), (new_blocked, new_peak) = results[False], results[True]
    print(f"\nblocked, once / per subscriber: {new_blocked / old_blocked:.3f}; memory: {new_peak / old_peak:.3f}")


if __name__ == "__main__":
    main()
