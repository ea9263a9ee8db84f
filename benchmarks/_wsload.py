"""The fan-out benchmark's load generator: many WebSocket connections, cheap to hold and to read.

A broadcast to 1,000 connections makes the server frame and write 1,000 frames; a client
library that parses, unmasks and decodes each of them (websockets, or one Node process)
spends as much as the server does, so the figure ends up measuring the load generator. Each
connection here is an asyncio `Protocol` doing the bare minimum: the HTTP upgrade, one join
(for ours) or one echo (the floor), then counting the text frames that start with the
broadcast's prefix, without decoding them. No compression is offered, so neither server
deflates per connection. Each connection heartbeats every 30 s, as phoenix.js does.

A worker is a process of its own, driven by `bench_ws.py` over a pipe (`serve`): it opens its
share of the connections, then, for every round, counts until each connection has had the
broadcasts the round sends and reports when that happened (`time.perf_counter`, which is
CLOCK_MONOTONIC on Linux: the same clock in every process), with the CPU time it spent.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

HEARTBEAT = 30.0
"""Seconds between a connection's heartbeats, phoenix.js's `heartbeatIntervalMs`."""
WAIT = 10.0
"""Real seconds a connection may take to open and answer its first frame."""
_PING = b"\x89\x04"  # uvicorn's keepalive ping, a four-byte payload after it
_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # any 16 bytes, base64: the server does not check which


def client_frame(text: str) -> bytes:
    """A masked text frame, as a client must send it (a zero mask: the payload goes as it is)."""
    data = text.encode()
    size = len(data)
    if size < 126:
        header = bytes([0x81, 0x80 | size])
    elif size < 1 << 16:
        header = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
    return header + b"\0\0\0\0" + data


class Counter(asyncio.Protocol):
    """One connection: it answers nothing, and counts the broadcast frames it reads."""

    def __init__(self, worker: Worker, path: str) -> None:
        self.worker, self.path = worker, path
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.buffer = bytearray()
        self.answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.received = 0
        self.tail = b""
        self.tail_count = 0  # broadcasts in `tail`, counted already
        """The end of what was read: a broadcast's prefix cut in two, or the server's close frame."""
        self.beat: asyncio.TimerHandle | None = None
        self.replies: asyncio.Queue[None] | None = None  # set by a round-trip client: one item per frame

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {_KEY.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        if self.answered.done() and self.replies is not None:
            self._replied(data)
            return
        if self.answered.done():  # counting: in C, a prefix cut at the chunk's end counted with the next
            marker, chunk = self.worker.marker, self.tail + data
            frames = chunk.count(marker) - self.tail_count  # the prefix overlaps no copy of itself
            self._pongs(chunk, len(self.tail))
            self.tail = chunk[-self.worker.keep :]
            self.tail_count = self.tail.count(marker)
            if frames:
                self.received += frames
                self.worker.counted(frames)
            return
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self._fail(RuntimeError(f"the upgrade was answered {bytes(buffer[:40])!r}"))
                return
            del buffer[: end + 4]
            self.upgraded = True
            self.worker.send(self, self.worker.first)
        start = 0
        while not self.answered.done() and (frame := _frame(buffer, start)) is not None:  # until the first answer
            header, length = frame
            body = start + header
            answer = bytes(buffer[body : body + length])
            start = body + length
            if self.worker.channels and b'"status":"ok"' not in answer:
                self._fail(RuntimeError(f"the join was answered {answer!r}"))
            else:
                self.answered.set_result(None)
        del buffer[:start]
        if self.answered.done() and buffer:
            rest, self.buffer = bytes(buffer), bytearray()
            self.data_received(rest)

    def _pongs(self, chunk: bytes, seen: int) -> None:
        """Answer the server's pings in `chunk` that end past `seen` (uvicorn closes with 1011 unanswered).

        uvicorn's ping is 0x89, 0x04 and four bytes; neither byte is in the benchmark's ASCII
        frames or their headers (shorter than 126 bytes), so a search finds exactly the pings.
        """
        at = chunk.find(_PING)
        while at >= 0:
            if seen < at + 6 <= len(chunk):
                assert self.transport is not None
                self.transport.write(b"\x8a\x84\0\0\0\0" + chunk[at + 2 : at + 6])
            at = chunk.find(_PING, at + 1)

    def _replied(self, data: bytes) -> None:
        """A round-trip client's read: one item in `replies` for every whole frame."""
        assert self.replies is not None
        buffer = self.buffer
        buffer += data
        start = 0
        while (frame := _frame(buffer, start)) is not None:
            header, length = frame
            if buffer[start] & 0x0F == 9:  # a ping: pong it, and wait on for the reply
                assert self.transport is not None
                self.transport.write(
                    bytes([0x8A, 0x80 | length]) + b"\0\0\0\0" + buffer[start + 2 : start + 2 + length]
                )
            else:
                self.replies.put_nowait(None)
            start += header + length
        del buffer[:start]

    @property
    def close_code(self) -> int | None:
        """The code of the close frame the connection's bytes end with, if they end with one."""
        tail = self.tail
        for at in range(len(tail) - 2, -1, -1):  # a close frame: 0x88, its size (< 126), the code, a reason
            if tail[at] == 0x88 and at + 2 + tail[at + 1] == len(tail) and tail[at + 1] >= 2:
                return int.from_bytes(tail[at + 2 : at + 4], "big")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.beat is not None:
            self.beat.cancel()
        self.worker.lost += 1
        self._fail(ConnectionError(f"closed (code {self.close_code})"))

    def _fail(self, exc: Exception) -> None:
        if not self.answered.done():
            self.answered.set_exception(exc)

    def heartbeat(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.worker.send(self, self.worker.heartbeat)
            self.beat = asyncio.get_running_loop().call_later(self.worker.every, self.heartbeat)


class Worker:
    """One process's share of the connections."""

    def __init__(self, host: str, port: int, channels: bool, topic: str, every: float = HEARTBEAT) -> None:
        self.host, self.port, self.channels = host, port, channels
        self.every = every  # seconds between a connection's heartbeats; 0 for none
        path = "/socket/websocket?vsn=2.0.0" if channels else "/"
        self.path = path
        join = json.dumps(["1", "1", topic, "phx_join", {}])
        self.first = client_frame(join if channels else "ping")
        self.heartbeat = client_frame(json.dumps([None, "hb", "phoenix", "heartbeat", {}]) if channels else "hb")
        self.marker = json.dumps([None, None, topic, "msg"], separators=(",", ":"))[:-1].encode()
        self.keep = max(len(self.marker) - 1, 127)  # a close frame's whole length too: 2 + 125 bytes
        self.connections: list[Counter] = []
        self.total = self.target = 0
        self.lost = 0
        self.reached: asyncio.Event | None = None
        self.reached_at = 0.0

    def send(self, counter: Counter, frame: bytes) -> None:
        assert counter.transport is not None
        counter.transport.write(frame)

    def counted(self, frames: int) -> None:
        self.total += frames
        if self.total >= self.target and self.reached is not None and not self.reached.is_set():
            self.reached_at = time.perf_counter()
            self.reached.set()

    async def open(self, count: int, at_once: int = 64) -> None:
        """Open `count` connections, `at_once` at a time, each joined (or echoed) once."""
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(at_once)

        async def one() -> None:
            async with gate:
                _, counter = await asyncio.wait_for(
                    loop.create_connection(lambda: Counter(self, self.path), self.host, self.port), WAIT
                )
                await asyncio.wait_for(counter.answered, WAIT)
                self.connections.append(counter)
                if self.every:
                    counter.beat = loop.call_later(self.every, counter.heartbeat)

        await asyncio.gather(*(one() for _ in range(count)))

    async def round(self, frames: int, limit: float) -> dict[str, Any]:
        """Wait until every connection has counted `frames` more broadcasts, or `limit` seconds pass."""
        self.target = self.total + frames * len(self.connections)
        self.reached = asyncio.Event()
        cpu = time.process_time()
        try:
            await asyncio.wait_for(self.reached.wait(), limit)
            done = True
        except TimeoutError:
            done = False
        return {
            "done": done,
            "at": self.reached_at,
            "cpu": time.process_time() - cpu,
            "missing": self.target - self.total,
            "lost": self.lost,
            "codes": sorted({c.close_code for c in self.connections if c.close_code is not None}),
        }

    def close(self) -> None:
        for counter in self.connections:
            if counter.beat is not None:
                counter.beat.cancel()
            if counter.transport is not None:
                counter.transport.close()
        self.connections.clear()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def round_trips(
    host: str, port: int, pid: int, channels: bool, clients: int, seconds: float
) -> tuple[float, float, float]:
    """Round trips per second of `clients` connections, each sending a frame and awaiting the answer in turn.

    Ours answers a push with its reply; the echo sends the frame back. Each client costs far
    less than either server does per round trip: a prepared frame out, a frame's header read.
    Returns the rate, and the share of a CPU the server (process `pid`) and this process were busy.
    """
    worker = Worker(host, port, channels, f"bench:{300_000}")
    loop = asyncio.get_running_loop()
    counters = []
    for n in range(clients):
        worker.first = client_frame(
            json.dumps(["1", "1", f"bench:{300_000 + n}", "phx_join", {}]) if channels else "ping"
        )
        _, counter = await asyncio.wait_for(
            loop.create_connection(lambda: Counter(worker, worker.path), host, port), WAIT
        )
        await asyncio.wait_for(counter.answered, WAIT)
        counter.replies = asyncio.Queue()
        counters.append(counter)
    deadline = time.perf_counter() + seconds
    counts = [0] * clients

    async def work(index: int) -> None:
        counter, topic = counters[index], f"bench:{300_000 + index}"
        assert counter.transport is not None
        assert counter.replies is not None
        while time.perf_counter() < deadline:
            ref = counts[index] + 2
            text = json.dumps(["1", str(ref), topic, "ping", {"n": ref}])
            counter.transport.write(client_frame(text))
            await asyncio.wait_for(counter.replies.get(), WAIT)
            counts[index] += 1

    started, server, load = time.perf_counter(), cpu_seconds(pid), time.process_time()
    try:
        await asyncio.gather(*(work(i) for i in range(clients)))
        elapsed = time.perf_counter() - started
        return (
            sum(counts) / elapsed,
            (cpu_seconds(pid) - server) / elapsed,
            (time.process_time() - load) / elapsed,
        )
    finally:
        for counter in counters:
            assert counter.transport is not None
            counter.transport.close()


def serve(pipe: Pipe, cpus: set[int] | None) -> None:
    """A worker process's main: obey the driver's commands on `pipe` until told to stop."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    asyncio.run(_serve(pipe))


async def _serve(pipe: Pipe) -> None:
    loop = asyncio.get_running_loop()
    worker: Worker | None = None
    while True:
        command, *args = await loop.run_in_executor(None, pipe.recv)
        try:
            if command == "open":
                host, port, channels, topic, count, every = args
                worker = Worker(host, port, channels, topic, every)
                await worker.open(count)
                pipe.send(("ok", len(worker.connections)))
            elif command == "round":
                assert worker is not None
                (frames, limit) = args
                # Armed before the driver sends anything: it waits for this answer first.
                task = asyncio.ensure_future(worker.round(frames, limit))
                await asyncio.sleep(0)
                pipe.send(("armed",))
                pipe.send(("ok", await task))
            elif command == "close":
                if worker is not None:
                    worker.close()
                    await asyncio.sleep(0.1)  # real-time: let the closes go out before the process ends
                pipe.send(("ok", None))
                return
        except Exception as exc:  # the driver reports it; the worker's traceback would be lost
            pipe.send(("error", repr(exc)))
            return


def _frame(buffer: bytearray, start: int) -> tuple[int, int] | None:
    """The header and payload sizes of the server frame at `start`, or None if it is not all there yet."""
    size = len(buffer) - start
    if size < 2:
        return None
    length, header = buffer[start + 1] & 0x7F, 2
    if length >= 126:
        header = 4 if length == 126 else 10
        if size < header:
            return None
        length = int.from_bytes(buffer[start + 2 : start + header], "big")
    return None if size < header + length else (header, length)
