"""Benchmark: pytest-channels over WebSocket against a bare echo server, both under uvicorn.

Not a test: it prints figures. For each server it measures, over loopback:

- connections held: idle connections opened (each joined to a channel, for ours) that all
  still answer a heartbeat (the echo server: an echo) afterwards;
- memory per idle connection: the server process's resident memory growth divided by them
  (each connection has carried one frame each way first: ours its join, the echo's an echo);
- round trips per second: N concurrent clients, each pushing and awaiting the reply (the
  echo server: sending a frame and awaiting it back) for a fixed time;
- LongPoll round trips per second: the same clients over LongPoll (a POST of the push,
  then GETs until its reply), against the same two HTTP requests to a bare endpoint;
- fan-out frames per second: 1,000 connections joined to one topic (the echo's: simply
  open), broadcasts sent back to back by one more client, and the frames all of them
  received per second; the echo server sends the same frames to its other connections.

Every timed figure is taken in rounds that alternate between the servers; medians are
reported, with the spread of the ratio over the rounds and the server's CPU time per
operation (which a busy machine disturbs less than the rates). The round trips and the
fan-out are driven by `_wsload`, a load generator that costs a fraction of what either
server spends per frame (its fan-out connections live in processes of their own), so the
figures are the servers'; each round reports the CPU share of both sides to show it.

The server runs on CPU 0 and the load generator on the other CPUs (when there are two or
more), so that they do not fight over the same ones.

The echo server is the floor: the same ASGI server and WebSocket implementation with no
protocol at all. Ratios compare ours to it. Usage:

    python benchmarks/bench_ws.py                 # 50 clients, 5 rounds of 5 s, 1000 idle, fan-out to 1000
    python benchmarks/bench_ws.py --smoke         # a few seconds, for CI
    python benchmarks/bench_ws.py --clients 100 --seconds 10 --idle 5000
    python benchmarks/bench_ws.py --fanout-only --fanout 10000 --broadcasts 50 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))  # run as a script: the load generator is benchmarks._wsload
from benchmarks import _wsload  # noqa: E402

PINNED = False
"""Whether the server runs on CPU 0 and the load generator on the others (set by main)."""
WAIT = 10.0
"""Real seconds any single network step may take before the benchmark gives up."""


@dataclass
class Result:
    server: str
    trips: list[Measured]
    held: int
    idle_asked: int
    bytes_per_connection: float
    longpoll_rates: list[float] = field(default_factory=list)
    fanout: list[Measured] = field(default_factory=list)

    @property
    def longpoll_per_second(self) -> float:
        """The median LongPoll round trips per second over the rounds."""
        return statistics.median(self.longpoll_rates)


@contextlib.contextmanager
def server(app: str) -> Iterator[tuple[str, int]]:
    """uvicorn serving `bench_apps:<app>` in its own process, on a free loopback port.

    uvicorn binds the port itself, as in production: given a descriptor (`--fd`) it takes
    the socket for a Unix one, and asyncio then leaves Nagle's algorithm on, which holds an
    HTTP response's body back ~40 ms behind its headers and makes LongPoll measure that.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        f"bench_apps:{app}",
        "--app-dir",
        str(HERE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ws",
        "websockets-sansio",
        "--log-level",
        "warning",
        "--backlog",
        "4096",
    ]
    process = subprocess.Popen(command)
    if PINNED:
        os.sched_setaffinity(process.pid, {0})  # the server gets CPU 0 to itself; see main()
    try:
        yield f"127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=WAIT)


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
        # Both carry one frame each way before they idle (ours: the join), so both servers' idle
        # connections hold what a connection that has talked holds (websockets' inflate window).
        await client.round_trip("phx_join" if channels else "ping")
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


HEARTBEAT = 30.0
"""Seconds between a held connection's heartbeats, phoenix.js's `heartbeatIntervalMs`."""


async def hold_idle(address: str, pid: int, channels: bool, idle: int) -> tuple[int, float]:
    """Open `idle` connections (joined, for channels); how many still answer, and the memory each took.

    Each heartbeats every 30 s while the others open, as phoenix.js does: opening thousands
    takes longer than the server's 60 s idle timeout, which closes a silent connection.
    """
    before = rss_bytes(pid)
    held: list[Client] = []

    async def keep_alive(client: Client) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            await client.heartbeat()

    beating = []
    for n in range(idle):
        held.append(await Client.open(address, channels, n))
        beating.append(asyncio.ensure_future(keep_alive(held[-1])))
    await asyncio.sleep(0.5)  # let the server settle before reading its memory
    grown = rss_bytes(pid) - before
    for task in beating:
        task.cancel()
    failed = [
        task
        for task in await asyncio.gather(*beating, return_exceptions=True)
        if not isinstance(task, asyncio.CancelledError)
    ]
    if failed:
        print(f"{len(failed)} keep-alive heartbeats failed, the first: {failed[0]!r}", file=sys.stderr)
    answered = await asyncio.gather(*(c.heartbeat() for c in held), return_exceptions=True)
    for client in held:
        await client.ws.close()
    return sum(1 for a in answered if a is None), grown / idle


async def round_trips(address: str, pid: int, channels: bool, clients: int, seconds: float) -> Measured:
    """Round trips per second from `clients` concurrent clients, each awaiting its reply before the next push.

    The clients are `_wsload`'s, which cost a fraction of what either server spends per round
    trip, so that the figure is the server's (a `websockets` client costs about as much as the
    echo server: the floor then measured the load generator, and fell with it under load).
    """
    host, port = address.split(":")
    return Measured(*await _wsload.round_trips(host, int(port), pid, channels, clients, seconds))


async def _rate(workers: Sequence[Client | Poller], seconds: float) -> float:
    """Round trips per second of `workers` doing round trips side by side for `seconds`."""
    counts = [0] * len(workers)
    deadline = time.perf_counter() + seconds

    async def work(index: int) -> None:
        while time.perf_counter() < deadline:
            await workers[index].round_trip()
            counts[index] += 1

    started = time.perf_counter()
    await asyncio.gather(*(work(i) for i in range(len(workers))))
    return sum(counts) / (time.perf_counter() - started)


FANOUT_TOPIC = "bench:all"


@dataclass
class Measured:
    """One round: operations (round trips, frames received) per second, and the CPU each side spent."""

    rate: float
    server_cpu: float
    """The server's CPU seconds over the round's seconds: 1.0 is one CPU busy throughout."""
    load_cpu: float
    """The load generator's CPU seconds over the round's seconds, all its processes together."""


class Load:
    """The processes (`_wsload`) holding one server's fan-out connections, split evenly among them."""

    def __init__(self, address: str, channels: bool, connections: int, processes: int, every: float) -> None:
        context = multiprocessing.get_context("spawn")
        cpus = set(os.sched_getaffinity(0))
        self.pipes = []
        self.processes = []
        host, port = address.split(":")
        for index in range(processes):
            pipe, theirs = context.Pipe()
            process = context.Process(target=_wsload.serve, args=(theirs, cpus), daemon=True)
            process.start()
            self.pipes.append(pipe)
            self.processes.append(process)
            share = connections // processes + (index < connections % processes)
            pipe.send(("open", host, int(port), channels, FANOUT_TOPIC, share, every))
        self.held = sum(self._answer(pipe) for pipe in self.pipes)

    @staticmethod
    def _answer(pipe: Any) -> Any:
        answer = pipe.recv()
        if answer[0] == "error":
            raise RuntimeError(f"a load generator process failed: {answer[1]}")
        return answer[-1]

    def arm(self, frames: int, limit: float) -> None:
        """Every process waits for `frames` more broadcasts on each of its connections."""
        for pipe in self.pipes:
            pipe.send(("round", frames, limit))
        for pipe in self.pipes:
            self._answer(pipe)

    def results(self) -> list[dict[str, Any]]:
        return [self._answer(pipe) for pipe in self.pipes]

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(("close",))
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            with contextlib.suppress(EOFError, RuntimeError):
                self._answer(pipe)
            process.join(WAIT)


async def fan_out(address: str, pid: int, channels: bool, load: Load, frames: int) -> Measured:
    """Send `frames` broadcasts back to back to `load`'s connections; the frames/s they all received.

    A control connection sends them: for ours, `fanout` pushes that its channel broadcasts to
    the topic's other subscribers; for the echo, `fanout:<frame>` texts that it sends to its
    other connections. Both send every client the same bytes.
    """
    limit = max(60.0, frames * load.held / 1000)
    async with asyncio.timeout(WAIT):
        ws = await connect(f"ws://{address}" + ("/socket/websocket?vsn=2.0.0" if channels else "/"), compression=None)
    control = Client(ws, channels, FANOUT_TOPIC)
    try:
        await control.round_trip("phx_join" if channels else "ping")
        await asyncio.get_running_loop().run_in_executor(None, load.arm, frames, limit)
        cpu = time.process_time()
        server_cpu = _wsload.cpu_seconds(pid)
        started = time.perf_counter()
        for n in range(frames):
            payload = {"body": "x" * 64, "n": n}
            if channels:
                await ws.send(json.dumps(["1", str(n + 2), FANOUT_TOPIC, "fanout", payload]))
            else:
                broadcast = json.dumps([None, None, FANOUT_TOPIC, "msg", payload], separators=(",", ":"))
                await ws.send(f"fanout:{broadcast}")
        results = await asyncio.get_running_loop().run_in_executor(None, load.results)
        elapsed = time.perf_counter() - started
        server_cpu = _wsload.cpu_seconds(pid) - server_cpu
        load_cpu = time.process_time() - cpu + sum(r["cpu"] for r in results)
    finally:
        await ws.close()
    failed = [r for r in results if not r["done"]]
    if failed:
        missing = sum(r["missing"] for r in results)
        lost = sum(r["lost"] for r in results)
        codes = sorted({code for r in results for code in r["codes"]})
        raise RuntimeError(
            f"after {elapsed:.0f} s, {missing:,} of {frames * load.held:,} frames had not arrived; "
            f"{lost:,} of {load.held:,} connections were closed (codes {codes})"
        )
    seconds = max(r["at"] for r in results) - started
    return Measured(frames * load.held / seconds, server_cpu / seconds, load_cpu / seconds)


class Poller:
    """One LongPoll client as phoenix.js drives it: a POST of the frame, then GETs until its reply arrives.

    Against the floor, the same two requests on the same kind of connection (HTTP/1.1
    keep-alive, as a browser's fetch), each answered at once by a bare HTTP endpoint.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, channels: bool, topic: str) -> None:
        self.reader, self.writer, self.channels, self.topic = reader, writer, channels, topic
        self.ref, self.token, self.address = 0, "", ""

    @staticmethod
    async def _connect(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port = address.split(":")
        async with asyncio.timeout(WAIT):
            reader, writer = await asyncio.open_connection(host, int(port))
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return reader, writer

    @classmethod
    async def open(cls, address: str, channels: bool, n: int) -> Poller:
        poller = cls(*await cls._connect(address), channels, f"bench:{n}")
        poller.address = address
        if channels:
            poller.token = json.loads(await poller.request("GET"))["token"]
            await poller.round_trip("phx_join")
        return poller

    async def request(self, method: str, body: bytes = b"") -> bytes:
        answer = await self._request(method, body)
        if answer is None:  # uvicorn closed the idle keep-alive connection (after 5 s): reconnect, as fetch does
            await self.close()
            self.reader, self.writer = await self._connect(self.address)
            answer = await self._request(method, body)
        if answer is None:
            raise RuntimeError(f"{method} was not answered: the server closed the connection")
        return answer

    async def _request(self, method: str, body: bytes) -> bytes | None:
        target = "/socket/longpoll?vsn=2.0.0" if self.channels else "/"
        headers = f"Host: bench\r\nContent-Length: {len(body)}\r\nContent-Type: application/x-ndjson\r\n"
        if self.token:
            headers += f"X-Phoenix-Longpoll-Token: {self.token}\r\n"
        try:
            self.writer.write(f"{method} {target} HTTP/1.1\r\n{headers}\r\n".encode() + body)
            async with asyncio.timeout(WAIT):
                status = await self.reader.readline()
                if not status:
                    return None
                length = 0
                while (line := await self.reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                answer = await self.reader.readexactly(length)
        except (ConnectionError, asyncio.IncompleteReadError):
            return None
        if not status.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{method} was answered {status!r}")
        return answer

    async def round_trip(self, event: str = "ping") -> None:
        self.ref += 1
        ref = str(self.ref)
        frame = json.dumps(["1", ref, self.topic, event, {"n": self.ref}]).encode()
        if json.loads(await self.request("POST", frame))["status"] != 200:
            raise RuntimeError(f"the POST of {event} was refused")
        while True:
            polled = json.loads(await self.request("GET"))
            if not self.channels or any(json.loads(m)[1] == ref for m in polled["messages"]):
                return
            if polled["status"] not in (200, 204):
                raise RuntimeError(f"a poll was answered {polled!r}")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def longpoll_round_trips(address: str, channels: bool, clients: int, seconds: float) -> float:
    """LongPoll round trips per second: each client posts a push, then polls until its reply arrives."""
    workers = [await Poller.open(address, channels, 200_000 + n) for n in range(clients)]
    try:
        return await _rate(workers, seconds)
    finally:
        for poller in workers:
            await poller.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients doing round trips (default 50)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of round trips per server (default 5)")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections to hold (default 1000)")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI: 4 clients, 1 s, 50 idle, fan-out to 50")
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds of each measurement per server; medians (default 5)"
    )
    parser.add_argument("--no-pin", action="store_true", help="let the server and the load share every CPU")
    parser.add_argument("--fanout", type=int, default=1000, help="connections joined to the broadcast topic (1000)")
    parser.add_argument("--broadcasts", type=int, default=100, help="broadcasts per fan-out round, back to back (100)")
    parser.add_argument("--load-processes", type=int, default=2, help="processes holding the fan-out connections (2)")
    parser.add_argument("--fanout-only", action="store_true", help="measure the fan-out only")
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=_wsload.HEARTBEAT,
        help="seconds between a fan-out connection's heartbeats (phoenix.js: 30); 0 for none, as a stalled client",
    )
    args = parser.parse_args()
    global PINNED
    cpus = sorted(os.sched_getaffinity(0))
    if not args.no_pin and len(cpus) >= 2 and 0 in cpus:
        # Server and load generator on separate CPUs: otherwise they fight over the same ones
        # and the figures swing with the scheduler, the floor's most of all.
        os.sched_setaffinity(0, set(cpus) - {0})
        PINNED = True
    if args.smoke:
        args.clients, args.seconds, args.idle, args.rounds = 4, 1.0, 50, 1
        args.fanout, args.broadcasts, args.load_processes = 50, 5, 1
    if not 0 <= args.heartbeat < float("inf"):
        parser.error("--heartbeat must be a number of seconds >= 0")
    numbers = (args.clients, args.idle, args.rounds, args.fanout, args.broadcasts, args.load_processes)
    if min(numbers) < 1 or not 0 < args.seconds <= 600:
        parser.error(
            "--clients, --idle, --rounds, --fanout, --broadcasts and --load-processes must be >= 1, "
            "--seconds in (0, 600]"
        )

    servers = (("echo (floor)", "echo_app"), ("pytest-channels", "channels_app"))
    with server("echo_app") as echo, server("channels_app") as ours:
        running = {"echo_app": echo, "channels_app": ours}
        results = []
        for name, app in servers:
            address, pid = running[app]
            wait_until_listening(address)
            if args.fanout_only:
                results.append(Result(name, [], 0, 0, 0.0))
                continue
            held, per_connection = asyncio.run(hold_idle(address, pid, app == "channels_app", args.idle))
            results.append(Result(name, [], held, args.idle, per_connection))
        for round_ in range(0 if args.fanout_only else args.rounds):
            # Alternate which server goes first, so that drift in the machine's load evens out.
            order = [0, 1] if round_ % 2 == 0 else [1, 0]
            for index in order:
                address, pid = running[servers[index][1]]
                results[index].trips.append(
                    asyncio.run(round_trips(address, pid, index == 1, args.clients, args.seconds))
                )
                rate = asyncio.run(longpoll_round_trips(address, index == 1, args.clients, args.seconds))
                results[index].longpoll_rates.append(rate)
        loads = [
            Load(running[app][0], app == "channels_app", args.fanout, args.load_processes, args.heartbeat)
            for _, app in servers
        ]
        try:
            for index, (_, app) in enumerate(servers):  # a first broadcast each, not counted: both warm up
                asyncio.run(fan_out(*running[app], app == "channels_app", loads[index], 1))
            for round_ in range(args.rounds):
                for index in [0, 1] if round_ % 2 == 0 else [1, 0]:
                    address, pid = running[servers[index][1]]
                    fanned = asyncio.run(fan_out(address, pid, index == 1, loads[index], args.broadcasts))
                    results[index].fanout.append(fanned)
        finally:
            for load in loads:
                load.close()
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
    placement = "server on CPU 0, load on the others" if PINNED else "server and load sharing the CPUs"
    print(f"uvicorn (websockets-sansio), {os.cpu_count()} CPUs ({placement}), loopback; {args.rounds} round(s)")
    print("per measurement, alternating between the servers; medians, and the ratio's spread over the rounds.")
    print("CPU: the share of one CPU the server and the load generator were busy during a round; per op: the")
    print("server's CPU time per round trip or frame (less disturbed by other load than the rates).")
    if not args.fanout_only:
        print(
            f"\n{args.idle} idle connections held per server; {args.clients} clients doing round trips"
            f" ({args.seconds:g} s a round).\n"
        )
        _table("round trips/s", results, lambda r: r.trips)
        for r in results:
            print(f"{r.server:<18}held {r.held}, {r.bytes_per_connection / 1024:.1f} KiB per idle connection")
        print(f"memory per idle connection, ours / floor: {ours.bytes_per_connection / floor.bytes_per_connection:.2f}")
        print("\nLongPoll (a POST, then polls until the reply; the floor: the same two requests, answered at once):")
        for r in results:
            rounds = " ".join(f"{rate:,.0f}" for rate in r.longpoll_rates)
            print(f"{r.server:<18}{statistics.median(r.longpoll_rates):>15,.0f}   rounds: {rounds}")
        lp = statistics.median(ours.longpoll_rates) / statistics.median(floor.longpoll_rates)
        print(f"LongPoll round trips/s, ours / floor: {lp:.2f}")
    print(
        f"\nFan-out: {args.fanout:,} connections on one topic, held by {args.load_processes} load process(es) that"
        f" count the frames\nwithout parsing them; {args.broadcasts} broadcasts back to back per round.\n"
    )
    _table("frames/s", results, lambda r: r.fanout)


def _table(
    what: str, results: list[Result], rounds_of: Callable[[Result], list[Measured]], extra: bool = False
) -> None:
    floor, ours = (rounds_of(r) for r in results)
    print(f"{'server':<18}{what:>14}{'CPU server':>12}{'CPU load':>10}{'µs CPU/op':>11}   rounds")
    for r, measured in zip(results, (floor, ours), strict=True):
        median = statistics.median(m.rate for m in measured)
        server = statistics.median(m.server_cpu for m in measured)
        load = statistics.median(m.load_cpu for m in measured)
        per_op = statistics.median(m.server_cpu / m.rate * 1e6 for m in measured)
        rounds = " ".join(f"{m.rate:,.0f}" for m in measured)
        print(f"{r.server:<18}{median:>14,.0f}{server:>12.2f}{load:>10.2f}{per_op:>11.1f}   {rounds}")
    ratios = sorted(o.rate / f.rate for o, f in zip(ours, floor, strict=True))
    ratio = statistics.median(m.rate for m in ours) / statistics.median(m.rate for m in floor)
    ours_cpu = statistics.median(o.server_cpu / o.rate for o in ours)
    by_cpu = statistics.median(f.server_cpu / f.rate for f in floor) / ours_cpu if ours_cpu else float("nan")
    print(
        f"{what}, ours / floor: {ratio:.2f} (per round {ratios[0]:.2f} to {ratios[-1]:.2f}, median"
        f" {statistics.median(ratios):.2f}); by server CPU per op: {by_cpu:.2f}"
    )


if __name__ == "__main__":
    main()
