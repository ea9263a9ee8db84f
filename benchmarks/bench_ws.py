"""Benchmark: pytest-channels over WebSocket against a bare echo server, both under uvicorn.

Not a test: it prints figures. For each server it measures, over loopback:

- connections held: idle connections opened (each joined to a channel, for ours) that all
  still answer a heartbeat (the echo server: an echo) afterwards;
- memory per idle connection: the server process's resident memory growth divided by them;
- round trips per second: N concurrent clients, each pushing and awaiting the reply (the
  echo server: sending a frame and awaiting it back) for a fixed time.

The echo server is the floor: the same ASGI server and WebSocket implementation with no
protocol at all. Ratios compare ours to it. Usage:

    python benchmarks/bench_ws.py                 # 50 clients for 5 s, 1000 idle connections
    python benchmarks/bench_ws.py --smoke         # a few seconds, for CI
    python benchmarks/bench_ws.py --clients 100 --seconds 10 --idle 5000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

HERE = Path(__file__).parent
WAIT = 10.0
"""Real seconds any single network step may take before the benchmark gives up."""


@dataclass
class Result:
    server: str
    round_trips: int
    seconds: float
    held: int
    idle_asked: int
    bytes_per_connection: float

    @property
    def per_second(self) -> float:
        return self.round_trips / self.seconds


@contextlib.contextmanager
def server(app: str) -> Iterator[tuple[str, int]]:
    """uvicorn serving `bench_apps:<app>` in its own process, on an inherited loopback socket."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        f"bench_apps:{app}",
        "--app-dir",
        str(HERE),
        "--fd",
        str(listener.fileno()),
        "--ws",
        "websockets-sansio",
        "--log-level",
        "warning",
        "--backlog",
        "4096",
    ]
    process = subprocess.Popen(command, pass_fds=[listener.fileno()])
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=WAIT)
        listener.close()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class Client:
    """One connection speaking either the V2 protocol (channels) or raw frames (echo)."""

    def __init__(self, ws: ClientConnection, channels: bool, topic: str) -> None:
        self.ws, self.channels, self.topic, self.ref = ws, channels, topic, 0

    @classmethod
    async def open(cls, address: str, channels: bool, n: int) -> Client:
        path = "/socket/websocket?vsn=2.0.0" if channels else "/"
        async with asyncio.timeout(WAIT):
            ws = await connect(f"ws://{address}{path}", max_size=None, ping_interval=None)
        client = cls(ws, channels, f"bench:{n}")
        if channels:
            await client.round_trip("phx_join")
        return client

    async def round_trip(self, event: str = "ping", topic: str | None = None) -> None:
        self.ref += 1
        frame = json.dumps(["1", str(self.ref), topic or self.topic, event, {"n": self.ref}])
        await self.ws.send(frame)
        async with asyncio.timeout(WAIT):
            answer = await self.ws.recv()
        if self.channels and json.loads(answer)[4]["status"] != "ok":
            raise RuntimeError(f"{event} was answered {answer!r}")

    async def heartbeat(self) -> None:
        if self.channels:
            await self.round_trip("heartbeat", topic="phoenix")
        else:
            await self.round_trip()


async def measure(name: str, address: str, pid: int, clients: int, seconds: float, idle: int) -> Result:
    channels = name == "pytest-channels"
    before = rss_bytes(pid)
    held: list[Client] = []
    for n in range(idle):
        held.append(await Client.open(address, channels, n))
    await asyncio.sleep(0.5)  # let the server settle before reading its memory
    grown = rss_bytes(pid) - before
    answered = await asyncio.gather(*(c.heartbeat() for c in held), return_exceptions=True)
    alive = sum(1 for a in answered if a is None)
    for client in held:
        await client.ws.close()

    workers = [await Client.open(address, channels, idle + n) for n in range(clients)]
    counts = [0] * clients
    deadline = time.perf_counter() + seconds

    async def work(index: int) -> None:
        while time.perf_counter() < deadline:
            await workers[index].round_trip()
            counts[index] += 1

    started = time.perf_counter()
    await asyncio.gather(*(work(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    for client in workers:
        await client.ws.close()
    return Result(name, sum(counts), elapsed, alive, idle, grown / max(idle, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients doing round trips (default 50)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of round trips per server (default 5)")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections to hold (default 1000)")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI: 4 clients, 1 s, 50 idle connections")
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.seconds, args.idle = 4, 1.0, 50
    if min(args.clients, args.idle) < 1 or not 0 < args.seconds <= 600:
        parser.error("--clients and --idle must be >= 1, --seconds in (0, 600]")

    results = []
    for name, app in (("echo (floor)", "echo_app"), ("pytest-channels", "channels_app")):
        with server(app) as (address, pid):
            wait_until_listening(address)
            results.append(asyncio.run(measure(name, address, pid, args.clients, args.seconds, args.idle)))
    report(results, args)
    if any(r.held != r.idle_asked for r in results):
        sys.exit("some idle connections were dropped")


def wait_until_listening(address: str) -> None:
    host, port = address.split(":")
    for _ in range(int(WAIT / 0.05)):
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
            return
        time.sleep(0.05)  # real-time: the server process starts in real time
    raise TimeoutError(f"nothing listens on {address} after {WAIT}s")


def report(results: list[Result], args: argparse.Namespace) -> None:
    floor, ours = results
    print(f"uvicorn (websockets-sansio), {os.cpu_count()} CPUs, loopback;")
    print(f"{args.clients} clients for {args.seconds:g} s, {args.idle} idle connections held per server.\n")
    print(f"{'server':<18}{'round trips/s':>15}{'held':>8}{'KiB/idle conn':>15}")
    for r in results:
        print(f"{r.server:<18}{r.per_second:>15,.0f}{r.held:>8}{r.bytes_per_connection / 1024:>15.1f}")
    print(f"\nround trips/s, ours / floor: {ours.per_second / floor.per_second:.2f}")
    if floor.bytes_per_connection > 0:
        print(f"memory per idle connection, ours / floor: {ours.bytes_per_connection / floor.bytes_per_connection:.2f}")


if __name__ == "__main__":
    main()
