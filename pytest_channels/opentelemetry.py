"""Spans for production users: Phoenix's telemetry events, bridged to OpenTelemetry.

`instrument(runtime)` records a span for each connection, join and handled push. Needs
the `opentelemetry` extra (`pip install 'pytest-channels[opentelemetry]'`) and, to export
the spans anywhere, an OpenTelemetry SDK set up as usual.
"""

from __future__ import annotations

try:
    import opentelemetry.trace as _trace  # noqa: F401 - only to say what is missing
except ImportError as exc:  # pragma: no cover - the dev install has it
    raise ImportError(
        "pytest_channels.opentelemetry needs the opentelemetry-api package: "
        "pip install 'pytest-channels[opentelemetry]'"
    ) from exc

# _exports loads the runtime first, so its classes show their public names (pytest_channels.X) here too.
import pytest_channels._exports as _exports  # noqa: F401
import pytest_channels._public as _public

from ._runtime._otel import instrument as instrument

__all__ = ("instrument",)

_public.publish(globals(), "pytest_channels.opentelemetry")
