"""The `wire` setting: the harness's messages cross the real V2 serializer, both ways.

Each test shows a payload that passes without the wire and fails (or changes) with it,
because a real `ChannelsApp` connection to phoenix.js would change or refuse it.
"""

from __future__ import annotations

import datetime as dt
import enum
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple
from unittest.mock import ANY

import anyio
import pytest

from pytest_channels import (
    Channel,
    Close,
    ConnectResult,
    Error,
    InResult,
    JoinResult,
    Ok,
    PayloadError,
    Reply,
    Socket,
    SocketHandler,
    noreply,
    ok,
    reply,
    route,
)
from pytest_channels.testing import ChannelCase, ChannelCrashed, Settings, Where

ROOT = Path(__file__).parents[2]

seen: list[Any] = []


class Color(enum.StrEnum):
    RED = "red"


class Point(NamedTuple):
    x: int
    y: int


@pytest.fixture(autouse=True)
def _reset() -> None:
    seen.clear()


class Counter(SocketHandler):
    def connect(self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]) -> ConnectResult:
        seen.append(params)
        return ok(socket)


class Ledger(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        seen.append(payload)
        return ok(socket, {"joined": topic})

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        match event:
            case "echo":
                return reply(socket, "ok", payload)
            case "big":
                self.push("balance", {"cents": 2**60})
            case "when":
                return reply(socket, "ok", {"at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)})
            case "surrogate":
                return reply(socket, "ok", {"text": "\ud800"})
            case "bytes":
                return reply(socket, "ok", bytes(payload))
            case "subclasses":
                return reply(socket, "ok", {"color": Color.RED, Color.RED: Point(1, 2)})
            case "big point":
                return reply(socket, "ok", {"at": Point(2**60, 0)})
        return noreply(socket)


def join(channels: ChannelCase, topic: str = "ledger:1") -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(), topic, channel=Ledger)


@pytest.mark.channels(wire=True)
def test_connect_params_arrive_as_the_strings_of_a_query_string_with_the_protocol_version(
    channels: ChannelCase,
) -> None:
    channels.connect(Counter, {"user_id": 42, "admin": True, "team": {"id": 7}, "none": None})
    assert seen == [{"user_id": "42", "admin": "true", "team[id]": "7", "vsn": "2.0.0"}]


def test_without_the_wire_connect_params_keep_their_python_values(channels: ChannelCase) -> None:
    channels.connect(Counter, {"user_id": 42})
    assert seen == [{"user_id": 42}]


@pytest.mark.channels(wire=True)
def test_join_payloads_pushes_and_replies_survive_the_round_trip(channels: ChannelCase) -> None:
    socket = join(channels)
    payload = {"n": 1, "x": 1.5, "tags": ("a", "b"), 3: None, "nested": {"ok": True}, "text": "é✓"}
    ref = channels.push(socket, "echo", payload)
    channels.assert_reply(
        ref, "ok", {"n": 1, "x": 1.5, "tags": ["a", "b"], "3": None, "nested": {"ok": True}, "text": "é✓"}
    )
    assert seen == [{}]


@pytest.mark.parametrize("wire", [False, True], ids=["without the wire", "over the wire"])
def test_a_str_enum_and_a_named_tuple_cross_as_the_text_and_the_array_json_makes_of_them(wire: bool) -> None:
    # The server encodes a reply from the channel's dict as it is; the harness must agree with it.
    with ChannelCase(Settings(wire=wire)) as channels:
        ref = channels.push(join(channels), "subclasses")
        reply = channels.assert_reply(ref, "ok", {"color": "red", "red": [1, 2]})
        assert [type(value) for value in (reply.payload["color"], *reply.payload, reply.payload["red"])] == [
            str,
            str,
            str,
            list,
        ]


@pytest.mark.channels(wire=True)
def test_a_binary_reply_crosses_as_bytes(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.assert_reply(channels.push(socket, "bytes", b"\x00\xff"), "ok", b"\x00\xff")


@pytest.mark.channels(wire=True)
def test_an_integer_javascript_would_round_crashes_the_channel_that_pushes_it(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "big")
    exit = channels.assert_exit(socket, Where(lambda reason: isinstance(reason, PayloadError)))
    assert "payload['cents'] = 1152921504606846976 is beyond JavaScript's safe integers" in str(exit.reason)
    assert "phoenix.js would receive it rounded" in str(exit.reason)


@pytest.mark.channels(wire=True)
def test_an_integer_javascript_would_round_in_a_tuple_of_a_reply_crashes_the_channel_too(channels: ChannelCase) -> None:
    # A reply's dict goes to the connection as the channel gave it (no to_wire copy first), tuples and all.
    socket = join(channels)
    channels.push(socket, "big point")
    exit = channels.assert_exit(socket, Where(lambda reason: isinstance(reason, PayloadError)))
    assert "payload['at'][0] = 1152921504606846976 is beyond JavaScript's safe integers" in str(exit.reason)


def test_without_the_wire_the_same_integer_passes(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "big")
    channels.assert_push("balance", {"cents": 2**60})


@pytest.mark.channels(wire=True)
def test_a_lone_surrogate_in_a_reply_fails_the_test_as_the_real_server_would_refuse_it(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "surrogate")
    with pytest.raises(ChannelCrashed) as crashed:
        channels.settle()
    assert isinstance(crashed.value.__cause__, PayloadError)
    assert "cannot be sent as a V2 JSON frame" in str(crashed.value.__cause__)


@pytest.mark.channels(check_payloads=False)
def test_with_payload_checks_off_a_datetime_reaches_the_test_unchanged(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.assert_reply(channels.push(socket, "when"), "ok", {"at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)})


@pytest.mark.channels(check_payloads=False, wire=True)
def test_with_payload_checks_off_the_wire_still_refuses_a_datetime(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "when")
    exit = channels.assert_exit(socket, Where(lambda reason: isinstance(reason, PayloadError)))
    assert "the reply to ref '2' on 'ledger:1' cannot be sent as a V2 JSON frame" in str(exit.reason)
    assert "is not JSON serializable" in str(exit.reason)
    assert "a real connection would refuse this" in str(exit.reason)


@pytest.mark.channels(check_payloads=False, wire=True)
def test_a_push_the_client_could_not_send_is_refused_at_the_push(channels: ChannelCase) -> None:
    socket = join(channels)
    with pytest.raises(PayloadError, match=r"^'echo' on 'ledger:1' cannot be sent as a V2 JSON frame: .*set"):
        channels.push(socket, "echo", {"tags": {1, 2}})


@pytest.mark.channels(wire=True)
def test_a_binary_push_on_a_topic_over_255_bytes_is_refused(channels: ChannelCase) -> None:
    socket = join(channels, topic="ledger:" + "x" * 300)
    with pytest.raises(PayloadError, match=r"a binary frame field must be at most 255 bytes"):
        channels.push(socket, "bytes", b"\x01")


def test_the_chapters_tests_pass_unchanged_through_the_wire() -> None:
    # The seed chapter's own tests, run again with the switch on from the command line.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "examples", "-q", "-p", "no:randomly", "-o", "channels_wire=true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout.splitlines()[-1]


# -- the server's connection state machine, in the unit test ------------------------------------


class Crashy(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "crash":
            raise RuntimeError("crashed on request")
        return reply(socket, "ok", payload)

    def terminate(self, reason: Any, socket: Socket) -> None:
        seen.append((socket.join_ref, reason))


def joined(channels: ChannelCase, socket: Socket, topic: str) -> Socket:
    result = channels.join(socket, topic, channel=Crashy)
    assert isinstance(result, Ok), result
    return result.socket


@pytest.mark.channels(wire=True)
def test_a_duplicate_join_closes_the_old_channel_as_a_real_connection_does(channels: ChannelCase) -> None:
    socket = channels.socket()
    first = channels.join(socket, "dup:1", channel=Crashy)
    second = channels.join(socket, "dup:1", channel=Crashy)
    assert isinstance(first, Ok)
    assert isinstance(second, Ok)
    old = first.socket.join_ref
    # Phoenix's exit signal: the old channel stops without terminate; its Exit says why.
    assert seen == []
    channels.assert_exit("dup:1", ("shutdown", "duplicate_join"))
    # The old join's phx_close comes after the new reply, as Phoenix queues it.
    assert channels.flush() == (Close("dup:1", ("shutdown", "duplicate_join"), old),)
    channels.assert_reply(channels.push(second.socket, "echo", {"n": 1}), "ok", {"n": 1})


@pytest.mark.channels(wire=True)
def test_a_channel_closed_over_the_wire_ends_closed_and_its_connection_can_join_the_topic_again(
    channels: ChannelCase,
) -> None:
    socket = channels.socket()
    first = joined(channels, socket, "closing:1")
    channels.flush()
    assert channels.close(first).reason == ("shutdown", "closed")
    assert channels.mailbox == ()  # the client's side went away: no Close, no crash
    assert channels.exits == ()
    again = joined(channels, socket, "closing:1")
    assert again.join_ref != first.join_ref
    assert channels.get_state(again).topic == "closing:1"


class Slow(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        await anyio.sleep(1)  # not real-time: the test runs on the virtual loop
        seen.append((socket.join_ref, "finished"))
        return reply(socket, "ok", {})


@pytest.mark.channels(wire=True, virtual_loop=True)
def test_a_duplicate_join_cuts_the_old_channels_handler_where_it_waits(channels: ChannelCase) -> None:
    # Phoenix's exit signal ends the old process mid-callback: none of its code runs on.
    socket = channels.socket()
    first = channels.join(socket, "dup:1", channel=Slow)
    assert isinstance(first, Ok)
    channels.push(first.socket, "work", {})
    channels.advance(0.5)  # the old channel's handle_in is in its sleep
    assert isinstance(channels.join(socket, "dup:1", channel=Slow), Ok)
    channels.advance(2)
    assert seen == []
    channels.assert_exit("dup:1", ("shutdown", "duplicate_join"))


def test_without_the_wire_a_duplicate_join_gives_two_channels_as_phoenix_channel_test_does(
    channels: ChannelCase,
) -> None:
    socket = channels.socket()
    first = joined(channels, socket, "dup:1")
    second = joined(channels, socket, "dup:1")
    channels.assert_reply(channels.push(first, "echo", {"n": 1}), "ok", {"n": 1})
    channels.assert_reply(channels.push(second, "echo", {"n": 2}), "ok", {"n": 2})
    assert (seen, channels.exits) == ([], ())


@pytest.mark.channels(wire=True)
def test_a_push_with_a_stale_join_ref_is_dropped_as_a_real_connection_drops_it(channels: ChannelCase) -> None:
    socket = channels.socket()
    first = channels.join(socket, "stale:1", channel=Crashy)
    assert isinstance(first, Ok)
    channels.join(socket, "stale:1", channel=Crashy)
    channels.flush()
    channels.push(first.socket, "echo", {"old": True})
    channels.refute_reply(ANY)


@pytest.mark.channels(wire=True)
def test_after_a_crash_the_exit_stands_for_phx_error_and_a_push_is_an_unmatched_topic(channels: ChannelCase) -> None:
    socket = joined(channels, channels.socket(), "crash:1")
    channels.push(socket, "crash")
    channels.assert_exit(socket, Where(lambda reason: isinstance(reason, RuntimeError)))
    channels.assert_reply(channels.push(socket, "echo"), "error", {"reason": "unmatched topic"})
    rejoined = channels.join(channels.socket(), "crash:1", channel=Crashy)
    assert isinstance(rejoined, Ok)


@pytest.mark.channels(wire=True)
def test_the_101st_channel_on_one_connection_is_refused_as_a_real_connection_refuses_it(
    channels: ChannelCase,
) -> None:
    socket = channels.socket()
    for n in range(100):
        assert isinstance(channels.join(socket, f"many:{n}", channel=Crashy), Ok)
    assert channels.join(socket, "many:100", channel=Crashy) == Error({"reason": "too many channels joined"})
    assert isinstance(channels.join(channels.socket(), "many:100", channel=Crashy), Ok)  # another connection


class Routed(SocketHandler):
    channels = (route("ledger:*", Ledger),)


@pytest.mark.channels(wire=True)
def test_a_join_the_connection_refuses_at_once_still_runs_the_channels_first(channels: ChannelCase) -> None:
    # A join is a wait: what the test sent before it has been handled when it returns, answered at once or not.
    socket = channels.subscribe_and_join_or_raise(channels.socket(Routed), "ledger:1")
    ref = channels.push(socket, "echo", {"n": 1})
    assert channels.join(socket, "elsewhere:1") == Error({"reason": "unmatched topic"})
    assert [m.ref for m in channels.mailbox if isinstance(m, Reply)] == [ref]


class Named(SocketHandler):
    def id(self, socket: Socket) -> str:
        return "user:1"


@pytest.mark.channels(wire=True)
def test_a_disconnect_broadcast_ends_the_connection_and_its_channels_stop_closed(channels: ChannelCase) -> None:
    connected = channels.connect(Named)
    assert isinstance(connected, Ok)
    joined(channels, connected.socket, "room:1")
    channels.runtime.broadcast("user:1", "disconnect", {})
    channels.settle()
    assert seen[-1][1] == ("shutdown", "closed")
    channels.assert_broadcast("disconnect", {}, topic="user:1")
