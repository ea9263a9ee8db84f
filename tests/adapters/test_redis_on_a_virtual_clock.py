"""The Redis adapter on a virtual clock (a VirtualTimeLoop, trio's MockClock): Redis is waited for in real time.

Time on such a clock jumps as soon as every task waits, so without care a reply on its way
from Redis would lose to the adapter's own timeouts at once, and a silent server would look
like a fast failure. Every wait for a reply is a `real_io` block instead: bounded in real
seconds, taking no virtual time.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.abc
import pytest
from redis_server import RedisServer, running_redis

from pytest_channels import Broadcast, BrokerUnreachable, PubSub
from pytest_channels._runtime._eventloop import real_io
from pytest_channels.redis import RedisAdapter
from pytest_channels.testing import virtual_anyio_backend

WITHIN = 10.0
"""Real seconds a real server may take to deliver."""


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_anyio_backend(request.param)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


class Arrivals:
    """A subscriber that says when something arrived."""

    def __init__(self) -> None:
        self.got: list[Broadcast] = []
        self.arrived = anyio.Event()

    def receive_broadcast(self, broadcast: Broadcast) -> None:
        self.got.append(broadcast)
        self.arrived.set()


@pytest.mark.anyio
async def test_connecting_and_publishing_wait_for_redis_in_real_time_and_take_no_virtual_time(
    redis_server: RedisServer,
) -> None:
    channel = f"virtual-{uuid.uuid4().hex}"
    sender = RedisAdapter(redis_server.url, node_name="sender", channel=channel, connect_timeout=WITHIN)
    receiver = RedisAdapter(redis_server.url, node_name="receiver", channel=channel, connect_timeout=WITHIN)
    sending, receiving, arrivals = PubSub(sender), PubSub(receiver), Arrivals()
    receiving.subscribe("news", arrivals)
    start = anyio.current_time()
    async with sender.connect(sending), receiver.connect(receiving):
        sending.broadcast(Broadcast("news", "flash", {"n": 1}))
        # A broadcast from elsewhere is no reply the adapter waits for: the test holds time for it.
        with real_io(WITHIN), anyio.fail_after(WITHIN):
            await arrivals.arrived.wait()  # real-time: a real server delivers, within WITHIN real seconds
        assert anyio.current_time() == start  # every wait was for real I/O: virtual time stood still
    [broadcast] = arrivals.got
    assert (broadcast.origin, broadcast.event, broadcast.payload) == ("sender", "flash", {"n": 1})
    assert sender.statistics().published == 1


@pytest.mark.anyio
async def test_a_silent_server_fails_after_the_connect_timeout_of_real_time_not_at_once() -> None:
    # The kernel completes the handshake for a listening socket that never accepts: only the
    # timeout, in real seconds, stands between the adapter and a hang.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        adapter = RedisAdapter(url, connect_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(BrokerUnreachable) as failure:
            async with adapter.connect(PubSub(adapter)):
                pass
    assert 0.3 <= time.monotonic() - started < 5
    assert str(failure.value) == f"could not connect to Redis at {url} within 0.3s: TimeoutError"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url", "why"),
    [
        (f"redis://:hunter2@127.0.0.1:{_closed_port()}/0", r"ConnectionRefusedError|OSError"),
        ("redis://no-such-host.invalid:6379/0", r"OSError|gaierror"),
    ],
    ids=["closed port", "unknown host"],
)
async def test_a_url_that_points_nowhere_fails_clearly_naming_it(url: str, why: str) -> None:
    adapter = RedisAdapter(url, connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(BrokerUnreachable) as failure:
        async with adapter.connect(PubSub(adapter)):
            pass
    assert time.monotonic() - started < 5
    message = str(failure.value)
    assert message.startswith(f"could not connect to Redis at {url.replace('hunter2', '***')} within 2s: ")
    assert "hunter2" not in message
    assert "TimeoutError" not in message  # the real reason, not a virtual timeout that won the race
    assert any(name in message for name in why.split("|"))


@pytest.mark.anyio
async def test_a_server_that_stops_answering_publishes_loses_them_after_the_timeout_never_hangs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def half_deaf(client: anyio.abc.SocketStream) -> None:
        """Confirms subscriptions, then never answers anything else (a server stuck mid-session)."""
        async with client:
            async for data in client:
                if b"SUBSCRIBE" in data:
                    await client.send(b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n")

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, half_deaf)
        adapter = RedisAdapter(f"redis://127.0.0.1:{port}/0", channel="c", connect_timeout=0.3)
        pubsub = PubSub(adapter)
        async with adapter.connect(pubsub):
            pubsub.broadcast(Broadcast("t", "e", {}))
            with anyio.fail_after(60):  # virtual seconds; each jump first waits the adapter's 0.3 s of real quiet
                while adapter.statistics().lost == 0:
                    await anyio.sleep(0.1)  # real-time: bounded by the adapter's real_io of 0.3 s per jump
        tg.cancel_scope.cancel()
    assert adapter.statistics().published == 0
    assert "lost a broadcast: TimeoutError" in caplog.text
