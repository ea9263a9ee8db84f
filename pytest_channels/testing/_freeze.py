"""Keep the wall clock (`datetime.now()`, `time.time()`) on a test's virtual timeline, with freezegun.

Which clocks: the wall clock always; `time.monotonic` and `time.perf_counter` only when the
test asks (`freeze_monotonic`), since those measure how long real work takes (timeouts in
libraries, benchmarks). A `freeze_time` of the user's own composes: it sets the wall clock
to its instant, which then follows the virtual clock (see `_Factories`). `real_clock` reads
the machine's clocks all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
import time
import types
import weakref
from collections.abc import Callable
from typing import Any

# Direct callers that must keep reading the real clock: pytest's own timing (durations, junit
# times) and the event loops' scheduling (trio's clock would otherwise freeze and hang real
# waits). Only the direct caller counts (see WallFreeze.start): freezegun's default of looking
# five frames up would make time real in code that these modules merely call, such as a test
# body run by trio or a channel handler run by anyio.
REAL_TIME_MODULES = [
    "pytest_channels._runtime._runtime",  # the real-time idle guards
    "pytest_channels._runtime._process",
    "pytest_channels.testing._group",
    "_pytest.timing",
    "_pytest.runner",
    "_pytest.terminal",
    "_pytest.junitxml",
    "xdist",
    "hypothesis",  # its own timing (health checks, gc accounting) runs beside the test body
    "execnet",
    "trio",
    "anyio",
    "sniffio",
    "outcome",
]


def _wall_from_clock(wall: Callable[[], dt.datetime]) -> Callable[[], dt.datetime]:
    """A freezegun time factory that reads a clock: freezegun wants naive UTC datetimes."""
    return lambda: wall().astimezone(dt.UTC).replace(tzinfo=None)


def _module_key(module: types.ModuleType) -> tuple[int, str | None]:
    # The number of a module's names and the newest one (a name added always comes last in a
    # dict) tell whether it gained or lost names since it was scanned, without a pass over
    # them; like freezegun's own check, neither notices a name rebound in place.
    try:
        names = vars(module)
    except TypeError:  # an odd entry in sys.modules, with no names to scan
        return (-1, None)
    return (len(names), next(reversed(names), None))


# Each module freezegun scanned, by id: (a weak reference to the module, so that another
# module reusing the id is told apart; its key then; its names that held a real clock function).
_scanned: dict[int, tuple[weakref.ref[Any], tuple[int, str | None], list[tuple[str, Any]]]] = {}


def _clock_attributes(module: types.ModuleType) -> list[tuple[str, Any]]:
    """freezegun's per-module scan, remembered per module object and checked cheaply.

    freezegun remembers its scans by module name and checks each with a hash of the sorted
    set of the module's names, for every loaded module at every start: that was most of a
    channel test's cost (4 ms of 5 in a pytest process). Keyed by name, the scans of `io` and
    `_io` (both named "io") also replaced each other at every start.
    """
    key = _module_key(module)
    entry = _scanned.get(id(module))
    if entry is not None and entry[0]() is module and entry[1] == key:
        return entry[2]
    api = sys.modules["freezegun.api"]
    found = [
        (name, value) for name, value in api._get_module_attributes(module) if id(value) in api._real_time_object_ids
    ]
    with contextlib.suppress(TypeError):  # an odd sys.modules entry with no weak reference: scanned each time
        _scanned[id(module)] = (weakref.ref(module), key, found)
    return found


_LOOP_TIME = asyncio.BaseEventLoop.time

# freezegun has no API for what this module needs, so it reaches into freezegun.api; each use
# below says why, tests/harness/test_freezegun_contract.py checks every one against the
# installed release (failing by name, not as a clock gone silently real), and pyproject.toml
# bounds freezegun to the releases that file passes on. The private names:
# - _get_cached_module_attributes, swapped for _clock_attributes: freezegun's own scan of every
#   loaded module at each start was most of a channel test's cost (see _clock_attributes);
# - _get_module_attributes and _real_time_object_ids, which _clock_attributes calls and reads;
# - freeze_factories (its stack of "now" factories, a module global looked up at each call),
#   replaced by _Factories and topped with _wall_from_clock: the only way to answer "now" from a
#   clock that moves on its own (a virtual loop's) and to follow a user's nested freeze_time;
# - FrozenDateTimeFactory (told apart from a ticking freeze's factory, and its tick/move_to);
# - call_stack_inspection_limit (see REAL_TIME_MODULES);
# - real_<clock> and a freezer's undo_changes, to leave the monotonic clocks real.
# These three are looked for first: without them freezegun runs at its own speed, still right.
_FREEZEGUN_PARTS = ("_get_cached_module_attributes", "_get_module_attributes", "_real_time_object_ids")


_REFUSED_FREEZE = (
    "freeze_time({what}) inside a channel test: the wall clock there follows virtual time, which moves only "
    "when the test waits. Use channels.advance(seconds) to move it, and @pytest.mark.channels(wall_start=...) "
    "or a plain freeze_time(instant) to choose where it starts."
)


def _refuse_moving(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(_REFUSED_FREEZE.format(what="...).tick() / .move_to("))


class _Factories(list[Any]):
    """freezegun's stack of "now" factories while a channel test's freeze is on.

    freezegun answers "now" from the newest factory, and every `freeze_time` start (decorator,
    context manager or `start()`) pushes one. A user's frozen instant pushed on top becomes the
    wall clock at this virtual instant, by shifting the test clock's wall start; from then on
    "now" is read from the test clock, so `datetime.now()`, token ages and message stamps all
    follow `channels.advance`. When that freeze stops, the shift is undone. A ticking freeze
    cannot follow virtual time and is refused, saying what to use.
    """

    def __init__(self, items: list[Any], wall: Callable[[], dt.datetime], shift: Callable[[dt.timedelta], None]):
        super().__init__(items)
        self._wall = wall
        self._shift = shift
        self._shifts: list[tuple[int, dt.timedelta]] = []  # (stack depth of the user's freeze, shift)

    def append(self, factory: Any) -> None:
        import freezegun.api

        # Only a non-ticking freeze has a FrozenDateTimeFactory: the others move in real time.
        if not isinstance(factory, freezegun.api.FrozenDateTimeFactory):
            raise RuntimeError(_REFUSED_FREEZE.format(what="tick=True or auto_tick_seconds=..."))
        shift = factory().replace(tzinfo=dt.UTC) - self._wall()
        self._shift(shift)
        self._shifts.append((len(self), shift))
        for name in ("tick", "move_to"):  # the user holds this one: say so if they move it
            setattr(factory, name, _refuse_moving)
        super().append(_wall_from_clock(self._wall))

    def pop(self, index: Any = -1) -> Any:
        popped = super().pop(index)
        if self._shifts and self._shifts[-1][0] == len(self):
            self._shift(-self._shifts.pop()[1])
        return popped


_MONOTONIC = ("monotonic", "perf_counter", "monotonic_ns", "perf_counter_ns")


class WallFreeze:
    """freezegun, started for one test and answering "now" from that test's clock."""

    def __init__(self) -> None:
        self._freezer: Any = None
        self._inspection_limit = 0
        self._original_scan: Callable[[types.ModuleType], list[tuple[str, Any]]] | None = None
        self._factories: list[Any] | None = None

    def start(
        self,
        wall: Callable[[], dt.datetime],
        shift: Callable[[dt.timedelta], None],
        *,
        monotonic: bool = False,
    ) -> None:
        """Patch the wall clock; from now on it reads `wall()`.

        Args:
            wall: the test clock's wall time.
            shift: moves the test clock's wall start by a delta: a freeze of the user's sets it.
            monotonic: fake `time.monotonic` and `time.perf_counter` too (they read the wall clock).
        """
        import freezegun.api  # here, not at import: it costs tens of milliseconds to load

        api = freezegun.api
        if api.freeze_factories:  # the user's freeze_time is already on (a fixture of theirs): it sets the start
            shift(api.freeze_factories[-1]().replace(tzinfo=dt.UTC) - wall())
        wall_start = wall()
        if all(hasattr(api, name) for name in _FREEZEGUN_PARTS):  # otherwise freezegun runs at its own speed
            self._original_scan = api._get_cached_module_attributes
            api._get_cached_module_attributes = _clock_attributes
        self._freezer = freezegun.freeze_time(wall_start, ignore=REAL_TIME_MODULES)
        first = not api.freeze_factories
        self._freezer.start()
        if first and not monotonic:
            _keep_monotonic_real(self._freezer)
        # What freezegun's real_asyncio does, without building and closing an event loop at
        # every start to learn the loop's class: asyncio's loops keep scheduling in real time.
        real_monotonic = api.real_monotonic
        asyncio.BaseEventLoop.time = lambda _loop: real_monotonic()  # type: ignore[method-assign, assignment]
        # freezegun asks its newest factory for "now" on every call: answering from our clock
        # keeps the wall clock on the test's timeline, whichever clock that is (the runtime's,
        # or a virtual loop's that moves on its own), with nothing to sync.
        freezegun.api.freeze_factories[-1] = _wall_from_clock(wall)  # type: ignore[call-overload]
        self._factories = freezegun.api.freeze_factories
        freezegun.api.freeze_factories = _Factories(self._factories, wall, shift)
        # freezegun looks this many frames up for an ignored module: 1 makes only a direct caller
        # in REAL_TIME_MODULES read real time (a private module global; see the contract test).
        self._inspection_limit = api.call_stack_inspection_limit
        api.call_stack_inspection_limit = 1

    def stop(self) -> None:
        """Give the wall clock back, as it was before `start`. Safe to call twice."""
        if self._freezer is None:
            return
        import freezegun.api

        if self._factories is not None:  # freezegun's own list again, as the stack is now
            self._factories[:] = freezegun.api.freeze_factories
            freezegun.api.freeze_factories = self._factories
            self._factories = None
        self._freezer.stop()
        self._freezer = None
        asyncio.BaseEventLoop.time = _LOOP_TIME  # type: ignore[method-assign]
        freezegun.api.call_stack_inspection_limit = self._inspection_limit
        if self._original_scan is not None:  # the user's own freeze_time, later, runs as it always did
            freezegun.api._get_cached_module_attributes = self._original_scan  # type: ignore[assignment]
            self._original_scan = None


def _keep_monotonic_real(freezer: Any) -> None:
    """Undo freezegun's fakes of the monotonic clocks, everywhere it put them, for this freeze.

    freezegun fakes them with the wall clock and has no option to leave them alone: this reads
    its `real_<name>` functions and edits the freezer's private `undo_changes` record of
    `(owner, attribute, original)` patches (both checked by tests/harness/test_freezegun_contract.py).
    """
    import freezegun.api

    api = freezegun.api
    reals = {name: getattr(api, f"real_{name}") for name in _MONOTONIC if hasattr(api, f"real_{name}")}
    for name, real in reals.items():
        setattr(time, name, real)
    real_ids = {id(real) for real in reals.values()}
    kept = []
    for change in freezer.undo_changes:
        owner, attribute, original = change
        if id(original) in real_ids:
            setattr(owner, attribute, original)  # an alias such as `from time import perf_counter`
        else:
            kept.append(change)
    freezer.undo_changes = kept


# -- real time, inside a test whose wall clock (and, if asked, monotonic clock) follows virtual time --


def _real(name: str) -> Any:
    # freezegun keeps the functions it replaces as real_<name> (undocumented: checked by
    # tests/harness/test_freezegun_contract.py); before it is loaded, nothing is replaced.
    api = sys.modules.get("freezegun.api")
    if api is None:
        return getattr(time, name) if name != "datetime" else dt.datetime
    return getattr(api, f"real_{name}")


class RealClock:
    """Real time in a channel test, whatever freezegun fakes there. Use the `real_clock` instance.

    Inside a channel test `datetime.now()` and `time.time()` read the virtual wall clock (and
    `time.monotonic()` too with `freeze_monotonic`); these read the machine's clock, for
    timing real work, logging real instants, or a deadline of your own.

    Example:
        >>> import time
        >>> abs(real_clock.time() - time.time()) < 60  # outside a channel test: the same clock
        True
    """

    def now(self, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
        """The real wall-clock time, aware (UTC unless `tz` says otherwise)."""
        real: type[dt.datetime] = _real("datetime")
        return real.now(tz)

    def time(self) -> float:
        """Real seconds since the epoch, as `time.time()` outside a frozen test."""
        return float(_real("time")())

    def monotonic(self) -> float:
        """Real `time.monotonic()`, for timeouts and elapsed times in real seconds."""
        return float(_real("monotonic")())

    def perf_counter(self) -> float:
        """Real `time.perf_counter()`, for measuring how long real work takes."""
        return float(_real("perf_counter")())

    def __repr__(self) -> str:
        return f"<RealClock now={self.now().isoformat()}>"


real_clock = RealClock()
"""The real clock: `real_clock.now()`, `.time()`, `.monotonic()`, `.perf_counter()`."""
