"""The per-connection state machine on its own, where a real socket cannot make a case happen on demand."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar

import anyio
import pytest

from pytest_channels import (
    Channel,
    InResult,
    JoinResult,
    Push,
    Reason,
    Runtime,
    Socket,
    SocketHandler,
    ok,
    reply,
    route,
)
from pytest_channels._runtime._clock import VirtualClock
from pytest_channels._runtime._process import ChannelProcess
from pytest_channels._runtime._results import Error
from pytest_channels._server._multiplexer import Connection
from pytest_channels._server._serializer import Frame


def test_frames_waiting_for_a_slow_client_are_counted_in_bytes_and_past_the_bound_dropped_with_a_1013(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = Runtime()
    frame = '[null,null,"t","é",{"n":0}]'  # 27 characters, 28 bytes in UTF-8
    connection = Connection(runtime, runtime.socket(), name="a slow client", max_outgoing_bytes=3 * 28)
    for n in range(3):
        connection.deliver(Push("t", "é", {"n": n}))
    assert (connection.close_code, connection.outgoing_bytes) == (None, 3 * len(frame.encode()))
    connection.deliver(Push("t", "é", {"n": 3}))
    assert (connection.close_code, connection.close_reason) == (1013, "slow consumer")
    assert "a slow client: slow consumer: 112 bytes waiting, over max_outgoing_bytes (84)" in caplog.text
    # What waits is dropped: memory is released now, and the close goes out next.
    assert (connection.outgoing_bytes, connection.take_outgoing()) == (0, [])


def test_a_heartbeat_is_answered_through_the_outbox() -> None:
    runtime = Runtime()
    connection = Connection(runtime, runtime.socket())

    connection.handle(Frame(None, "9", "phoenix", "heartbeat", {}))
    assert connection.take_outgoing() == ['[null,"9","phoenix","phx_reply",{"status":"ok","response":{}}]']


def test_a_frame_goes_to_the_transports_send_now_unless_one_waits_before_it_and_the_order_holds() -> None:
    runtime = Runtime()
    connection = Connection(runtime, runtime.socket())
    sent: list[str | bytes] = []
    taking = True

    def send_now(data: str | bytes) -> bool:
        if taking:
            sent.append(data)
        return taking

    connection.send_now = send_now
    connection.deliver(Push("t", "e", {"n": 0}))
    assert (sent, connection.take_outgoing(), connection.outgoing_bytes) == (['[null,null,"t","e",{"n":0}]'], [], 0)
    taking = False  # the transport's send must wait: the frame queues
    connection.deliver(Push("t", "e", {"n": 1}))
    taking = True  # it could take the next one, but that one would overtake the first
    connection.deliver(Push("t", "e", {"n": 2}))
    assert len(sent) == 1
    assert connection.take_outgoing() == ['[null,null,"t","e",{"n":1}]', '[null,null,"t","e",{"n":2}]']


def test_nothing_is_queued_for_a_connection_that_is_gone() -> None:
    runtime = Runtime()
    connection = Connection(runtime, runtime.socket())
    connection.shutdown()
    connection.deliver(Push("t", "e", {}))

    assert connection.take_outgoing() == []


class Room(Channel):
    """Echoes pushes; terminate is recorded."""

    ended: ClassVar[list[Reason]] = []

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket, {"joined": payload.get("n")})

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        return reply(socket, "ok", payload)

    def terminate(self, reason: Reason, socket: Socket) -> None:
        Room.ended.append(reason)


class Rooms(SocketHandler):
    channels = (route("room:*", Room),)


def frames(connection: Connection) -> list[list[Any]]:
    return [json.loads(data) for data in connection.take_outgoing()]


def test_the_state_machine_never_waits_a_join_holds_the_frames_after_it_until_the_channel_answers() -> None:
    runtime = Runtime()
    connection = Connection(runtime, runtime.socket(Rooms))
    woken: list[int] = []
    connection.on_output = lambda: woken.append(len(woken))
    connection.handle(Frame("1", "1", "room:a", "phx_join", {"n": 1}))
    connection.handle(Frame("1", "2", "room:a", "echo", {"x": 1}))
    connection.handle(Frame(None, "3", "phoenix", "heartbeat", {}))
    assert (frames(connection), connection.hold_reading() is not None) == ([], True)

    anyio.run(runtime.settle)

    # The reply first, then the frames that waited, in their order.
    assert frames(connection) == [
        ["1", "1", "room:a", "phx_reply", {"status": "ok", "response": {"joined": 1}}],
        [None, "3", "phoenix", "phx_reply", {"status": "ok", "response": {}}],
        ["1", "2", "room:a", "phx_reply", {"status": "ok", "response": {"x": 1}}],
    ]
    assert connection.hold_reading() is None
    assert woken


def test_a_duplicate_join_kills_the_old_channel_without_terminate_and_its_close_follows_the_new_reply() -> None:
    # Phoenix (socket.ex, handle_in of a phx_join on a joined topic): Process.exit(pid, {:shutdown,
    # :duplicate_join}) to a channel that does not trap exits, so no terminate; the old join's
    # phx_close is sent to the transport itself, behind the new join's reply.
    Room.ended.clear()
    runtime = Runtime()
    connection = Connection(runtime, runtime.socket(Rooms))
    connection.handle(Frame("1", "1", "room:a", "phx_join", {}))
    anyio.run(runtime.settle)
    old = connection.process("room:a")
    frames(connection)

    connection.handle(Frame("2", "2", "room:a", "phx_join", {}))
    anyio.run(runtime.settle)

    assert old is not None
    assert old.exit is not None
    assert old.exit.reason == ("shutdown", "duplicate_join")
    assert Room.ended == []
    assert [f[:4] for f in frames(connection)] == [
        ["2", "2", "room:a", "phx_reply"],
        ["1", "1", "room:a", "phx_close"],
    ]


def test_a_join_that_never_answers_is_refused_at_join_timeout_on_the_runtimes_clock() -> None:
    class Hangs(Channel):
        async def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
            await anyio.sleep_forever()
            return ok(socket)

    class Hanging(Connection):
        def _start_join(self, frame: Frame, join_ref: str | None) -> ChannelProcess | Error:
            return self.runtime.start_join(self.socket, frame.topic, {}, self, channel=Hangs, join_ref=join_ref)

    runtime = Runtime(clock=VirtualClock())
    connection = Hanging(runtime, runtime.socket(), join_timeout=5)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(runtime.settle)
            connection.handle(Frame("1", "1", "slow", "phx_join", {}))
            await anyio.sleep(0)
            assert isinstance(runtime.clock, VirtualClock)
            runtime.clock.advance(5)
            tg.cancel_scope.cancel()

    anyio.run(main)
    assert frames(connection) == [
        ["1", "1", "slow", "phx_reply", {"status": "error", "response": {"reason": "join timeout"}}]
    ]


def test_a_disconnect_broadcast_on_the_socket_id_asks_the_transport_to_close_with_1001() -> None:
    runtime = Runtime()
    connection = Connection(runtime, runtime.socket(id="user:1"))
    closing: list[int | None] = []
    connection.on_close = lambda: closing.append(connection.close_code)
    runtime.broadcast("user:1", "hello", {})
    assert closing == []
    runtime.broadcast("user:1", "disconnect", {})
    assert (closing, connection.close_reason) == ([1001], "disconnected")
    connection.shutdown()
    assert runtime.pubsub.subscribers("user:1") == []


def test_a_pushs_payload_goes_to_its_channel_as_decoded_without_another_copy() -> None:
    # The transport decoded it from JSON just now, for this channel alone: it is already what to_wire makes.
    seen: list[Any] = []

    class Keeper(Room):
        def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
            seen.append(payload)
            return reply(socket, "ok", payload)

    class Keepers(SocketHandler):
        channels = (route("keep:*", Keeper),)

    runtime = Runtime()
    connection = Connection(runtime, runtime.socket(Keepers))
    connection.handle(Frame("1", "1", "keep:a", "phx_join", {}))
    anyio.run(runtime.settle)
    decoded: list[Frame] = []
    decode = connection.serializer.decode

    def keeping(data: str | bytes) -> Frame:
        decoded.append(decode(data))
        return decoded[-1]

    connection.serializer = dataclasses.replace(connection.serializer, decode=keeping)
    connection.receive(json.dumps(["1", "2", "keep:a", "echo", {"n": [1, {"m": 2}]}]))
    anyio.run(runtime.settle)
    assert seen[0] is decoded[0].payload
    # Made otherwise (a simulated client's frame), the payload is copied as `push` copies it.
    payload = {"n": 3}
    connection.handle(Frame("1", "3", "keep:a", "echo", payload))
    anyio.run(runtime.settle)
    assert seen == [{"n": [1, {"m": 2}]}, payload]
    assert seen[1] is not payload
    assert [frame[4]["response"] for frame in frames(connection)][-2:] == [{"n": [1, {"m": 2}]}, payload]
