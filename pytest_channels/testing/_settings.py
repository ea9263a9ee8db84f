"""Harness settings, from ini options and the `channels` marker (closest wins)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._runtime._clock import DEFAULT_WALL_START

# Where the virtual wall clock starts, unless a test says otherwise.


def _seconds(name: str, value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds (got {value!r})") from None
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0 (got {value!r})")
    return seconds


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false (got {value!r})")


def _wall(name: str, value: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{name} must be an ISO 8601 datetime such as 2024-01-01T00:00:00Z (got {value!r})"
            ) from None
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{name} must be a datetime or an ISO 8601 string (got {value!r})")
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Settings:
    """How the `channels` fixture behaves.

    Attributes:
        assert_timeout: virtual seconds `assert_*` wait by default (Phoenix: 100 ms).
        refute_timeout: virtual seconds `refute_*` wait by default (Phoenix: 100 ms).
        idle_timeout: real seconds the runtime may stay busy before the test fails (a guard
            against handlers that await forever; it never delays a passing test).
        freeze_time: keep `datetime.now()` and `time.time()` in step with the virtual clock (freezegun).
        freeze_monotonic: with `freeze_time`, fake `time.monotonic` and `time.perf_counter` too. Off by
            default: they measure real work (library timeouts, benchmarks, your own timing).
        wall_start: the wall-clock time of virtual instant 0.
        check_payloads: refuse payloads that could not cross the wire as JSON.
        virtual_loop: run the test on a `VirtualTimeLoop`, so that `asyncio.sleep`, `wait_for`
            and anyio timeouts in channel code are virtual too, on the runtime's timeline.
        max_time: on a virtual loop, the virtual seconds after which a test fails
            (`VirtualTimeLimit`) instead of letting periodic timers run time away.
        io_grace: on a virtual loop, real seconds to wait for socket I/O before each jump
            of time while sockets are open (0: jump at once).
        wire: send every message through the real V2 serializer, both ways, and the server's
            connection state machine, as a `ChannelsApp` connection to phoenix.js would: a payload
            the wire would change or refuse fails here, and a duplicate join closes the old channel.
        ms_timeout_warning: a `timeout=` of at least this many seconds that looks like
            milliseconds (100, 500, 1000: see `LooksLikeMilliseconds`) warns; 0 never warns.
        strict_mailbox: fail the test at teardown when messages are left in the mailbox that
            no assertion consumed (`flush()` them to say they do not matter).
    """

    assert_timeout: float = 0.1
    refute_timeout: float = 0.1
    idle_timeout: float = 5.0
    freeze_time: bool = True
    freeze_monotonic: bool = False
    wall_start: dt.datetime = DEFAULT_WALL_START
    check_payloads: bool = True
    virtual_loop: bool = False
    max_time: float = 86_400.0
    io_grace: float = 0.0
    wire: bool = False
    ms_timeout_warning: float = 100.0
    strict_mailbox: bool = False

    def updated(self, values: Mapping[str, Any], *, source: str, prefix: str = "") -> Settings:
        """Return a copy with `values` applied, each validated.

        Errors name the `source` and the setting as the user wrote it (`prefix` + name).
        """
        changes: dict[str, Any] = {}
        for name, value in values.items():
            parse = _PARSERS.get(name)
            if parse is None:
                valid = ", ".join(sorted(_PARSERS))
                raise ValueError(f"{source}: unknown setting {name!r}. Valid settings: {valid}")
            try:
                changes[name] = parse(prefix + name, value)
            except ValueError as exc:
                raise ValueError(f"{source}: {exc}") from None
        return dataclasses.replace(self, **changes)


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "assert_timeout": _seconds,
    "refute_timeout": _seconds,
    "idle_timeout": _seconds,
    "freeze_time": _bool,
    "freeze_monotonic": _bool,
    "wall_start": _wall,
    "check_payloads": _bool,
    "virtual_loop": _bool,
    "max_time": _seconds,
    "io_grace": _seconds,
    "wire": _bool,
    "ms_timeout_warning": _seconds,
    "strict_mailbox": _bool,
}

SETTING_NAMES = tuple(_PARSERS)
