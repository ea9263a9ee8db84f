"""The adapter's own Redis protocol client: URLs, every kind of reply, and logging in to a real server."""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import anyio.abc
import pytest
from redis_server import running_redis

from pytest_channels import Broadcast, BrokerUnreachable, PubSub
from pytest_channels._runtime._redis import Address, RespConnection, RespError, encode
from pytest_channels.redis import RedisAdapter


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("redis://localhost", Address("localhost", 6379, None, False, None, None)),
        ("redis://:p%40ss@10.0.0.1:7000/3", Address("10.0.0.1", 7000, None, False, None, "p@ss")),
        ("rediss://app:secret@cache.example:6380/0", Address("cache.example", 6380, None, True, "app", "secret")),
        ("unix:///run/redis.sock", Address(None, 6379, "/run/redis.sock", False, None, None)),
        ("unix://us%40r:p%40ss@/run/redis.sock", Address(None, 6379, "/run/redis.sock", False, "us@r", "p@ss")),
    ],
)
def test_a_url_names_where_the_server_is_and_how_to_log_in(url: str, address: Address) -> None:
    assert Address.parse(url) == address


@pytest.mark.parametrize("url", ["http://localhost", "redis://", "redis://host:port/0", "unix://", 42])
def test_a_url_that_is_not_redis_is_refused_when_the_adapter_is_made(url: object) -> None:
    with pytest.raises(ValueError, match=r"^not a Redis URL: .*; expected redis://host:port/db$"):
        RedisAdapter(url)  # type: ignore[arg-type]


class Replies(anyio.abc.ByteStream):
    """A server that answers with fixed bytes, in the chunks given, and remembers what it was sent."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.sent = b""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self.chunks:
            raise anyio.EndOfStream
        return self.chunks.pop(0)

    async def send(self, item: bytes) -> None:
        self.sent += item

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


@pytest.mark.anyio
async def test_every_kind_of_reply_is_read_even_when_it_arrives_in_pieces() -> None:
    stream = Replies(b"+OK\r\n-ERR no\r\n:4", b"2\r\n$5\r\nhe", b"llo\r\n$-1\r\n*2\r\n*1\r\n:1\r\n$0\r\n\r\n*-1\r\n")
    connection = RespConnection(stream)
    replies = [await connection.read() for _ in range(7)]
    assert replies[0] == "OK"
    assert isinstance(replies[1], RespError)
    assert str(replies[1]) == "ERR no"
    assert replies[2:] == [42, b"hello", None, [[1], b""], None]


@pytest.mark.anyio
async def test_a_command_is_sent_as_bulk_strings_and_an_error_reply_raises() -> None:
    stream = Replies(b"-WRONGTYPE bad\r\n")
    with pytest.raises(RespError, match=r"^WRONGTYPE bad$"):
        await RespConnection(stream).command("PUBLISH", "room", b"\x00data")
    assert (
        stream.sent
        == encode("PUBLISH", "room", b"\x00data")
        == b"*3\r\n$7\r\nPUBLISH\r\n$4\r\nroom\r\n$5\r\n\x00data\r\n"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("garbage", [b"?what\r\n", b":many\r\n"])
async def test_bytes_that_are_not_redis_are_an_error_naming_them(garbage: bytes) -> None:
    with pytest.raises(RespError, match=r"^not a Redis reply: b'"):
        await RespConnection(Replies(garbage)).read()


@pytest.mark.anyio
async def test_a_password_in_the_url_logs_in_and_a_wrong_one_is_refused_clearly(tmp_path: Path) -> None:
    with running_redis(tmp_path) as server:
        admin = await RespConnection.open(Address.parse(server.url))
        assert await admin.command("CONFIG", "SET", "requirepass", "s3cret") == "OK"
        await admin.aclose()
        channel = f"auth-{uuid.uuid4().hex}"
        host = server.url.removeprefix("redis://")

        wrong = RedisAdapter(f"redis://:nope@{host}", channel=channel)
        with pytest.raises(BrokerUnreachable, match=r"^could not connect to Redis at redis://:\*\*\*@.* RespError: "):
            async with wrong.connect(PubSub(wrong)):
                pass

        right = RedisAdapter(f"redis://:s3cret@{host}", channel=channel, node_name="a")
        other = RedisAdapter(f"redis://default:s3cret@{host}", channel=channel, node_name="b")
        got: list[Broadcast] = []
        arrived = anyio.Event()

        class Listener:
            def receive_broadcast(self, broadcast: Broadcast) -> None:
                got.append(broadcast)
                arrived.set()

        hearing = PubSub(other)
        hearing.subscribe("t", Listener())
        async with right.connect(PubSub(right)) as adapter, other.connect(hearing):
            adapter.publish(Broadcast("t", "e", {"x": 1}))
            with anyio.fail_after(10):  # real-time: a real server delivers
                await arrived.wait()
    assert [(b.origin, b.payload) for b in got] == [("a", {"x": 1})]
