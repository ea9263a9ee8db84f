"""The per-connection state machine on its own, where a real socket cannot make a case happen on demand."""

from __future__ import annotations

import pytest

from pytest_channels import Push, Runtime
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


def test_nothing_is_queued_for_a_connection_that_is_gone() -> None:
    runtime = Runtime()
    connection = Connection(runtime, runtime.socket())
    connection.shutdown()
    connection.deliver(Push("t", "e", {}))

    assert connection.take_outgoing() == []
