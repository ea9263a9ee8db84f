"""Servers on loopback ports for the end-to-end tests, and a raw V2 client to poke them with.

Each server runs in a thread of the test process, on a socket bound to 127.0.0.1 port 0,
so tests run in parallel (`-n auto`) and in any order. Waits on the network are real: each
is bounded by `WAIT` seconds, and a test fails rather than hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from pytest_channels import ChannelsApp

WAIT = 5.0
"""Real seconds any single network wait may take before the test fails."""


@contextlib.contextmanager
def serve_uvicorn(app: ChannelsApp | Callable[[Any, Any, Any], Awaitable[None]]) -> Iterator[str]:
    """Run `app` (a ChannelsApp, or one behind middleware) under uvicorn in a thread; yields "127.0.0.1:<port>"."""
    listener = _listener()
    config = uvicorn.Config(app, lifespan="on", log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: server.started, "uvicorn to start")
        yield _address(listener)
    finally:
        server.should_exit = True
        thread.join(WAIT)
        listener.close()


@contextlib.contextmanager
def serve_hypercorn(app: ChannelsApp) -> Iterator[str]:
    """Run `app` under hypercorn in a thread; yields its address."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    listener = _listener()
    config = Config()
    config.bind = [f"fd://{os.dup(listener.fileno())}"]  # hypercorn closes the descriptor it is given
    config.loglevel = "WARNING"
    loop = asyncio.new_event_loop()
    stopping = asyncio.Event()
    started = threading.Event()

    async def main() -> None:
        async def trigger() -> None:
            started.set()
            await stopping.wait()

        await serve(app, config, shutdown_trigger=trigger)  # type: ignore[arg-type]

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        _wait_for(started.is_set, "hypercorn to start")
        _wait_for(lambda: app.serving, "hypercorn's lifespan startup")
        yield _address(listener)
    finally:
        loop.call_soon_threadsafe(stopping.set)
        thread.join(WAIT)
        loop.close()
        listener.close()


SERVERS = {"uvicorn": serve_uvicorn, "hypercorn": serve_hypercorn}


def _listener() -> socket.socket:
    # IPPROTO_TCP named, so that asyncio turns Nagle's algorithm off on accepted connections,
    # as it does for a server that binds its own port (otherwise each HTTP answer waits ~40 ms).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.set_inheritable(True)
    return listener


def _address(listener: socket.socket) -> str:
    host, port = listener.getsockname()
    return f"{host}:{port}"


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    done = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        if condition():
            return
        done.wait(0.01)  # real-time: polling a server thread that starts in real time
    raise TimeoutError(f"gave up waiting for {what} after {WAIT}s")


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait until `condition()` holds, for what the server does after the client stops hearing from it."""
    for _ in range(int(WAIT / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)  # real-time: the server thread acts in real time
    raise TimeoutError(f"gave up waiting for {what} after {WAIT}s")


class RawClient:
    """A V2 client written against the protocol by hand, for what the official client never sends."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> None:
        await self.ws.send(json.dumps([join_ref, ref, topic, event, payload]))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def receive(self) -> Any:
        """The next frame: a decoded JSON list, or the bytes of a binary frame."""
        async with asyncio.timeout(WAIT):
            data = await self.ws.recv()
        return data if isinstance(data, bytes) else json.loads(data)

    async def join(self, topic: str, payload: Any = None, join_ref: str = "1") -> Any:
        await self.send(join_ref, join_ref, topic, "phx_join", payload or {})
        return await self.receive()

    async def closed(self) -> tuple[int | None, str | None]:
        """Wait for the server to close the connection; its close code and reason."""
        async with asyncio.timeout(WAIT):
            await self.ws.wait_closed()
        return self.ws.close_code, self.ws.close_reason


class LongPollRawClient:
    """The same client over LongPoll: each frame one POST, frames from the server by polling.

    One keep-alive HTTP connection, as a browser's `fetch` keeps one; the token travels in
    the `x-phoenix-longpoll-token` header.
    """

    def __init__(self, address: str, path: str, query: str) -> None:
        self.address, self.target = address, f"{path}/longpoll?{query}"
        self.token: str | None = None
        self.frames: list[Any] = []
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def open(self) -> None:
        answer = await self._request("GET")
        if answer["status"] != 410:
            raise ConnectionRefusedError(f"the LongPoll session was refused: {answer}")
        self.token = answer["token"]

    async def send(self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> None:
        await self.send_raw(json.dumps([join_ref, ref, topic, event, payload]))

    async def send_raw(self, data: str | bytes) -> None:
        answer = await self._request("POST", data.encode() if isinstance(data, str) else data)
        assert answer == {"status": 200}, f"the POST of {data!r} was answered {answer}"

    async def receive(self) -> Any:
        """The next frame from the server, decoded (polling until one arrives)."""
        async with asyncio.timeout(WAIT):
            while not self.frames:
                answer = await self._request("GET")
                assert answer["status"] in (200, 204), f"a poll was answered {answer}: the session is gone"
                self.frames += [json.loads(message) for message in answer["messages"]]
        return self.frames.pop(0)

    async def join(self, topic: str, payload: Any = None, join_ref: str = "1") -> Any:
        await self.send(join_ref, join_ref, topic, "phx_join", payload or {})
        return await self.receive()

    async def closed(self) -> tuple[int | None, str | None]:
        """Poll until the session is gone; then phoenix.js closes with 3410, "session_gone"."""
        async with asyncio.timeout(WAIT):
            while (await self._request("GET"))["status"] != 410:
                pass
        return 3410, "session_gone"

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            with contextlib.suppress(OSError):
                await self.streams[1].wait_closed()
            self.streams = None

    async def _request(self, method: str, body: bytes = b"") -> dict[str, Any]:
        for _ in range(2):  # once more on a new connection if the server closed the kept-alive one
            if self.streams is None:
                host, port = self.address.split(":")
                async with asyncio.timeout(WAIT):
                    self.streams = await asyncio.open_connection(host, int(port))
            reader, writer = self.streams
            token = f"X-Phoenix-Longpoll-Token: {self.token}\r\n" if self.token else ""
            head = f"{method} {self.target} HTTP/1.1\r\nHost: e2e\r\nContent-Length: {len(body)}\r\n{token}"
            try:
                writer.write(f"{head}Content-Type: application/x-ndjson\r\n\r\n".encode() + body)
                async with asyncio.timeout(WAIT):
                    if not (status := await reader.readline()):
                        raise ConnectionResetError
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    raw = await reader.readexactly(length)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                continue
            assert status.startswith(b"HTTP/1.1 200"), f"{method} was answered {status!r}"
            answer: dict[str, Any] = json.loads(raw)
            return answer
        raise ConnectionResetError(f"the server closed the connection twice for a {method}")


@contextlib.asynccontextmanager
async def raw_client(
    address: str, path: str = "/protocol", query: str = "vsn=2.0.0", transport: str = "websocket"
) -> AsyncIterator[RawClient | LongPollRawClient]:
    """A raw client over `transport`: "websocket" or "longpoll" (the server must serve LongPoll)."""
    if transport == "websocket":
        async with ws_client(address, path, query) as client:
            yield client
        return
    polling = LongPollRawClient(address, path, query)
    await polling.open()
    try:
        yield polling
    finally:
        await polling.close()


@contextlib.asynccontextmanager
async def ws_client(address: str, path: str = "/protocol", query: str = "vsn=2.0.0") -> AsyncIterator[RawClient]:
    """A raw client over WebSocket, for tests of the WebSocket itself (close codes, frames, flow)."""
    async with asyncio.timeout(WAIT):
        ws = await connect(f"ws://{address}{path}/websocket?{query}", max_size=None)
    try:
        yield RawClient(ws)
    finally:
        await ws.close()
