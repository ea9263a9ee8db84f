"""The OpenTelemetry bridge: a span for each of Phoenix's telemetry events on one runtime.

Phoenix's events fire when the work is done and carry its duration, so each span is made
after the fact: it ends at the event's wall-clock instant and starts `duration` earlier. In
tests both are virtual wall-clock time (`wall_start` plus virtual time), so spans are exact.
Span names keep to low-cardinality parts (the handler and channel classes and the event);
topics and refs are attributes. Parameters are never recorded: they may hold secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from opentelemetry import trace

from ._runtime import Runtime
from ._telemetry import CHANNEL_HANDLED_IN, CHANNEL_JOINED, EVENTS, SOCKET_CONNECTED, Event

HANDLER_ID = "pytest_channels.opentelemetry"


def instrument(runtime: Runtime, *, tracer_provider: trace.TracerProvider | None = None) -> str:
    """Record a span for each connect, join and handled push on `runtime`.

    Args:
        runtime: the runtime to observe.
        tracer_provider: where spans go; the global one (`opentelemetry.trace`) by default.

    Returns:
        The telemetry handler id: `runtime.telemetry.detach(id)` stops it.

    Raises:
        ValueError: this runtime is instrumented already.
    """
    tracer = trace.get_tracer("pytest_channels", version("pytest-channels"), tracer_provider=tracer_provider)

    def record(event: Event, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        wall = runtime.clock.wall()
        end_ns = int(wall.replace(microsecond=0).timestamp()) * 1_000_000_000 + wall.microsecond * 1000
        name, attributes = _describe(event, metadata)
        span = tracer.start_span(
            name, kind=trace.SpanKind.SERVER, start_time=end_ns - int(measurements["duration"]), attributes=attributes
        )
        span.end(end_time=end_ns)

    runtime.telemetry.attach(HANDLER_ID, EVENTS, record)
    return HANDLER_ID


def _describe(event: Event, metadata: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    if event == SOCKET_CONNECTED:
        handler = metadata["user_socket"].__qualname__
        return f"{handler}.connect", {"phoenix.socket": handler, "phoenix.result": metadata["result"]}
    socket = metadata["socket"]
    channel = socket.channel.__qualname__ if socket.channel is not None else "Channel"
    attributes = {"phoenix.channel": channel, "phoenix.topic": socket.topic or "", "phoenix.join_ref": socket.join_ref}
    if event == CHANNEL_JOINED:
        return f"{channel}.join", {**attributes, "phoenix.result": metadata["result"]}
    assert event == CHANNEL_HANDLED_IN
    attributes.update({"phoenix.event": metadata["event"], "phoenix.ref": metadata["ref"]})
    return f"{channel}.handle_in {metadata['event']}", attributes
