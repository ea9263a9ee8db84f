"""What a deployment meets on its first day, tried as an attacker and an operator would, over real sockets.

The server is a black box on loopback (uvicorn in a thread), the clients are the `websockets`
library's, and every wait is bounded by `WAIT` real seconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import socket
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest
from e2e_app import HOLD, MAILBOX_PEAK, TERMINATED, make_app
from e2e_servers import WAIT, RawClient, eventually, serve_uvicorn, ws_client
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

pytestmark = pytest.mark.asyncio  # the websockets client runs on asyncio


def url(address: str, query: str = "vsn=2.0.0") -> str:
    return f"ws://{address}/protocol/websocket?{query}"


async def heartbeat(ws: ClientConnection) -> list[object]:
    await ws.send(json.dumps([None, "hb", "phoenix", "heartbeat", {}]))
    async with asyncio.timeout(WAIT):
        reply: list[object] = json.loads(await ws.recv())
    return reply


async def refused_status(address: str, query: str = "vsn=2.0.0", origin: str | None = None) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with asyncio.timeout(WAIT), connect(url(address, query), origin=Origin(origin) if origin else None):
            pass
    return refused.value.response.status_code


# -- origins ------------------------------------------------------------------------------------


async def test_by_default_a_page_of_another_site_is_refused_and_a_page_of_the_servers_own_host_connects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serve_uvicorn(make_app()) as address:
        assert await refused_status(address, origin="http://evil.example") == 403
        async with connect(url(address), origin=Origin(f"http://{address}")) as ws:
            assert (await heartbeat(ws))[3] == "phx_reply"
    assert "refused: origin 'http://evil.example' is not allowed (check_origin)" in caplog.text


async def test_a_client_that_sends_no_origin_connects_even_when_origins_are_listed_as_in_phoenix() -> None:
    with serve_uvicorn(make_app(check_origin=["https://good.example"])) as address:
        async with connect(url(address)) as ws:  # node, Python clients and curl send no Origin
            assert (await heartbeat(ws))[3] == "phx_reply"
        assert await refused_status(address, origin="https://evil.example") == 403


@pytest.mark.parametrize(
    ("check_origin", "allowed", "refused"),
    [
        (False, "http://evil.example", None),
        (["https://*.example.com"], "https://chat.example.com", "https://example.com.evil.org"),
        (lambda origin: origin.endswith(".test"), "http://a.test", "http://a.example"),
    ],
    ids=["off", "a wildcard", "a function"],
)
async def test_check_origin_can_be_turned_off_list_wildcard_subdomains_or_be_a_function(
    check_origin: bool | list[str] | Callable[[str], bool], allowed: str, refused: str | None
) -> None:
    with serve_uvicorn(make_app(check_origin=check_origin)) as address:
        async with connect(url(address), origin=Origin(allowed)) as ws:
            assert (await heartbeat(ws))[3] == "phx_reply"
        if refused is not None:
            assert await refused_status(address, origin=refused) == 403


# -- limits at the door -------------------------------------------------------------------------


async def test_one_connection_over_max_connections_is_refused_with_503_and_a_closed_one_frees_its_place(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(max_connections=2)
    with serve_uvicorn(app) as address:
        async with connect(url(address)) as first, connect(url(address)):
            assert await refused_status(address) == 503
            await first.close()
            await eventually(lambda: len(app.connections) == 1, "the first connection to be let go")
            async with connect(url(address)) as third:
                assert (await heartbeat(third))[3] == "phx_reply"
    assert "refused: 2 connections are open already (max_connections)" in caplog.text


async def test_connect_params_over_max_params_size_are_refused_with_414(caplog: pytest.LogCaptureFixture) -> None:
    with serve_uvicorn(make_app(max_params_size=1_000)) as address:
        assert await refused_status(address, query="vsn=2.0.0&user=" + "a" * 1_000) == 414
        async with connect(url(address, "vsn=2.0.0&user=" + "a" * 900)) as ws:
            assert (await heartbeat(ws))[3] == "phx_reply"
    assert "refused: connect params of 1015 bytes, over max_params_size (1000)" in caplog.text


async def test_a_client_over_max_messages_per_second_is_closed_with_1008_and_its_earlier_frames_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serve_uvicorn(make_app(max_messages_per_second=5)) as address:
        async with ws_client(address) as client, ws_client(address) as other:
            for n in range(20):  # at once: far over 5 a second, whatever the scheduling
                await client.send(None, str(n), "phoenix", "heartbeat", {})
            answered: list[str] = []

            async def read_until_closed() -> None:
                while len(answered) < 20:
                    answered.append((await client.receive())[1])

            with pytest.raises(ConnectionClosed):
                await read_until_closed()
            assert answered == ["0", "1", "2", "3", "4"]
            assert (client.ws.close_code, client.ws.close_reason) == (1008, "too many messages")
            await other.send(None, "1", "phoenix", "heartbeat", {})
            assert (await other.receive())[1] == "1"
    assert "closed: over max_messages_per_second (5)" in caplog.text


# -- slow consumers -----------------------------------------------------------------------------

PUSHES_WITHIN = 30.0
"""Real seconds 25 MiB of pushes may take to go through a channel on a loaded machine."""

BIG = base64.b64encode(random.Random(12).randbytes(192 * 1024)).decode()
"""256 KiB that permessage-deflate cannot shrink much, unlike "x" * n: the wire must carry them."""


def not_reading(address: str, query: str = "vsn=2.0.0") -> AbstractAsyncContextManager[ClientConnection]:
    """A client that stops reading once one frame waits (max_queue=1), over a socket whose receive
    buffer is fixed at 64 KiB: the kernel would otherwise grow it to tens of MiB and read for it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    host, port = address.split(":")
    sock.settimeout(WAIT)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return connect(url(address, query), sock=sock, max_queue=1, max_size=None)


async def flood(reader: RawClient, topic: str, count: int = 40) -> list[int]:
    """Broadcast `count` frames of 256 KiB on `topic` (10 MiB: more than the socket buffers to a
    client that does not read hold), one at a time as `reader` reads each back; the numbers it got."""
    got = []
    for n in range(count):
        await reader.send("1", str(n), topic, "broadcast", {"event": "big", "payload": {"n": n, "data": BIG}})
        got.append((await reader.receive())[4]["n"])
    return got


async def test_a_slow_consumer_is_closed_with_1013_past_max_outgoing_bytes_and_the_others_get_everything(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(max_outgoing_bytes=2_000_000)
    with serve_uvicorn(app) as address:
        # max_queue=1: the client library stops reading the socket as soon as one frame waits.
        async with not_reading(address) as slow, ws_client(address) as reader:
            await slow.send(json.dumps(["1", "1", "echo:busy", "phx_join", {}]))
            await reader.join("echo:busy")
            assert await flood(reader, "echo:busy") == list(range(40))
            await eventually(lambda: "slow consumer" in caplog.text, "the server to give up on the slow client")

            async def read_until_closed() -> None:
                async with asyncio.timeout(WAIT):
                    while True:
                        await slow.recv()

            with pytest.raises(ConnectionClosed):  # the slow client reads again: frames, then the close
                await read_until_closed()
            assert (slow.close_code, slow.close_reason) == (1013, "slow consumer")
            await reader.send(None, "3", "phoenix", "heartbeat", {})
            assert (await reader.receive())[1] == "3"
    assert "slow consumer: " in caplog.text
    assert "over max_outgoing_bytes (2000000): dropping them and closing with 1013" in caplog.text


async def test_a_client_that_stopped_reading_is_let_go_after_the_idle_timeout_with_its_channel_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(idle_timeout=0.5, send_timeout=0.5, max_outgoing_bytes=100_000_000)
    topic = f"echo:stuck-{uuid.uuid4().hex}"  # TERMINATED lasts as long as the process
    with serve_uvicorn(app) as address:
        async with not_reading(address, "vsn=2.0.0&user=stuck") as stuck, ws_client(address) as other:
            await stuck.send(json.dumps(["s", "s", topic, "phx_join", {}]))
            await other.join(topic)
            flooding = asyncio.create_task(flood(other, topic))
            while not flooding.done():  # it still talks while the broadcasts pile up, then falls silent
                await stuck.send(json.dumps([None, "hb", "phoenix", "heartbeat", {}]))
                await asyncio.wait([flooding], timeout=0.1)  # real-time: a heartbeat every 0.1 s
            await flooding

            def released() -> bool:
                stopped = (topic, "s", ("shutdown", "closed")) in TERMINATED
                return stopped and all(c.socket.assigns["user"] != "stuck" for c in app.connections)

            # The stuck client never reads again; the other keeps talking, and keeps its place.
            for n in range(int(WAIT / 0.1)):
                await other.send(None, str(n), "phoenix", "heartbeat", {})
                assert (await other.receive())[1] == str(n)
                if released():
                    break
                await asyncio.sleep(0.1)  # real-time: the server lets go in real time
            assert released(), "the stuck connection and its channel were still held"
            assert len(app.connections) == 1
            assert [t for t in TERMINATED if t[0] == topic] == [(topic, "s", ("shutdown", "closed"))]
            stuck.transport.abort()  # a closing handshake would wait for the frames it never read
    assert "slow consumer: a frame could not be sent within send_timeout (0.5s): letting it go" in caplog.text


async def test_a_channel_that_falls_behind_stops_the_server_reading_its_client_and_nothing_is_lost() -> None:
    app = make_app(max_mailbox=10)
    topic = f"held:{uuid.uuid4().hex}"  # MAILBOX_PEAK lasts as long as the process
    HOLD.clear()
    sends = 400  # 25 MiB in 64 KiB pushes: more than the socket buffers between them hold
    try:
        with serve_uvicorn(app) as address:
            async with ws_client(address) as client:
                await client.join(topic)
                await client.send("1", "h", topic, "hold", {})
                data = BIG[: 64 * 1024]

                async def push_all() -> None:
                    for n in range(sends):
                        await client.send("1", str(n), topic, "echo", {"n": n, "data": data})

                pushing = asyncio.create_task(push_all())

                def mailbox() -> int:
                    return sum(len(p.mailbox) for p in app.runtime.channels if p.socket.topic == topic)

                # Blocked: the channel's mailbox is full and the client cannot write any more.
                await eventually(
                    lambda: pushing.done() or (mailbox() == 10 and client.ws.transport.get_write_buffer_size() > 0),
                    "the client's writes to back up",
                )
                assert not pushing.done(), "the server read every push into memory while its channel was held"
                HOLD.set()
                # All pushes go in before any reply is read: the replies (16 KB) wait in the socket.
                await asyncio.wait_for(pushing, PUSHES_WITHIN)
                replies = [(await client.receive())[4]["response"]["n"] for _ in range(sends)]
        assert replies == list(range(sends))
        assert MAILBOX_PEAK[topic] <= 10
    finally:
        HOLD.set()
