"""Telemetry: the events Phoenix emits through `:telemetry`, for observers of one runtime.

Phoenix executes `[:phoenix, :socket_connected]` when a connection is accepted or refused,
`[:phoenix, :channel_joined]` when a join returns and `[:phoenix, :channel_handled_in]` when
`handle_in` returns, each with a `duration` measurement. Here an event is a tuple of strings,
`("phoenix", "channel_joined")`, and durations are nanoseconds on the runtime's clock: real
time in production, virtual time in tests (so a plain callback takes 0 ns there, exactly).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

logger = logging.getLogger("pytest_channels")

Event = tuple[str, ...]
Handler = Callable[[Event, Mapping[str, Any], Mapping[str, Any]], object]

SOCKET_CONNECTED: Event = ("phoenix", "socket_connected")
CHANNEL_JOINED: Event = ("phoenix", "channel_joined")
CHANNEL_HANDLED_IN: Event = ("phoenix", "channel_handled_in")
EVENTS: tuple[Event, ...] = (SOCKET_CONNECTED, CHANNEL_JOINED, CHANNEL_HANDLED_IN)


class Telemetry:
    """Handlers attached to events, called in the order they were attached (`:telemetry`).

    A handler is called as `handler(event, measurements, metadata)`, in the code that
    emitted the event, and must not block. A handler that raises is detached and logged,
    as `:telemetry` does, so a broken observer never breaks a channel.

    Example:
        >>> seen = []
        >>> telemetry = Telemetry()
        >>> telemetry.attach("mine", ("phoenix", "channel_joined"), lambda *event: seen.append(event))
        >>> telemetry.execute(("phoenix", "channel_joined"), {"duration": 0}, {"result": "ok"})
        >>> seen
        [(('phoenix', 'channel_joined'), {'duration': 0}, {'result': 'ok'})]
    """

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[tuple[Event, ...], Handler]] = {}
        self._by_event: dict[Event, list[tuple[str, Handler]]] = {}

    def __repr__(self) -> str:
        return f"<Telemetry handlers={list(self._handlers)}>"

    def attach(self, handler_id: str, events: Event | Sequence[Event], handler: Handler) -> None:
        """Call `handler` for each of `events` (one event, or a list of them).

        Raises:
            ValueError: `handler_id` is attached already (detach it first).
            TypeError: an event is not a tuple of strings.
        """
        many = (cast(Event, events),) if _is_event(events) else tuple(cast(Sequence[Event], events))
        for event in many:
            if not _is_event(event):
                raise TypeError(f"an event is a tuple of strings, as ('phoenix', 'channel_joined') (got {event!r})")
        if handler_id in self._handlers:
            raise ValueError(f"a telemetry handler {handler_id!r} is attached already; detach it first")
        if not callable(handler):
            raise TypeError(f"handler must be callable (got {handler!r})")
        self._handlers[handler_id] = (many, handler)
        for event in many:
            self._by_event.setdefault(event, []).append((handler_id, handler))

    def detach(self, handler_id: str) -> bool:
        """Detach the handler; returns whether it was attached."""
        found = self._handlers.pop(handler_id, None)
        if found is None:
            return False
        for event in found[0]:
            remaining = [entry for entry in self._by_event[event] if entry[0] != handler_id]
            if remaining:
                self._by_event[event] = remaining
            else:
                del self._by_event[event]
        return True

    def handlers(self, event: Event | None = None) -> list[str]:
        """The ids of the handlers attached (to `event`, if given)."""
        if event is None:
            return list(self._handlers)
        return [handler_id for handler_id, _ in self._by_event.get(event, ())]

    def observed(self, event: Event) -> bool:
        """Whether any handler listens to `event`: emitters skip building metadata otherwise."""
        return event in self._by_event

    def execute(self, event: Event, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        """Call every handler attached to `event`."""
        for handler_id, handler in list(self._by_event.get(event, ())):
            try:
                handler(event, measurements, metadata)
            except Exception as exc:
                self.detach(handler_id)
                logger.error(
                    "telemetry handler %r failed on event %r and was detached", handler_id, event, exc_info=exc
                )


def _is_event(value: object) -> bool:
    return isinstance(value, tuple) and bool(value) and all(isinstance(part, str) for part in value)


# -- Phoenix.Logger's lines for channels -----------------------------------------------------------


def filter_values(value: Any) -> Any:
    """Hide the values of keys containing "password", as Phoenix's `:filter_parameters` default does."""
    if isinstance(value, Mapping):
        return {
            key: "[FILTERED]" if isinstance(key, str) and "password" in key else filter_values(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [filter_values(item) for item in value]
    return value


def format_duration(ns: int) -> str:
    """Phoenix.Logger's durations: whole microseconds, or milliseconds past 1000 of them."""
    micros = ns // 1000
    return f"{micros // 1000}ms" if micros > 1000 else f"{micros}µs"


def level_of(owner: str, option: str, value: object) -> int | None:
    """The logging level a channel option names (`"info"`, `logging.INFO`), or None for False.

    Raises:
        TypeError: the value names no level.
    """
    if value is False:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        level = logging.getLevelNamesMapping().get(value.upper())
        if level is not None:
            return level
    raise TypeError(
        f"{owner}.{option} must be a logging level ('debug', 'info', 'warning', 'error', a logging constant) "
        f"or False to log nothing (got {value!r})"
    )
