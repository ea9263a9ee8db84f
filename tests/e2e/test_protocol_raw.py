"""Phoenix's protocol over a real WebSocket, frame by frame, with a hand-written client.

The official client is tested in test_phoenix_js.py; here a raw client sends exactly the
frames Phoenix's own socket tests send, including the ones phoenix.js never would. What
the protocol says regardless of the transport runs over LongPoll too (the `transport`
fixture); what is the WebSocket's own (close codes, subprotocols, binary frames) does not.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest
from e2e_app import TERMINATED, make_app
from e2e_servers import WAIT, RawClient, eventually, raw_client, serve_uvicorn
from websockets.exceptions import InvalidStatus

from pytest_channels import Reason
from pytest_channels.testing import Partial

pytestmark = pytest.mark.asyncio  # the websockets client runs on asyncio


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_uvicorn(make_app()) as address:
        yield address


@pytest.fixture(params=["websocket", "longpoll"])
def transport(request: pytest.FixtureRequest) -> str:
    """The transport of the tests that hold for both: phoenix.js's WebSocket, and its LongPoll."""
    return str(request.param)


_first = [0]  # where this test's entries in TERMINATED start


@pytest.fixture(autouse=True)
def _mark_terminated() -> None:
    _first[0] = len(TERMINATED)


def terminated(topic: str) -> list[tuple[str | None, Reason]]:
    """(join_ref, reason) of the EchoChannels that stopped on `topic` during this test."""
    return [(join_ref, reason) for stopped, join_ref, reason in TERMINATED[_first[0] :] if stopped == topic]


async def test_a_heartbeat_is_answered_with_an_ok_reply_without_join_ref(server: str, transport: str) -> None:
    async with raw_client(server, transport=transport) as client:
        await client.send(None, "5", "phoenix", "heartbeat", {})
        assert await client.receive() == [None, "5", "phoenix", "phx_reply", {"status": "ok", "response": {}}]


async def test_connect_params_come_from_the_query_string_and_a_join_is_answered_with_its_reply(
    server: str, transport: str
) -> None:
    async with raw_client(server, query="vsn=2.0.0&user=ada", transport=transport) as client:
        reply = await client.join("echo:lobby", {"color": "red"})
    assert reply == [
        "1",
        "1",
        "echo:lobby",
        "phx_reply",
        {"status": "ok", "response": {"topic": "echo:lobby", "user": "ada", "params": {"color": "red"}}},
    ]


async def test_the_join_reply_comes_before_what_the_channel_sends_right_after_joining(
    server: str, transport: str
) -> None:
    async with raw_client(server, transport=transport) as client:
        reply = await client.join("echo:greet", {"greet": True})
        pushed = await client.receive()
    assert reply[3:] == ["phx_reply", {"status": "ok", "response": Partial(topic="echo:greet")}]
    assert pushed == ["1", None, "echo:greet", "welcome", {"topic": "echo:greet"}]


async def test_a_join_without_join_ref_joins_under_its_ref_as_in_phoenix(server: str, transport: str) -> None:
    async with raw_client(server, transport=transport) as client:
        await client.send(None, "4", "echo:no-join-ref", "phx_join", {})
        assert (await client.receive())[:4] == [None, "4", "echo:no-join-ref", "phx_reply"]
        await client.send(None, "5", "echo:no-join-ref", "push", {"x": 1})
        assert await client.receive() == ["4", None, "echo:no-join-ref", "pushed", {"x": 1}]


async def test_a_refused_join_replies_error_with_the_channels_reply(server: str, transport: str) -> None:
    async with raw_client(server, transport=transport) as client:
        reply = await client.join("echo:x", {"refuse": True})
    assert reply == ["1", "1", "echo:x", "phx_reply", {"status": "error", "response": {"reason": "refused on request"}}]


async def test_a_join_that_raises_replies_join_crashed(
    server: str, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with raw_client(server, transport=transport) as client:
        reply = await client.join("echo:x", {"crash": True})
    assert reply[4] == {"status": "error", "response": {"reason": "join crashed"}}
    assert "EchoChannel.join crashed on topic 'echo:x'" in caplog.text


async def test_joining_a_topic_without_a_route_replies_unmatched_topic_without_join_ref(
    server: str, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with raw_client(server, transport=transport) as client:
        reply = await client.join("nowhere")
    assert reply == [None, "1", "nowhere", "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}]
    assert "no channel route for topic 'nowhere'" in caplog.text


async def test_a_push_before_join_replies_unmatched_topic(
    server: str, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with raw_client(server, transport=transport) as client:
        await client.send("1", "2", "echo:a", "echo", {"n": 1})
        reply = await client.receive()
    assert reply == [None, "2", "echo:a", "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}]
    assert "'echo' on 'echo:a', which it has not joined: unmatched topic" in caplog.text


async def test_a_push_gets_its_reply_and_a_server_push_carries_the_join_ref_and_no_ref(
    server: str, transport: str
) -> None:
    async with raw_client(server, transport=transport) as client:
        await client.join("echo:a", join_ref="7")
        await client.send("7", "8", "echo:a", "echo", {"n": [1, 2.5, None, True, "é"]})
        assert await client.receive() == [
            "7",
            "8",
            "echo:a",
            "phx_reply",
            {"status": "ok", "response": {"n": [1, 2.5, None, True, "é"]}},
        ]
        await client.send("7", "9", "echo:a", "push", {"x": 1})
        assert await client.receive() == ["7", None, "echo:a", "pushed", {"x": 1}]


async def test_a_broadcast_reaches_every_subscriber_and_handle_out_filters_intercepted_events(
    server: str, transport: str
) -> None:
    async with raw_client(server, transport=transport) as first, raw_client(server, transport=transport) as second:
        await first.join("echo:room")
        await second.join("echo:room", join_ref="4")
        await first.send("1", "2", "echo:room", "broadcast", {"event": "news", "payload": {"n": 1}})
        assert await first.receive() == [None, None, "echo:room", "news", {"n": 1}]
        assert await second.receive() == [None, None, "echo:room", "news", {"n": 1}]

        for keep in (False, True):
            await first.send("1", "3", "echo:room", "broadcast", {"event": "filtered", "payload": {"keep": keep}})
        # handle_out dropped the first and pushed the second itself, with each channel's join_ref.
        assert await first.receive() == ["1", None, "echo:room", "filtered", {"keep": True, "seen_by": "handle_out"}]
        assert await second.receive() == ["4", None, "echo:room", "filtered", {"keep": True, "seen_by": "handle_out"}]


async def test_a_crash_sends_phx_error_with_the_join_ref_as_ref(
    server: str, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with raw_client(server, transport=transport) as client:
        await client.join("echo:a", join_ref="3")
        await client.send("3", "4", "echo:a", "crash", {})
        assert await client.receive() == ["3", "3", "echo:a", "phx_error", {"reason": "channel_crash"}]
        await client.send("3", "5", "echo:a", "echo", {})  # the channel is gone
        assert (await client.receive())[4] == {"status": "error", "response": {"reason": "unmatched topic"}}
    assert "EchoChannel (topic 'echo:a') crashed in handle_in('crash')" in caplog.text


async def test_a_server_side_stop_replies_then_sends_phx_close(server: str, transport: str) -> None:
    async with raw_client(server, transport=transport) as client:
        await client.join("echo:raw-stop", join_ref="3")
        await client.send("3", "4", "echo:raw-stop", "stop", {})
        assert await client.receive() == [
            "3",
            "4",
            "echo:raw-stop",
            "phx_reply",
            {"status": "ok", "response": {"stopping": True}},
        ]
        assert await client.receive() == ["3", "3", "echo:raw-stop", "phx_close", {}]
    assert terminated("echo:raw-stop") == [("3", "normal")]


async def test_a_leave_replies_ok_then_closes_and_leaving_an_unknown_topic_replies_ok(
    server: str, transport: str
) -> None:
    async with raw_client(server, transport=transport) as client:
        await client.join("echo:raw-leave", join_ref="3")
        await client.send("3", "4", "echo:raw-leave", "phx_leave", {})
        assert await client.receive() == ["3", "4", "echo:raw-leave", "phx_reply", {"status": "ok", "response": {}}]
        assert await client.receive() == ["3", "3", "echo:raw-leave", "phx_close", {}]
        await client.send("9", "10", "echo:never", "phx_leave", {})
        assert await client.receive() == ["9", "10", "echo:never", "phx_reply", {"status": "ok", "response": {}}]
    assert terminated("echo:raw-leave") == [("3", ("shutdown", "left"))]


async def test_a_duplicate_join_stops_the_old_channel_without_terminate_and_sends_its_phx_close_after_the_new_reply(
    server: str, transport: str
) -> None:
    topic = f"echo:raw-dup-{transport}"  # the previous run's channel stops as its client leaves, maybe late
    async with raw_client(server, transport=transport) as client:
        await client.join(topic, join_ref="1")
        new_reply = await client.join(topic, join_ref="2")
        assert new_reply[:4] == ["2", "2", topic, "phx_reply"]
        assert new_reply[4]["status"] == "ok"
        assert await client.receive() == ["1", "1", topic, "phx_close", {}]
        await client.send("2", "3", topic, "echo", {"alive": True})
        assert (await client.receive())[:2] == ["2", "3"]
        # Phoenix sends the old channel an exit signal ({:shutdown, :duplicate_join}), which a channel
        # that does not trap exits dies of without its terminate.
        assert terminated(topic) == []


async def test_frames_with_a_stale_join_ref_are_dropped_and_a_null_join_ref_is_accepted(
    server: str, transport: str
) -> None:
    async with raw_client(server, transport=transport) as client:
        await client.join("echo:a", join_ref="5")
        await client.send("4", "6", "echo:a", "echo", {"stale": True})
        await client.send("4", "7", "echo:a", "phx_leave", {})
        await client.send(None, "8", "echo:a", "echo", {"stale": False})
        # Only the last one is answered: the stale push and the stale leave left no trace.
        assert await client.receive() == [
            "5",
            "8",
            "echo:a",
            "phx_reply",
            {"status": "ok", "response": {"stale": False}},
        ]


async def test_the_101st_channel_on_one_connection_is_refused_and_other_connections_carry_on(
    server: str, transport: str
) -> None:
    async with raw_client(server, transport=transport) as flood, raw_client(server, transport=transport) as bystander:
        for n in range(120):
            await flood.send(str(n), str(n), f"echo:{n}", "phx_join", {})
        await bystander.send(None, "1", "phoenix", "heartbeat", {})
        assert (await bystander.receive())[3] == "phx_reply"  # answered while the flood is handled
        replies = [await flood.receive() for _ in range(120)]
    assert [r[4]["status"] for r in replies] == ["ok"] * 100 + ["error"] * 20
    assert replies[100] == [
        "100",
        "100",
        "echo:100",
        "phx_reply",
        {"status": "error", "response": {"reason": "too many channels joined"}},
    ]


async def test_a_disconnect_broadcast_on_the_socket_id_closes_with_1001_and_stops_its_channels(
    server: str, transport: str
) -> None:
    async with (
        raw_client(server, query="vsn=2.0.0&user=bob", transport=transport) as bob,
        raw_client(server, transport=transport) as other,
    ):
        # Topics of this transport's own: the channel the previous run's `other` had may stop
        # (closed, as its client left) after this run began counting.
        bob_topic, other_topic = f"echo:bob-{transport}", f"echo:other-{transport}"
        await bob.join(bob_topic)
        await other.join(other_topic)
        await other.send("1", "2", other_topic, "disconnect", {})  # no socket id: disconnects nobody
        await bob.send("1", "2", bob_topic, "disconnect", {})
        # LongPoll learns of the end at its next poll: phoenix.js then closes with its own 3410.
        expected = {"websocket": (1001, "disconnected"), "longpoll": (3410, "session_gone")}[transport]
        assert await bob.closed() == expected
        await other.send(None, "3", "phoenix", "heartbeat", {})
        assert (await other.receive())[1] == "3"
        await eventually(lambda: bool(terminated(bob_topic)), "bob's channel to stop")
        assert terminated(bob_topic) == [("1", ("shutdown", "closed"))]
        assert terminated(other_topic) == []


async def test_a_client_that_goes_away_stops_its_channels_with_closed(server: str) -> None:
    async with raw_client(server) as client:
        await client.join("echo:gone")
    await eventually(lambda: bool(terminated("echo:gone")), "the channel to stop")
    assert terminated("echo:gone") == [("1", ("shutdown", "closed"))]


async def test_the_auth_token_subprotocol_reaches_connect_info(server: str) -> None:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    protocols = [Subprotocol("phoenix"), Subprotocol("base64url.bearer.phx.c2VjcmV0")]  # "secret"
    async with connect(f"ws://{server}/protocol/websocket?vsn=2.0.0", subprotocols=protocols) as ws:
        assert ws.subprotocol == "phoenix"
        await ws.send(json.dumps(["1", "1", "echo:a", "phx_join", {}]))
        assert json.loads(await ws.recv())[4]["status"] == "ok"


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        ("vsn=3.0.0", "requested transport version '3.0.0' does not match the server's requirements (~> 1.0.0"),
        ("vsn=2.1.0", "requested transport version '2.1.0' does not match"),
        ("vsn=2.0.0-rc.1", "requested transport version '2.0.0-rc.1' does not match"),
        ("vsn=2.0", "the client sent an invalid transport version '2.0' (expected a version such as 2.0.0)"),
        ("vsn=2.0.0&refuse=1", "refused by ProtocolSocket.connect: {}"),
    ],
    ids=["unknown major", "unknown minor", "a pre-release", "not semver", "connect refuses"],
)
async def test_a_refused_connection_gets_http_403_and_a_log_line(
    server: str, query: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "pytest_channels")
    with pytest.raises(InvalidStatus) as refused:
        async with raw_client(server, query=query):
            pass
    assert refused.value.response.status_code == 403
    assert logged in caplog.text


async def test_an_unknown_path_is_refused(server: str) -> None:
    with pytest.raises(InvalidStatus):
        async with raw_client(server, path="/elsewhere"):
            pass


async def test_an_error_of_the_server_closes_only_that_connection_with_1011_and_its_traceback(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with raw_client(server, path="/broken") as broken, raw_client(server) as bystander:
        await broken.send("1", "1", "room:1", "phx_join", {})
        assert await broken.closed() == (1011, "internal error")
        await bystander.send(None, "2", "phoenix", "heartbeat", {})
        assert (await bystander.receive())[1] == "2"
    assert "handling a frame raised" in caplog.text
    assert "RuntimeError: routing 'room:1' is broken" in caplog.text


BAD_FRAMES = {
    "not JSON": ("[1, 2", "not JSON"),
    "an object": ('{"topic": "echo:a"}', "expected [join_ref, ref, topic, event, payload]"),
    "four elements": ('["1", "1", "echo:a", "phx_join"]', "expected [join_ref, ref, topic, event, payload]"),
    "a number as topic": ('["1", "1", 5, "phx_join", {}]', "topic and event must be strings"),
    "a number as ref": ('["1", 1, "echo:a", "phx_join", {}]', "ref must be a string or null, got 1"),
    "a list as payload": ('["1", "1", "echo:a", "phx_join", [1]]', "the payload must be a JSON object"),
    "NaN": ('["1", "1", "echo:a", "phx_join", {"n": NaN}]', "NaN is not JSON"),
    "a number too big for a float": ('["1", "1", "echo:a", "phx_join", {"n": 1e999}]', "out of range for a float"),
    "JSON nested too deeply": ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
    "a binary frame too short": (b"\x00\x01", "shorter than its header"),
    "a binary reply from a client": (b"\x01\x00\x00\x00\x00", "a client may only send kind 0"),
    "binary sizes past the end": (b"\x00\x09\x01\x01\x01abc", "its sizes run past the end"),
    "a binary topic that is not UTF-8": (b"\x00\x00\x00\x02\x01\xff\xfex", "a field is not UTF-8"),
}


@pytest.mark.parametrize(("frame", "logged"), list(BAD_FRAMES.values()), ids=list(BAD_FRAMES))
async def test_a_malformed_frame_closes_only_its_connection_with_1007_and_a_log_line(
    server: str, frame: str | bytes, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with raw_client(server) as bad, raw_client(server) as bystander:
        await bystander.join("echo:bystander")
        await bad.send_raw(frame)
        assert await bad.closed() == (1007, "invalid frame")
        await bystander.send("1", "2", "echo:bystander", "echo", {"still": "here"})
        assert (await bystander.receive())[4] == {"status": "ok", "response": {"still": "here"}}
    assert logged in caplog.text


async def test_a_frame_over_max_frame_size_closes_with_1009(caplog: pytest.LogCaptureFixture) -> None:
    with serve_uvicorn(make_app(max_frame_size=1000)) as address:
        async with raw_client(address) as client:
            await client.join("echo:a")
            await client.send("1", "2", "echo:a", "echo", {"fits": "x" * 900})
            assert (await client.receive())[1] == "2"
            await client.send("1", "3", "echo:a", "echo", {"too big": "é" * 600})  # 1200 bytes of UTF-8
            assert await client.closed() == (1009, "frame too big")
    assert "a frame over max_frame_size (1000 bytes)" in caplog.text


async def test_a_join_that_never_answers_is_refused_after_the_join_timeout_and_the_connection_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serve_uvicorn(make_app(join_timeout=0.2)) as address:  # real time: the join timeout is a real-time guard
        async with raw_client(address) as client:
            reply = await client.join("echo:hang", {"hang": True})
            await client.send(None, "2", "phoenix", "heartbeat", {})
            assert (await client.receive())[1] == "2"
    assert reply == ["1", "1", "echo:hang", "phx_reply", {"status": "error", "response": {"reason": "join timeout"}}]
    assert "EchoChannel.join on 'echo:hang' took over 0.2s" in caplog.text


async def test_max_channels_is_configurable() -> None:
    with serve_uvicorn(make_app(max_channels=2)) as address:
        async with raw_client(address) as client:
            statuses = [(await client.join(f"echo:{n}", join_ref=str(n)))[4]["status"] for n in range(3)]
    assert statuses == ["ok", "ok", "error"]


async def test_a_silent_connection_is_closed_after_the_idle_timeout_and_a_talking_one_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "pytest_channels")
    with serve_uvicorn(make_app(idle_timeout=0.5)) as address:
        async with raw_client(address) as silent, raw_client(address) as talking:
            for ref in range(8):  # 8 x 0.1 s of heartbeats outlive the silent one's 0.5 s
                await asyncio.sleep(0.1)  # real-time: the idle timeout is a real-time server guard
                await talking.send(None, str(ref), "phoenix", "heartbeat", {})
                await talking.receive()
            assert await silent.closed() == (1001, "idle timeout")
            assert isinstance(talking, RawClient)
            assert talking.ws.close_code is None
    assert "closed after 0.5s without a frame" in caplog.text


async def test_binary_payloads_travel_in_binary_frames_both_ways(server: str) -> None:
    async with raw_client(server) as client, raw_client(server) as listener:
        await client.join("echo:bin", join_ref="1")
        await listener.join("echo:bin", join_ref="1")
        # A client binary push: kind 0, sizes of join_ref, ref, topic, event, then the data.
        await client.send_raw(b"\x00\x01\x01\x08\x06" + b"12echo:binbinary" + b"\x01\x02\x03")
        assert await client.receive() == b"\x01\x01\x01\x08\x02" + b"12echo:binok" + b"\x03\x02\x01"
        await client.send("1", "3", "echo:bin", "push_binary", {})
        assert await client.receive() == b"\x00\x01\x08\x03" + b"1echo:binraw" + b"\x00\x01\xff"
        await client.send("1", "4", "echo:bin", "broadcast", {"event": "news", "payload": {"x": 1}})
        assert await listener.receive() == [None, None, "echo:bin", "news", {"x": 1}]
    assert WAIT > 0


async def test_check_origin_refuses_a_page_from_another_site(caplog: pytest.LogCaptureFixture) -> None:
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    with serve_uvicorn(make_app(check_origin=["https://good.example"])) as address:
        url = f"ws://{address}/protocol/websocket?vsn=2.0.0"
        async with connect(url, origin=Origin("https://good.example")) as ws:
            await ws.send(json.dumps([None, "1", "phoenix", "heartbeat", {}]))
            assert json.loads(await ws.recv())[1] == "1"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, origin=Origin("https://evil.example")):
                pass
    assert refused.value.response.status_code == 403
    assert "origin 'https://evil.example' is not allowed (check_origin)" in caplog.text


@pytest.mark.parametrize("query", ["", "vsn=1.0.0", "vsn=1.0.7"], ids=["no vsn", "1.0.0", "a later patch"])
async def test_a_v1_client_speaks_json_objects_and_never_receives_a_join_ref(
    server: str, transport: str, query: str
) -> None:
    async with raw_client(server, query=f"{query}&user=v1", transport=transport) as client:
        join = {"topic": "echo:v1", "event": "phx_join", "payload": {}, "ref": "1", "join_ref": "1"}
        await client.send_raw(json.dumps(join))
        reply = {"status": "ok", "response": {"topic": "echo:v1", "user": "v1", "params": {}}}
        assert await client.receive() == {"topic": "echo:v1", "event": "phx_reply", "payload": reply, "ref": "1"}
        await client.send_raw(json.dumps({"topic": "echo:v1", "event": "push", "payload": {"n": 1}, "ref": "2"}))
        assert await client.receive() == {"topic": "echo:v1", "event": "pushed", "payload": {"n": 1}, "ref": None}
        await client.send_raw(json.dumps({"topic": "echo:v1", "event": "crash", "payload": {}, "ref": "3"}))
        error = {"topic": "echo:v1", "event": "phx_error", "payload": {"reason": "channel_crash"}, "ref": "1"}
        assert await client.receive() == error


async def test_a_v1_broadcast_and_a_v2_broadcast_are_each_encoded_for_their_own_client(
    server: str, transport: str
) -> None:
    async with (
        raw_client(server, query="vsn=1.0.0", transport=transport) as old,
        raw_client(server, transport=transport) as new,
    ):
        await old.send_raw(json.dumps({"topic": "echo:mixed", "event": "phx_join", "payload": {}, "ref": "1"}))
        assert (await old.receive())["event"] == "phx_reply"
        assert (await new.join("echo:mixed"))[3] == "phx_reply"
        await new.send("1", "2", "echo:mixed", "broadcast", {"event": "news", "payload": {"n": 1}})
        assert await old.receive() == {"topic": "echo:mixed", "event": "news", "payload": {"n": 1}, "ref": None}
        assert await new.receive() == [None, None, "echo:mixed", "news", {"n": 1}]


@pytest.mark.parametrize(
    ("query", "frame", "logged"),
    [
        ("vsn=1.0.0", '["1","1","echo:x","phx_join",{}]', "list is a V2 frame: connect with vsn=2.0.0"),
        ("vsn=1.0.0", b"\x00\x01", "binary frames are V2 only"),
        ("vsn=2.0.0", '{"topic":"echo:x","event":"phx_join","payload":{},"ref":"1"}', "expected [join_ref, ref"),
    ],
    ids=["V2 on V1", "binary on V1", "V1 on V2"],
)
async def test_a_frame_of_the_other_version_closes_only_its_connection_with_1007(
    server: str, query: str, frame: str | bytes, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with raw_client(server, query=query) as wrong, raw_client(server) as bystander:
        assert (await bystander.join("echo:bystander-v1"))[4]["status"] == "ok"
        await wrong.send_raw(frame)
        assert await wrong.closed() == (1007, "invalid frame")
        assert (await bystander.join("echo:bystander-v1-again"))[4]["status"] == "ok"
    assert logged in caplog.text
