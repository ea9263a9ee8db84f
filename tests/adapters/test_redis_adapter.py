"""The Redis adapter against a real redis-server, on asyncio and trio: channels on several runtimes, several
processes, a server that dies and comes back, and URLs that cannot be reached."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import uvicorn
from redis_server import RedisServer, running_redis, unavailable
from websockets.asyncio.client import connect as ws_connect

from pytest_channels import (
    Broadcast,
    BroadcastError,
    BrokerUnreachable,
    Channel,
    ChannelsApp,
    Exit,
    JoinResult,
    Message,
    PubSub,
    Push,
    Runtime,
    Socket,
    SocketHandler,
    ok,
    route,
)
from pytest_channels._runtime._redis import Address, RedisStatistics, RespConnection
from pytest_channels.redis import RedisAdapter

WITHIN = 10.0
"""Real seconds a real server may take to deliver, notice a failure, or come back."""


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """One implementation on both: the adapter speaks Redis over anyio's streams."""
    return str(request.param)


@pytest.fixture
def channel() -> str:
    return f"test-{uuid.uuid4().hex}"


class Inbox:
    def __init__(self) -> None:
        self.got: list[Broadcast] = []

    def receive_broadcast(self, broadcast: Broadcast) -> None:
        self.got.append(broadcast)


async def eventually(condition: Callable[[], object], what: str) -> None:
    with anyio.move_on_after(WITHIN):
        while not condition():
            await anyio.sleep(0.01)  # real-time: a real server and real sockets are the point here
        return
    raise AssertionError(f"{what}: not within {WITHIN}s of real time")


class Room(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)


class Collect:
    """A transport that remembers what its channels sent."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def deliver(self, message: Message) -> None:
        self.messages.append(message)

    def exited(self, exit: Exit) -> None:
        pass


@pytest.mark.anyio
async def test_channels_on_two_runtimes_hear_each_others_broadcasts(redis_server: RedisServer, channel: str) -> None:
    runtimes = {
        name: Runtime(pubsub=PubSub(RedisAdapter(redis_server.url, node_name=name, channel=channel)))
        for name in ("web-1", "web-2")
    }
    client = Collect()
    web1, web2 = runtimes["web-1"], runtimes["web-2"]
    async with (
        _adapter(web1).connect(web1.pubsub, clock=web1.clock),
        _adapter(web2).connect(web2.pubsub, clock=web2.clock),
        web1.serving(),
        web2.serving(),
    ):
        joined = await web1.join(web1.socket(), "room:1", {}, client, channel=Room)
        assert joined.ok
        assert web2.broadcast("room:1", "request_ping", {"n": 1}) is None
        await eventually(lambda: client.messages, "the broadcast from web-2 reached the client on web-1")
    [push] = client.messages
    assert isinstance(push, Push)
    assert (push.event, push.payload, push.origin) == ("request_ping", {"n": 1}, "web-2")


@pytest.mark.anyio
async def test_a_direct_broadcast_reaches_the_named_node_only(redis_server: RedisServer, channel: str) -> None:
    names = ("web-1", "web-2", "web-3")
    runtimes = [Runtime(pubsub=PubSub(RedisAdapter(redis_server.url, node_name=n, channel=channel))) for n in names]
    clients = [Collect() for _ in names]
    async with contextlib.AsyncExitStack() as stack:
        for runtime, client in zip(runtimes, clients, strict=True):
            await stack.enter_async_context(_adapter(runtime).connect(runtime.pubsub, clock=runtime.clock))
            await stack.enter_async_context(runtime.serving())
            assert (await runtime.join(runtime.socket(), "room:1", {}, client, channel=Room)).ok
        web1, web2, web3 = clients
        assert runtimes[0].direct_broadcast("web-2", "room:1", "only_you", {"n": 1}) is None
        assert runtimes[0].broadcast("room:1", "everyone", {"n": 2}) is None  # after it, on the same channel
        await eventually(lambda: len(web3.messages) == 1 and len(web2.messages) == 2, "the broadcasts arrived")
    assert [m.event for m in web2.messages if isinstance(m, Push)] == ["only_you", "everyone"]
    assert [m.event for m in web3.messages if isinstance(m, Push)] == ["everyone"]  # the direct one was not for it
    assert [m.event for m in web1.messages if isinstance(m, Push)] == ["everyone"]  # the sender's own local copy


def _adapter(runtime: Runtime) -> RedisAdapter:
    adapter = runtime.pubsub.adapter
    assert isinstance(adapter, RedisAdapter)
    return adapter


@pytest.mark.anyio
async def test_a_broadcast_from_another_process_arrives(
    redis_server: RedisServer, channel: str, anyio_backend: str
) -> None:
    backend = anyio_backend
    script = textwrap.dedent(
        f"""
        import anyio
        from pytest_channels import Broadcast, PubSub
        from pytest_channels.redis import RedisAdapter

        async def main():
            adapter = RedisAdapter({redis_server.url!r}, node_name="other-process", channel={channel!r})
            pubsub = PubSub(adapter)
            async with adapter.connect(pubsub):
                pubsub.broadcast(Broadcast("news", "flash", {{"pid": __import__("os").getpid()}}))
                while adapter.statistics().published < 1:
                    await anyio.sleep(0.01)  # real-time: until its one broadcast reached Redis

        anyio.run(main, backend={backend!r})
        """
    )
    adapter = RedisAdapter(redis_server.url, node_name="this-process", channel=channel)
    pubsub, inbox = PubSub(adapter), Inbox()
    pubsub.subscribe("news", inbox)
    async with adapter.connect(pubsub):
        process = await anyio.run_process([sys.executable, "-c", script], check=True)
        await eventually(lambda: inbox.got, "the other process's broadcast")
    assert process.returncode == 0
    [broadcast] = inbox.got
    assert broadcast.origin == "other-process"
    assert broadcast.payload["pid"] != os.getpid()


@pytest.mark.anyio
async def test_the_adapter_reconnects_after_the_server_restarts(tmp_path: Path, channel: str) -> None:
    with running_redis(tmp_path) as server:
        sender = RedisAdapter(server.url, node_name="sender", channel=channel, reconnect_after=[0.05])
        receiver = RedisAdapter(server.url, node_name="receiver", channel=channel, reconnect_after=[0.05])
        sending, receiving, inbox = PubSub(sender), PubSub(receiver), Inbox()
        receiving.subscribe("news", inbox)
        async with sender.connect(sending), receiver.connect(receiving):
            sending.broadcast(Broadcast("news", "before", {}))
            await eventually(lambda: inbox.got, "the first broadcast")

            server.stop()
            await eventually(lambda: not sender.connected and not receiver.connected, "both notice the server died")
            with pytest.raises(BrokerUnreachable, match=rf"^Redis at {server.url} is unreachable \(reconnecting\)"):
                sending.broadcast(Broadcast("news", "while down", {}))
            runtime = Runtime(pubsub=sending)
            failure = runtime.broadcast("news", "while down", {})
            assert isinstance(failure, BroadcastError)

            server.start()  # the same port, an empty server
            await sender.wait_connected(WITHIN)
            await receiver.wait_connected(WITHIN)
            sending.broadcast(Broadcast("news", "after", {}))
            await eventually(lambda: len(inbox.got) == 2, "the broadcast after the restart")
    assert [b.event for b in inbox.got] == ["before", "after"]  # what was sent while down is lost
    assert sender.statistics() == RedisStatistics(published=2, received=0, lost=2, reconnects=1)
    assert receiver.statistics().reconnects == 1


@pytest.mark.anyio
async def test_a_wait_begun_while_the_server_is_down_ends_once_it_is_back(tmp_path: Path, channel: str) -> None:
    with running_redis(tmp_path) as server:
        adapter = RedisAdapter(server.url, channel=channel, reconnect_after=[0.01])
        attempts = 0
        subscribe = adapter._subscribe

        async def counted() -> Any:
            nonlocal attempts
            attempts += 1
            return await subscribe()

        adapter._subscribe = counted  # type: ignore[method-assign]
        async with adapter.connect(PubSub(adapter)):
            server.stop()
            await eventually(lambda: not adapter.connected, "the adapter notices the server died")
            async with anyio.create_task_group() as tg:
                tg.start_soon(adapter.wait_connected, WITHIN)
                waiting_from = attempts
                await eventually(lambda: attempts >= waiting_from + 3, "reconnects that fail while it waits")
                server.start()
            assert adapter.connected


@pytest.mark.anyio
async def test_a_wait_for_a_server_that_stays_down_fails_naming_it(tmp_path: Path, channel: str) -> None:
    with running_redis(tmp_path) as server:
        adapter = RedisAdapter(server.url, channel=channel)
        async with adapter.connect(PubSub(adapter)):
            with pytest.raises(RuntimeError, match=r"^<RedisAdapter .* connected> is already connected$"):
                async with adapter.connect(PubSub(adapter)):
                    pass
            server.stop()
            await eventually(lambda: not adapter.connected, "the adapter notices the server died")
            with pytest.raises(BrokerUnreachable, match=rf"^Redis at {server.url} was still unreachable after 0.2s$"):
                await adapter.wait_connected(0.2)


@pytest.mark.anyio
async def test_a_message_that_is_no_broadcast_is_logged_and_dropped(
    redis_server: RedisServer, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = RedisAdapter(redis_server.url, node_name="reader", channel=channel)
    async with adapter.connect(PubSub(adapter)):
        other = await RespConnection.open(Address.parse(redis_server.url))
        try:
            await other.command("PUBLISH", channel, b"not json")
        finally:
            await other.aclose()
        await eventually(lambda: "cannot read" in caplog.text, "the warning")
    assert "Redis adapter reader ignored a message it cannot read: b'not json'" in caplog.text
    assert adapter.statistics().received == 0


@pytest.mark.anyio
async def test_an_unreachable_url_fails_fast_with_an_error_naming_it(redis_server: RedisServer) -> None:
    closed = f"redis://user:hunter2@127.0.0.1:{_closed_port()}/0"
    adapter = RedisAdapter(closed, connect_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(BrokerUnreachable) as failure:
        async with adapter.connect(PubSub(adapter)):
            pass
    assert time.monotonic() - started < 5
    assert str(failure.value).startswith(
        f"could not connect to Redis at redis://user:***@127.0.0.1:{closed.rsplit(':', 1)[1][:-2]}/0 within 0.5s: "
    )
    assert "hunter2" not in str(failure.value)


@pytest.mark.anyio
async def test_a_server_that_never_answers_fails_within_the_connect_timeout() -> None:
    # The kernel completes the handshake for a listening socket that never accepts, so only the
    # connect timeout stands between the adapter and a hang.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        adapter = RedisAdapter(url, connect_timeout=0.3)
        started = time.monotonic()
        with anyio.fail_after(10), pytest.raises(BrokerUnreachable) as failure:
            async with adapter.connect(PubSub(adapter)):
                pass
    assert 0.3 <= time.monotonic() - started < 5
    assert str(failure.value) == f"could not connect to Redis at {url} within 0.3s: TimeoutError"


@pytest.mark.anyio
async def test_a_host_that_does_not_exist_is_named_in_the_error() -> None:
    adapter = RedisAdapter("redis://no-such-host.invalid:6379/0", connect_timeout=0.5)
    with anyio.fail_after(10), pytest.raises(BrokerUnreachable, match=r"^could not connect to Redis at redis://no-"):
        async with adapter.connect(PubSub(adapter)):
            pass


def test_a_url_redis_would_not_understand_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match=r"^not a Redis URL: 'http://:\*\*\*@example\.com/'; expected redis://"):
        RedisAdapter("http://:pw@example.com/")
    with pytest.raises(ValueError, match=r"^connect_timeout must be a number of seconds > 0 \(got 0\)$"):
        RedisAdapter("redis://localhost", connect_timeout=0)
    with pytest.raises(ValueError, match=r"^reconnect_after must be seconds >= 0, at least one \(got \[\]\)$"):
        RedisAdapter("redis://localhost", reconnect_after=[])


def test_publishing_before_connecting_says_how_to_connect() -> None:
    adapter = RedisAdapter("redis://localhost:6379/0", node_name="n")
    runtime = Runtime(pubsub=PubSub(adapter))
    failure = runtime.broadcast("t", "e", {})
    assert isinstance(failure, BroadcastError)
    assert str(failure.__cause__) == (
        "the Redis adapter for redis://localhost:6379/0 is not connected: "
        "run the runtime inside `async with adapter.connect(pubsub):`"
    )


@pytest.mark.anyio
async def test_connect_takes_the_pubsub_the_adapter_belongs_to(redis_server: RedisServer) -> None:
    adapter = RedisAdapter(redis_server.url)
    with pytest.raises(ValueError, match=r"^connect\(pubsub\) takes the PubSub this adapter was given to"):
        async with adapter.connect(PubSub()):
            pass


def _closed_port() -> int:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_the_redis_server_helper_refuses_to_skip_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server on this PATH
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"^CI must run the Redis tests, but redis-server is not installed"):  # noqa: SIM117
        with running_redis(tmp_path):
            pass
    monkeypatch.setenv("CI", "false")
    with (
        pytest.raises(pytest.skip.Exception, match=r"^no Redis server could be started: redis-server is not installed"),
        running_redis(tmp_path),
    ):
        pass


def test_running_the_server_helper_leaves_no_process(tmp_path: Path) -> None:
    with running_redis(tmp_path) as server:
        process = server.process
        assert process is not None
    assert process.poll() is not None


def test_the_server_helper_moves_to_another_port_when_its_port_is_taken(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        server.port = squatter.getsockname()[1]  # as another xdist worker's server would
        try:
            server.start()
        except RuntimeError as exc:
            unavailable(str(exc))
        try:
            assert server.port != squatter.getsockname()[1]
            assert server.process is not None
        finally:
            server.stop()


class PingSockets(SocketHandler):
    channels = (route("room:*", Room),)


@pytest.mark.asyncio  # uvicorn serves on asyncio only
async def test_two_servers_broadcast_to_each_others_clients_through_redis(
    redis_server: RedisServer, channel: str
) -> None:
    apps, listeners, servers = [], [], []
    for name in ("web-1", "web-2"):
        adapter = RedisAdapter(redis_server.url, node_name=name, channel=channel)
        runtime = Runtime(pubsub=PubSub(adapter), secret_key_base="one secret for both servers, 20+ chars")
        apps.append(ChannelsApp({"/socket": PingSockets}, runtime=runtime))
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listeners.append(listener)
        config = uvicorn.Config(apps[-1], lifespan="on", log_level="warning", ws="websockets-sansio")
        servers.append(uvicorn.Server(config))
    web1, web2 = apps
    port = listeners[0].getsockname()[1]
    async with (
        _adapter(web1.runtime).connect(web1.runtime.pubsub, clock=web1.runtime.clock),
        _adapter(web2.runtime).connect(web2.runtime.pubsub, clock=web2.runtime.clock),
        anyio.create_task_group() as tg,
    ):
        for server, listener in zip(servers, listeners, strict=True):
            tg.start_soon(functools.partial(server.serve, sockets=[listener]))
        await eventually(lambda: all(server.started for server in servers), "both servers started")
        async with ws_connect(f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0") as ws:
            await ws.send(json.dumps(["1", "1", "room:1", "phx_join", {}]))
            with anyio.fail_after(WITHIN):
                joined = json.loads(await ws.recv())
            assert web2.runtime.broadcast("room:1", "news", {"from": "web-2"}) is None
            with anyio.fail_after(WITHIN):
                news = json.loads(await ws.recv())
        for server in servers:
            server.should_exit = True
    for listener in listeners:
        listener.close()
    assert joined == ["1", "1", "room:1", "phx_reply", {"status": "ok", "response": {}}]
    assert news == [None, None, "room:1", "news", {"from": "web-2"}]  # the fastlane frame, on web-1
