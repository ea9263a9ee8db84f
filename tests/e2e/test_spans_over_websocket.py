"""Production users see spans: a real WebSocket connection, join and push, bridged to OpenTelemetry."""

from __future__ import annotations

import pytest
from e2e_app import make_app
from e2e_servers import eventually, raw_client, serve_uvicorn

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pytest_channels.opentelemetry import instrument

pytestmark = pytest.mark.asyncio  # the websockets client runs on asyncio


async def test_a_real_connection_join_and_push_each_record_a_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = make_app()
    instrument(app.runtime, tracer_provider=provider)
    with serve_uvicorn(app) as address:
        async with raw_client(address, query="vsn=2.0.0&user=ada") as client:
            await client.join("echo:spans", {})
            await client.send("1", "2", "echo:spans", "push", {"x": 1})
            await client.receive()
            await eventually(lambda: len(exporter.get_finished_spans()) == 3, "three spans")
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["ProtocolSocket.connect", "EchoChannel.join", "EchoChannel.handle_in push"]
    assert all((span.end_time or 0) >= (span.start_time or 0) > 0 for span in spans)
    assert (spans[2].attributes or {})["phoenix.topic"] == "echo:spans"
