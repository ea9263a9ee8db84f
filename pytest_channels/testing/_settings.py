"""Harness settings, from ini options and the `channels` marker (closest wins)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .._runtime._clock import DEFAULT_WALL_START, check_seconds

T = TypeVar("T")


def _seconds(name: str, value: Any) -> float:
    """A duration as ini files and markers give it: a number, or a string of one."""
    try:
        seconds = float(value) if isinstance(value, str) else value
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds (got {value!r})") from None
    try:
        return check_seconds(seconds, name=name)
    except TypeError:
        raise ValueError(f"{name} must be a finite number of seconds >= 0 (got {value!r})") from None


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


def _setting(default: T, parse: Callable[[str, Any], T], help: str) -> T:
    """One row of the settings table: its default, how a value is read, and what it means."""
    return dataclasses.field(default=default, metadata={"parse": parse, "help": help})


@dataclass(frozen=True)
class Settings:
    """How the `channels` fixture behaves.

    Each field is one setting: an ini option `channels_<name>` and a keyword of the
    `channels` marker. This class is the one table of them; the ini options, the marker's
    help, the attributes below and the docs' list all come from it.
    """

    assert_timeout: float = _setting(0.1, _seconds, "virtual seconds `assert_*` wait by default (Phoenix: 100 ms)")
    refute_timeout: float = _setting(0.1, _seconds, "virtual seconds `refute_*` wait by default (Phoenix: 100 ms)")
    idle_timeout: float = _setting(
        5.0,
        _seconds,
        "real seconds the runtime may stay busy before the test fails (a guard against handlers "
        "that await forever; it never delays a passing test)",
    )
    freeze_time: bool = _setting(
        True, _bool, "keep `datetime.now()` and `time.time()` in step with the virtual clock (freezegun)"
    )
    freeze_monotonic: bool = _setting(
        False,
        _bool,
        "with `freeze_time`, fake `time.monotonic` and `time.perf_counter` too. Off by default: they "
        "measure real work (library timeouts, benchmarks, your own timing)",
    )
    wall_start: dt.datetime = _setting(  # noqa: RUF009 -- a frozen datetime, shared safely
        DEFAULT_WALL_START, _wall, "the wall-clock time of virtual instant 0 (ISO 8601)"
    )
    check_payloads: bool = _setting(True, _bool, "refuse payloads that could not cross the wire as JSON")
    virtual_loop: bool = _setting(
        False,
        _bool,
        "run the test on a `VirtualTimeLoop`, so that `asyncio.sleep`, `wait_for` and anyio timeouts "
        "in channel code are virtual too, on the runtime's timeline",
    )
    max_time: float = _setting(
        86_400.0,
        _seconds,
        "on a virtual loop, the virtual seconds after which a test fails (`VirtualTimeLimit`) instead "
        "of letting periodic timers run time away",
    )
    io_grace: float = _setting(
        0.0,
        _seconds,
        "on a virtual loop, real seconds to wait for socket I/O before each jump of time while "
        "sockets are open (0: jump at once)",
    )
    wire: bool = _setting(
        False,
        _bool,
        "send every message through the real V2 serializer, both ways, and the server's connection "
        "state machine, as a `ChannelsApp` connection to phoenix.js would: a payload the wire would "
        "change or refuse fails here, and a duplicate join closes the old channel",
    )
    ms_timeout_warning: float = _setting(
        100.0,
        _seconds,
        "a `timeout=` of at least this many seconds that looks like milliseconds (100, 500, 1000: "
        "see `LooksLikeMilliseconds`) warns; 0 never warns",
    )
    strict_mailbox: bool = _setting(
        False,
        _bool,
        "fail the test at teardown when messages are left in the mailbox that no assertion "
        "consumed (`flush()` them to say they do not matter)",
    )

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


SETTINGS = dataclasses.fields(Settings)
"""The settings table, in order: each field's `metadata` holds its `parse` and its `help`."""

_PARSERS: dict[str, Callable[[str, Any], Any]] = {f.name: f.metadata["parse"] for f in SETTINGS}

SETTING_NAMES = tuple(_PARSERS)


def shown(value: Any) -> str:
    """A default as an ini file would write it: `0.1`, `true`, `2024-01-01T00:00:00Z`."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def ini_help(field: dataclasses.Field[Any]) -> str:
    """The help of the ini option `channels_<name>`, with its default."""
    return f"{field.metadata['help']} (default {shown(field.default)})"


def ini_type(field: dataclasses.Field[Any]) -> type:
    """The native TOML type an ini option takes (the string forms always work too)."""
    return {_seconds: float, _bool: bool}.get(field.metadata["parse"], str)


MARKER = (
    "channels(*, "
    + ", ".join(f"{name}=None" for name in SETTING_NAMES)
    + "): settings for the `channels` fixture in this test."
)
"""The `channels` marker's line in `pytest --markers`."""

Settings.__doc__ = (
    (Settings.__doc__ or "")
    + "\n    Attributes:\n"
    + "".join(f"        {f.name}: {f.metadata['help']}.\n" for f in SETTINGS)
)
