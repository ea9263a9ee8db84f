"""Keep the wall clock (`datetime.now()`, `time.time()`) on a test's virtual timeline, with freezegun."""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Callable
from typing import Any

# Direct callers that must keep reading the real clock: pytest's own timing (durations, junit
# times) and the event loops' scheduling (trio's clock would otherwise freeze and hang real
# waits). Only the direct caller counts (see WallFreeze.start): freezegun's default of looking
# five frames up would make time real in code that these modules merely call, such as a test
# body run by trio or a channel handler run by anyio.
REAL_TIME_MODULES = [
    "pytest_channels._runtime",  # the real-time idle guards
    "pytest_channels._process",
    "pytest_channels._group",
    "_pytest.timing",
    "_pytest.runner",
    "_pytest.terminal",
    "_pytest.junitxml",
    "xdist",
    "execnet",
    "trio",
    "anyio",
    "sniffio",
    "outcome",
]


class _WallFromClock:
    """A freezegun time factory that reads a clock: freezegun wants naive UTC datetimes."""

    def __init__(self, wall: Callable[[], dt.datetime]) -> None:
        self._wall = wall

    def __call__(self) -> dt.datetime:
        return self._wall().astimezone(dt.UTC).replace(tzinfo=None)


def _module_key(module: types.ModuleType) -> object:
    # freezegun caches, per module, which names hold the real time functions, and checks that
    # cache with a hash of the set of the module's names: sorting every module's names at every
    # start was most of a channel test's cost (4 ms of 5 in a pytest process). The number of
    # names and the newest one tell the same story (a name added always comes last in a dict)
    # without a pass over them; like freezegun's hash, neither notices a name rebound in place.
    try:
        names = vars(module)
    except TypeError:  # an odd entry in sys.modules, with no names to scan: freezegun finds none
        return (id(module), -1, None)
    return (id(module), len(names), next(reversed(names), None))


class WallFreeze:
    """freezegun, started for one test and answering "now" from that test's clock."""

    def __init__(self) -> None:
        self._freezer: Any = None
        self._inspection_limit = 0
        self._original_key: Callable[[types.ModuleType], str] | None = None

    def start(self, wall_start: dt.datetime, wall: Callable[[], dt.datetime]) -> None:
        """Patch the wall clock; from now on it reads `wall()`."""
        import freezegun.api  # here, not at import: it costs tens of milliseconds to load

        self._original_key = getattr(freezegun.api, "_get_module_attributes_hash", None)
        if self._original_key is not None:  # a freezegun without it simply runs at its own speed
            freezegun.api._get_module_attributes_hash = _module_key  # type: ignore[assignment]  # it only compares keys
        self._freezer = freezegun.freeze_time(wall_start, real_asyncio=True, ignore=REAL_TIME_MODULES)
        self._freezer.start()
        # freezegun asks its newest factory for "now" on every call: answering from our clock
        # keeps the wall clock on the test's timeline, whichever clock that is (the runtime's,
        # or a virtual loop's that moves on its own), with nothing to sync.
        freezegun.api.freeze_factories[-1] = _WallFromClock(wall)  # type: ignore[call-overload]
        self._inspection_limit, freezegun.api.call_stack_inspection_limit = (
            freezegun.api.call_stack_inspection_limit,
            1,
        )

    def stop(self) -> None:
        """Give the wall clock back, as it was before `start`. Safe to call twice."""
        if self._freezer is None:
            return
        import freezegun.api

        self._freezer.stop()
        self._freezer = None
        freezegun.api.call_stack_inspection_limit = self._inspection_limit
        if self._original_key is not None:  # the user's own freeze_time, later, runs as it always did
            freezegun.api._get_module_attributes_hash = self._original_key  # type: ignore[assignment]
