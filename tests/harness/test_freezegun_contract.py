"""freezegun's private API, as pytest_channels/testing/_freeze.py uses it.

The harness keeps the wall clock on virtual time by reaching into freezegun.api: each test
here checks one assumption it makes, so a freezegun release that changes one fails here, by
name, instead of as a wall clock that is silently real (or frozen) in every channel test.
pyproject.toml bounds freezegun to the releases these tests passed on.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import sys
import time
import types
from collections.abc import Iterator
from typing import Any

import freezegun
import freezegun.api as api
import pytest

from pytest_channels.testing import _freeze

VERSION = importlib.metadata.version("freezegun")


def _broken(what: str, change: str) -> str:
    return (
        f"freezegun {VERSION} no longer {what}. pytest_channels/testing/_freeze.py relies on it: {change}, "
        "then set the freezegun bound in pyproject.toml to the releases this file passes on."
    )


def _module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), vars(module))
    return module


@pytest.fixture
def loaded() -> Iterator[types.ModuleType]:
    """A loaded module holding a real clock function under a name of its own, as `from time import monotonic` does."""
    module = _module("pc_contract_loaded", "import time\nclock = time.monotonic\n")
    sys.modules[module.__name__] = module
    try:
        yield module
    finally:
        del sys.modules[module.__name__]


@pytest.fixture
def frozen() -> Iterator[Any]:
    freezer = freezegun.freeze_time("2030-01-01")
    freezer.start()
    try:
        yield freezer
    finally:
        freezer.stop()


@pytest.mark.parametrize(
    "name",
    [
        *_freeze._FREEZEGUN_PARTS,
        "freeze_factories",
        "FrozenDateTimeFactory",
        "call_stack_inspection_limit",
    ],
)
def test_every_private_name_the_harness_uses_is_there(name: str) -> None:
    assert hasattr(api, name), _broken(f"has freezegun.api.{name}", "find what replaced it")


def test_freezegun_keeps_the_real_clock_functions_as_real_names() -> None:
    # _freeze reads them: for the monotonic clocks it leaves real, and for real_clock.
    for name in ("time", "monotonic", "perf_counter", "monotonic_ns", "perf_counter_ns"):
        assert getattr(api, f"real_{name}", None) is getattr(time, name), _broken(
            f"keeps time.{name} as freezegun.api.real_{name}", "find where it keeps the real function now"
        )
    assert api.real_datetime is dt.datetime, _broken("keeps datetime.datetime as real_datetime", "read it elsewhere")


def test_the_module_scan_returns_every_name_of_a_module_and_the_real_clocks_are_known_by_id() -> None:
    # _clock_attributes replaces freezegun's cached scan with one keyed by module object: it calls
    # _get_module_attributes for the names and keeps those whose id is in _real_time_object_ids.
    module = _module("pc_contract_scan", "import time\nclock = time.monotonic\nother = 1\n")
    scanned = api._get_module_attributes(module)
    assert all(pair in scanned for pair in [("clock", time.monotonic), ("other", 1)]), _broken(
        "returns (name, value) pairs from _get_module_attributes(module)", "adapt _clock_attributes to its result"
    )
    assert {id(time.time), id(time.monotonic), id(dt.datetime)} <= api._real_time_object_ids, _broken(
        "lists the ids of the real clock functions in _real_time_object_ids", "find the real functions another way"
    )


def test_start_scans_each_module_through_the_cached_scan_looked_up_at_call_time(loaded: types.ModuleType) -> None:
    # WallFreeze.start swaps freezegun.api._get_cached_module_attributes for _clock_attributes:
    # that only speeds anything up if start() looks the function up in the module each time.
    seen: list[str] = []
    original = api._get_cached_module_attributes

    def scan(module: types.ModuleType) -> list[tuple[str, Any]]:
        seen.append(module.__name__)
        return _freeze._clock_attributes(module)

    api._get_cached_module_attributes = scan
    freezer = freezegun.freeze_time("2030-01-01")
    try:
        freezer.start()
        during = loaded.clock
        freezer.stop()
    finally:
        api._get_cached_module_attributes = original
    assert loaded.__name__ in seen, _broken(
        "calls freezegun.api._get_cached_module_attributes(module) for each loaded module at start()",
        "find its scan and replace that, or drop the replacement (freezegun then runs at its own speed)",
    )
    assert (during is api.real_monotonic, loaded.clock is api.real_monotonic) == (False, True), _broken(
        "patches the real clocks that _clock_attributes found, and undoes that at stop()", "adapt _clock_attributes"
    )


def test_freeze_factories_is_a_module_list_that_start_appends_to_stop_pops_and_now_reads_last() -> None:
    # WallFreeze.start replaces the list with _Factories (whose append/pop follow a user's own
    # freeze_time) and its last entry with a factory reading the test clock.
    calls: list[str] = []

    class Recording(list[Any]):
        def append(self, item: Any) -> None:
            calls.append(f"append {type(item).__name__}")
            super().append(item)

        def pop(self, index: Any = -1) -> Any:
            calls.append("pop")
            return super().pop(index)

    original = api.freeze_factories
    api.freeze_factories = Recording(original)
    freezer = freezegun.freeze_time("2030-01-01")
    try:
        factory = freezer.start()
        api.freeze_factories[-1] = lambda: dt.datetime(2040, 5, 6, 7, 8)
        now = dt.datetime.now()
        freezer.stop()
    finally:
        api.freeze_factories = original
    assert calls == ["append FrozenDateTimeFactory", "pop"], _broken(
        "appends each start's factory to freezegun.api.freeze_factories and pops it at stop, "
        "looking the list up in the module",
        "rework _Factories around how it tracks nested freezes now",
    )
    assert now == dt.datetime(2040, 5, 6, 7, 8), _broken(
        "answers datetime.now() from freeze_factories[-1]()", "find where it reads the frozen instant"
    )
    assert isinstance(factory, api.FrozenDateTimeFactory), _broken("returns the factory from start()", "adapt")


def test_only_a_non_ticking_freeze_has_a_frozen_factory_which_gives_naive_utc_and_can_be_moved(frozen: Any) -> None:
    # _Factories refuses a ticking freeze by the factory's class, reads a user's instant by
    # calling it (naive UTC, as _wall_from_clock answers), and replaces tick and move_to.
    factory = api.freeze_factories[-1]
    assert isinstance(factory, api.FrozenDateTimeFactory)
    assert (factory(), factory().tzinfo) == (dt.datetime(2030, 1, 1), None), _broken(
        "gives naive UTC datetimes from a factory", "convert in _wall_from_clock and _Factories.append"
    )
    assert all(callable(getattr(factory, name, None)) for name in ("tick", "move_to")), _broken(
        "has tick and move_to on a frozen factory", "refuse moving the user's freeze another way"
    )
    ticking = freezegun.freeze_time("2030-01-01", tick=True)
    try:
        assert not isinstance(ticking.start(), api.FrozenDateTimeFactory), _broken(
            "gives a ticking freeze a factory of another class", "tell a ticking freeze apart in _Factories.append"
        )
    finally:
        ticking.stop()


def test_call_stack_inspection_limit_is_how_many_callers_an_ignored_module_reaches() -> None:
    # WallFreeze sets it to 1 so that only a direct caller in REAL_TIME_MODULES reads real time,
    # not the test body that trio or anyio merely runs.
    ignored = _module(
        "pc_contract_ignored", "def direct(time):\n    return time.time()\ndef outer(f):\n    return f()\n"
    )
    user = _module("pc_contract_user", "import time\ndef inner():\n    return time.time()\n")
    frozen_at = dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp()
    freezer = freezegun.freeze_time("2000-01-01", ignore=["pc_contract_ignored"])
    limit = api.call_stack_inspection_limit
    freezer.start()
    try:
        api.call_stack_inspection_limit = 1
        direct, through = ignored.direct(time), ignored.outer(user.inner)
        api.call_stack_inspection_limit = limit
        deep = ignored.outer(user.inner)
    finally:
        api.call_stack_inspection_limit = limit
        freezer.stop()
    assert isinstance(limit, int), _broken("has the int freezegun.api.call_stack_inspection_limit", "drop its use")
    assert (direct == frozen_at, through == frozen_at, deep == frozen_at) == (False, True, False), _broken(
        "looks call_stack_inspection_limit frames up for a caller in an ignored module",
        "find how to make only the direct caller count",
    )


def test_undo_changes_lists_each_patched_name_as_owner_attribute_original(loaded: types.ModuleType) -> None:
    # _keep_monotonic_real puts the real monotonic clocks back and drops them from undo_changes.
    freezer = freezegun.freeze_time("2030-01-01")
    freezer.start()
    try:
        changes = list(freezer.undo_changes)
    finally:
        freezer.stop()
    assert (loaded, "clock", api.real_monotonic) in changes, _broken(
        "records each module patch in freezer.undo_changes as (owner, attribute, original)",
        "find how _keep_monotonic_real can undo the monotonic patches",
    )
