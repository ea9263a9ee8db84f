"""`uvicorn --workers 2`: two processes behind one port, each with its own runtime.

A token signed by one worker must connect to the other, and a broadcast from application
code in one worker must reach the clients of both: with the Redis adapter (and one
SECRET_KEY_BASE) it does; with a single-process PubSub, each worker says so as it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_processes import STARTUP, Served, uvicorn_process
from e2e_servers import WAIT
from redis_server import RedisServer, running_redis
from websockets.asyncio.client import ClientConnection, connect

pytestmark = pytest.mark.asyncio  # the websockets client runs on asyncio

HERE = Path(__file__).parent
SECRET = {"SECRET_KEY_BASE": "one secret for every worker, twenty chars or more"}
CONNECTIONS = 40
"""Connections opened, at most, until both workers serve some (the kernel picks the worker)."""


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path) as server:
        yield server


def post(address: str, path: str) -> dict[str, object]:
    request = urllib.request.Request(f"http://{address}{path}", method="POST")
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        body: dict[str, object] = json.loads(response.read())
        return body


@contextlib.contextmanager
def two_workers(tmp_path: Path, env: dict[str, str]) -> Iterator[Served]:
    with uvicorn_process("workers_app:app", HERE, tmp_path / "workers.log", env=env, args=["--workers", "2"]) as s:
        s.wait_for("Application startup complete", within=STARTUP, count=2)
        yield s


async def test_without_a_cross_process_pubsub_each_worker_warns_as_it_starts(tmp_path: Path) -> None:
    with two_workers(tmp_path, SECRET) as served:
        output = served.output()
    assert output.count("with a single-process PubSub: a broadcast reaches only the clients of the process") == 2
    assert "Runtime(pubsub=PubSub(RedisAdapter(url)))" in output


async def test_with_redis_and_one_secret_tokens_and_broadcasts_cross_both_workers(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    env = {**SECRET, "REDIS_URL": redis_server.url, "REDIS_CHANNEL": f"workers-{uuid.uuid4().hex}"}
    with two_workers(tmp_path, env) as served:
        async with contextlib.AsyncExitStack() as stack:
            clients: dict[ClientConnection, object] = {}  # client -> the pid of the worker it joined
            crossed = 0  # connections to a worker other than the one that signed their token

            def enough() -> bool:
                return len(set(clients.values())) == 2 and crossed > 0

            while not enough() and len(clients) < CONNECTIONS:
                signed = await asyncio.to_thread(post, served.address, f"/token?user=u{len(clients)}")
                url = f"ws://{served.address}/socket/websocket?vsn=2.0.0&token={signed['token']}"
                async with asyncio.timeout(WAIT):
                    ws = await stack.enter_async_context(connect(url))  # refused (403) if the token fails
                    await ws.send(json.dumps(["1", "1", "news:all", "phx_join", {}]))
                    reply = json.loads(await ws.recv())
                assert reply[4]["status"] == "ok"
                clients[ws] = reply[4]["response"]["pid"]
                crossed += clients[ws] != signed["pid"]
            assert enough(), f"{len(clients)} connections: to workers {set(clients.values())}, {crossed} crossed"

            # From application code first, on whichever worker the kernel hands the request to.
            sent = await asyncio.to_thread(post, served.address, "/broadcast?n=0")
            assert sent["error"] is None
            for ws in clients:
                async with asyncio.timeout(WAIT):
                    assert json.loads(await ws.recv()) == [
                        None,
                        None,
                        "news:all",
                        "news",
                        {"n": 0, "from": sent["pid"]},
                    ]
            # Then from a channel on each worker in turn: the kernel may give every request to one.
            senders: set[object] = set()
            for n, pid in enumerate(sorted(set(clients.values()), key=str), start=1):
                shouter = next(ws for ws, joined in clients.items() if joined == pid)
                await shouter.send(json.dumps(["1", str(n + 1), "news:all", "shout", {"n": n}]))
                for ws in clients:
                    async with asyncio.timeout(WAIT):
                        frames = [json.loads(await ws.recv()) for _ in range(2 if ws is shouter else 1)]
                    news = [f for f in frames if f[3] == "news"]
                    assert news == [[None, None, "news:all", "news", {"n": n, "from": pid}]]
                    if ws is shouter:
                        assert [f[4]["status"] for f in frames if f[3] == "phx_reply"] == ["ok"]
                senders.add(pid)
            assert senders == set(clients.values())
    assert "single-process PubSub" not in served.output()
