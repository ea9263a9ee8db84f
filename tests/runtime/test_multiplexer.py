"""The per-connection state machine on its own, where a real socket cannot make a case happen on demand."""

from __future__ import annotations

import anyio
import pytest

from pytest_channels import Push, Runtime
from pytest_channels._multiplexer import Connection
from pytest_channels._serializer import Frame


def test_a_client_that_does_not_read_is_closed_with_1013_once_too_many_frames_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = Runtime()
    connection = Connection(runtime, runtime.socket(), name="a slow client", max_outgoing=3)
    for n in range(5):
        connection.deliver(Push("t", "e", {"n": n}))
    assert (connection.close_code, connection.close_reason) == (1013, "too many frames waiting")
    assert "a slow client: 3 frames are waiting for the client: closing it" in caplog.text

    async def drain() -> list[str | bytes]:
        sent = []
        while (data := await connection.next_outgoing()) is not None:
            sent.append(data)
        return sent

    # What was queued before the limit still goes out, then the connection closes.
    assert anyio.run(drain) == [f'[null,null,"t","e",{{"n":{n}}}]' for n in range(3)]


def test_a_heartbeat_is_answered_through_the_outbox() -> None:
    runtime = Runtime()
    connection = Connection(runtime, runtime.socket())

    async def main() -> str | bytes | None:
        await connection.handle(Frame(None, "9", "phoenix", "heartbeat", {}))
        return await connection.next_outgoing()

    assert anyio.run(main) == '[null,"9","phoenix","phx_reply",{"status":"ok","response":{}}]'


def test_nothing_is_queued_for_a_connection_that_is_gone() -> None:
    runtime = Runtime()
    connection = Connection(runtime, runtime.socket())
    connection.shutdown()
    connection.deliver(Push("t", "e", {}))

    assert anyio.run(connection.next_outgoing) is None
