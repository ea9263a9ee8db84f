"""The pytest plugin: options, the `channels` marker, the `channels` fixture and teardown order."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

# Import-light on purpose: pytest imports this module in every run of every project that
# installs us, so the harness (and freezegun) load only when a test asks for `channels`.
from .testing._settings import MARKER, SETTING_NAMES, SETTINGS, Settings, ini_help, ini_type

if TYPE_CHECKING:
    from .testing import AsyncChannelCase, CaseFactory, ChannelCase
    from .testing._interface import PluginCase

_CASE: pytest.StashKey[PluginCase] = pytest.StashKey()  # the plugin calls only what PluginCase declares

_INI_SETTINGS = pytest.StashKey[Settings]()

_RUNNING = pytest.StashKey[pytest.Item]()  # the test whose body runs now, for channels_case


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--channels-replay",
        metavar="REPLAY",
        default=None,
        help="run an @explore test under the one fault schedule of this replay string (printed by its failure)",
    )
    for setting in SETTINGS:
        name, help = f"channels_{setting.name}", ini_help(setting)
        try:
            # `float | str` lets `[tool.pytest]` hold a native 0.5 or false, while a bad string
            # still reaches Settings and gets a message that names the option (pytest >= 9.2).
            parser.addini(name, help, type=ini_type(setting) | str, default=None)  # type: ignore[arg-type]
        except (AssertionError, TypeError, ValueError):  # older pytest: ini values are strings
            parser.addini(name, help, default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    ini = {name: config.getini(f"channels_{name}") for name in SETTING_NAMES}
    try:  # read once, and fail at start-up rather than in every test
        config.stash[_INI_SETTINGS] = Settings().updated(
            {k: v for k, v in ini.items() if v is not None}, source="ini", prefix="channels_"
        )
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _settings(config: pytest.Config, item: pytest.Item | None) -> Settings:
    """The ini options' settings, then those of `item`'s `channels` markers, the closest last (it wins)."""
    __tracebackhide__ = True
    settings = config.stash[_INI_SETTINGS]
    problem = None
    try:
        for mark in reversed(list(item.iter_markers("channels")) if item is not None else []):
            if mark.args:
                raise ValueError("@pytest.mark.channels takes keyword arguments only")
            settings = settings.updated(mark.kwargs, source="@pytest.mark.channels")
    except ValueError as exc:
        problem = str(exc)
    if problem is not None:  # outside the except block, so pytest shows no chained traceback
        pytest.fail(problem, pytrace=False)
    return settings


@pytest.fixture
def channels(request: pytest.FixtureRequest) -> Iterator[ChannelCase | AsyncChannelCase]:
    """Phoenix's ChannelCase: a fresh runtime on a virtual clock, and the test's mailbox.

    A `ChannelCase` in a `def` test, an `AsyncChannelCase` (await its waits) in an
    `async def` test. Every channel is stopped before other fixtures are finalized.
    """
    from .testing._interface import new_case

    settings = _settings(request.config, request.node)
    case = new_case(settings, asynchronous=inspect.iscoroutinefunction(getattr(request, "function", None)))
    request.node.stash[_CASE] = case
    yield case
    # The teardown hook has ended the case already, even after a failed setup; not so for a case
    # first asked for by another fixture's finalizer, after the hook ran.
    if request.node.stash.get(_CASE, None) is case:
        del request.node.stash[_CASE]
        case._end(test_failed=True)


@pytest.fixture(scope="session")
def channels_case(pytestconfig: pytest.Config) -> CaseFactory:
    """Fresh cases on the `channels` fixture's settings, one per `with`: for hypothesis and loops.

    Session-scoped, so hypothesis's function-scoped-fixture health check accepts it; each
    case reads the ini options and the markers of the test running when it is built.
    """
    from .testing import CaseFactory

    def settings() -> Settings:
        return _settings(pytestconfig, pytestconfig.stash.get(_RUNNING, None))

    return CaseFactory(settings)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    __tracebackhide__ = True
    item.config.stash[_RUNNING] = item
    case = item.stash.get(_CASE, None)
    if case is not None and isinstance(item, pytest.Function):
        item.obj = case._wrap_test(item.obj)
    try:
        return (yield)
    finally:
        del item.config.stash[_RUNNING]


@pytest.hookimpl(optionalhook=True)
def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, Callable[[], Any]]:
    # pytest-asyncio asks every hook for the loops of every async test, so this answers for
    # all of them: the virtual loop where the test (or the suite) asks for it, asyncio's own
    # otherwise. A conftest's own implementation wins over this one; then the fixture checks.
    try:
        virtual = _settings(config, item).virtual_loop
    except pytest.fail.Exception:  # a bad marker: the fixture reports it, in the test
        virtual = False
    if not virtual:
        return {"asyncio": asyncio.new_event_loop}
    from .testing._loop import virtual_loop_factory

    return {"virtual": virtual_loop_factory}


_FAILURE_NOTE = pytest.StashKey[str]()

_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    # A failure that depends on the network's randomness must say how to get it again.
    report = yield
    if report.failed and report.when == "call":
        item.stash[_CALL_FAILED] = True  # strict_mailbox says nothing more about a failed test
    if report.failed:
        case = item.stash.get(_CASE, None)
        note = case._failure_note() if case is not None else item.stash.get(_FAILURE_NOTE, None)
        if note is not None:
            report.sections.append(("channels cluster", note))
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    # Channels stop before any fixture is finalized, so terminate() still sees the user's fixtures.
    __tracebackhide__ = True
    case = item.stash.get(_CASE, None)
    problems: list[str] = []
    failure: BaseException | None = None
    if case is not None:
        del item.stash[_CASE]
        note = case._failure_note()  # now, while the cluster is there to describe
        if note is not None:
            item.stash[_FAILURE_NOTE] = note
        try:
            problems = case._end(test_failed=item.stash.get(_CALL_FAILED, False))
        except BaseException as exc:
            failure = exc
    try:
        yield
    finally:
        if failure is not None:
            raise failure
        if problems:
            from .testing._format import teardown_problems

            pytest.fail(teardown_problems(problems), pytrace=False)
