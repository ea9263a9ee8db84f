"""Phoenix's telemetry events, observed through runtime.telemetry, and the OpenTelemetry bridge."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from pytest_channels import Channel, ConnectResult, InResult, JoinResult, Socket, SocketHandler, error, ok, reply
from pytest_channels.testing import ChannelCase

CONNECTED = ("phoenix", "socket_connected")
JOINED = ("phoenix", "channel_joined")
HANDLED_IN = ("phoenix", "channel_handled_in")


class Room(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return error({"reason": "full"}) if topic == "room:full" else ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        await asyncio.sleep(payload.get("work", 0))  # virtual time, not real-time: no real wait
        return reply(socket, "ok", {})


class UserSocket(SocketHandler):
    channels = ()

    def connect(self, params: Mapping[str, Any], socket: Socket, connect_info: Mapping[str, Any]) -> ConnectResult:
        return ok(socket) if params.get("token") == "good" else error()


Seen = list[tuple[tuple[str, ...], Mapping[str, Any], Mapping[str, Any]]]


def observe(channels: ChannelCase) -> Seen:
    seen: Seen = []
    channels.runtime.telemetry.attach("test", [CONNECTED, JOINED, HANDLED_IN], lambda *event: seen.append(event))
    return seen


def test_connect_join_and_handle_in_emit_phoenixs_events_with_duration_and_metadata(channels: ChannelCase) -> None:
    seen = observe(channels)
    socket = channels.connect(UserSocket, {"token": "good"}, {"peer": "1.2.3.4"}).socket
    channels.connect(UserSocket, {"token": "bad"})
    joined = channels.subscribe_and_join_or_raise(socket, "room:1", {"hello": 1}, channel=Room)
    channels.join(socket, "room:full", channel=Room)
    ref = channels.push(joined, "ping", {"n": 1})
    channels.assert_reply(ref, "ok")

    assert [(event, measurements) for event, measurements, _ in seen] == [
        (CONNECTED, {"duration": 0}),
        (CONNECTED, {"duration": 0}),
        (JOINED, {"duration": 0}),
        (JOINED, {"duration": 0}),
        (HANDLED_IN, {"duration": 0}),
    ]
    connected, refused, join, full, handled = (metadata for _, _, metadata in seen)
    assert connected == {
        "user_socket": UserSocket,
        "params": {"token": "good"},
        "connect_info": {"peer": "1.2.3.4"},
        "result": "ok",
    }
    assert refused["result"] == "error"
    assert (join["params"], join["result"], join["socket"].topic, join["socket"].channel) == (
        {"hello": 1},
        "ok",
        "room:1",
        Room,
    )
    assert full["result"] == "error"
    assert (handled["ref"], handled["event"], handled["params"], handled["socket"].ref) == (ref, "ping", {"n": 1}, ref)


@pytest.mark.channels(virtual_loop=True)
def test_durations_are_runtime_time(channels: ChannelCase) -> None:
    seen = observe(channels)
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Room)
    channels.assert_reply(channels.push(socket, "work", {"work": 1.5}), "ok", timeout=2)
    assert seen[-1][:2] == (HANDLED_IN, {"duration": 1_500_000_000})


def test_a_handler_that_raises_is_detached_and_logged_and_the_channel_carries_on(
    channels: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*event: Any) -> None:
        raise RuntimeError("observer bug")

    channels.runtime.telemetry.attach("broken", JOINED, broken)
    channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Room)
    channels.subscribe_and_join_or_raise(channels.socket(), "room:2", channel=Room)
    assert channels.runtime.telemetry.handlers() == []
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failures] == [
        "telemetry handler 'broken' failed on event ('phoenix', 'channel_joined') and was detached"
    ]


def test_attach_refuses_a_second_handler_with_the_same_id_and_detach_says_whether_it_was_there(
    channels: ChannelCase,
) -> None:
    telemetry = channels.runtime.telemetry
    telemetry.attach("a", JOINED, lambda *event: None)
    with pytest.raises(ValueError, match=r"^a telemetry handler 'a' is attached already; detach it first$"):
        telemetry.attach("a", HANDLED_IN, lambda *event: None)
    assert telemetry.handlers(JOINED) == ["a"]
    assert telemetry.detach("a") is True
    assert telemetry.detach("a") is False
    assert not telemetry.observed(JOINED)


def test_an_event_must_be_a_tuple_of_strings(channels: ChannelCase) -> None:
    with pytest.raises(TypeError, match=r"an event is a tuple of strings.*\(got 'phoenix.channel_joined'\)"):
        channels.runtime.telemetry.attach("x", ["phoenix.channel_joined"], lambda *event: None)  # type: ignore[list-item]


# -- OpenTelemetry -----------------------------------------------------------------------------


def test_the_opentelemetry_bridge_records_a_span_per_event_in_virtual_wall_time(channels: ChannelCase) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from pytest_channels.opentelemetry import instrument

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handler_id = instrument(channels.runtime, tracer_provider=provider)

    socket = channels.connect(UserSocket, {"token": "good"}).socket
    channels.advance(2)
    joined = channels.subscribe_and_join_or_raise(socket, "room:1", channel=Room)
    ref = channels.push(joined, "ping")
    channels.assert_reply(ref, "ok")
    channels.runtime.telemetry.detach(handler_id)
    channels.push(joined, "ping")
    channels.settle()

    spans = exporter.get_finished_spans()
    start = int(channels.settings.wall_start.timestamp()) * 1_000_000_000
    assert [(s.name, s.start_time, s.end_time) for s in spans] == [
        ("UserSocket.connect", start, start),
        ("Room.join", start + 2_000_000_000, start + 2_000_000_000),
        ("Room.handle_in ping", start + 2_000_000_000, start + 2_000_000_000),
    ]
    assert dict(spans[0].attributes or {}) == {"phoenix.socket": "UserSocket", "phoenix.result": "ok"}
    assert dict(spans[1].attributes or {}) == {
        "phoenix.channel": "Room",
        "phoenix.topic": "room:1",
        "phoenix.join_ref": joined.join_ref,
        "phoenix.result": "ok",
    }
    assert dict(spans[2].attributes or {}) == {
        "phoenix.channel": "Room",
        "phoenix.topic": "room:1",
        "phoenix.join_ref": joined.join_ref,
        "phoenix.event": "ping",
        "phoenix.ref": ref,
    }


@pytest.mark.channels(virtual_loop=True)
def test_a_span_lasts_as_long_as_the_work_did(channels: ChannelCase) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from pytest_channels.opentelemetry import instrument

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(channels.runtime, tracer_provider=provider)
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Room)
    channels.assert_reply(channels.push(socket, "work", {"work": 0.25}), "ok", timeout=1)
    span = exporter.get_finished_spans()[-1]
    assert (span.name, (span.end_time or 0) - (span.start_time or 0)) == ("Room.handle_in work", 250_000_000)
