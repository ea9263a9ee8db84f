"""Running for real, from docs/running-for-real.md: the chat app served over WebSocket, and the wire switch."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from chat_app import ChatSocket
from websockets.asyncio.client import connect

from pytest_channels import ChannelsApp, PubSub, Runtime
from pytest_channels.redis import RedisAdapter
from pytest_channels.testing import ChannelCase


def make_app() -> ChannelsApp:
    # Serve ChatSocket at /socket: phoenix.js's `new Socket("/socket")` connects to /socket/websocket.
    return ChannelsApp({"/socket": ChatSocket}, idle_timeout=60, max_channels=100)


def make_production_app() -> ChannelsApp:
    # Every worker process reads the same SECRET_KEY_BASE, and hears the others through Redis.
    runtime = Runtime(pubsub=PubSub(RedisAdapter(os.environ["REDIS_URL"])))
    return ChannelsApp({"/socket": ChatSocket}, runtime=runtime)


def test_the_production_app_has_a_lasting_secret_and_a_pubsub_across_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY_BASE", "the deployment's secret, twenty chars or more")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    app = make_production_app()
    assert not app.runtime.ephemeral_secret
    assert isinstance(app.runtime.pubsub.adapter, RedisAdapter)


@pytest.fixture
def address(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app under uvicorn in a thread, on a free loopback port."""
    monkeypatch.setenv("SECRET_KEY_BASE", "the deployment's secret, twenty chars or more")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(make_app(), lifespan="on", log_level="warning", ws="websockets-sansio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(500):
        if server.started:
            break
        started.wait(0.01)  # real-time: uvicorn starts in real time
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    server.should_exit = True
    thread.join(5)
    listener.close()


def test_a_v2_client_joins_and_pings_over_a_real_socket(address: str) -> None:
    async def client() -> list[object]:
        async with connect(f"ws://{address}/socket/websocket?vsn=2.0.0&name=ada") as ws:
            await ws.send(json.dumps(["1", "1", "room:lobby", "phx_join", {}]))
            await ws.send(json.dumps(["1", "2", "room:lobby", "ping", {"n": 7}]))
            async with asyncio.timeout(5):
                return [json.loads(await ws.recv()) for _ in range(2)]

    joined, pong = asyncio.run(client())
    assert joined == ["1", "1", "room:lobby", "phx_reply", {"status": "ok", "response": {"topic": "room:lobby"}}]
    assert pong == ["1", "2", "room:lobby", "phx_reply", {"status": "ok", "response": {"pong": 7}}]


def test_without_the_wire_a_boolean_param_reaches_connect_as_a_boolean(channels: ChannelCase) -> None:
    socket = channels.connect(ChatSocket, {"name": "ada", "staff": True}).socket
    assert channels.subscribe_and_join(socket, "room:staff").ok


@pytest.mark.channels(wire=True)
def test_on_the_wire_it_arrives_as_the_string_true_and_the_staff_room_refuses(channels: ChannelCase) -> None:
    socket = channels.connect(ChatSocket, {"name": "ada", "staff": True}).socket
    assert socket.assigns["staff"] is False  # ChatSocket checks `params.get("staff") is True`
    assert not channels.subscribe_and_join(socket, "room:staff").ok


PYPROJECT = """\
[tool.pytest.ini_options]
channels_wire = true
"""

INNER_TEST = """
def test_every_value_is_a_string(channels):
    assert channels.settings.wire
"""


def test_the_ini_option_turns_the_wire_on_for_every_test(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(PYPROJECT + 'asyncio_default_fixture_loop_scope = "function"\n')
    pytester.makepyfile(test_inner=textwrap.dedent(INNER_TEST))
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)


def test_every_test_the_coverage_table_names_exists() -> None:
    page = (Path(__file__).parent / "running-for-real.md").read_text()
    sources = "\n".join(path.read_text() for path in (Path(__file__).parents[1] / "tests").rglob("test_*.py"))
    named = set(re.findall(r"`(test_\w+)`", page))
    assert len(named) > 30
    assert sorted(name for name in named if f"def {name}(" not in sources) == []
