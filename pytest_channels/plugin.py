"""The pytest plugin: options, the `channels` marker, the `channels` fixture and teardown order."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

# Import-light on purpose: pytest imports this module in every run of every project that
# installs us, so the harness (and freezegun) load only when a test asks for `channels`.
from .testing._settings import SETTING_NAMES, Settings

if TYPE_CHECKING:
    from .testing import AsyncChannelCase, CaseFactory, ChannelCase

    Case = ChannelCase | AsyncChannelCase

_CASE = pytest.StashKey["Case"]()

_INI_SETTINGS = pytest.StashKey[Settings]()

_RUNNING = pytest.StashKey[pytest.Item]()  # the test whose body runs now, for channels_case

# name: (native TOML type, help). Values are validated by Settings, which names the option.
_INI: dict[str, tuple[Any, str]] = {
    "assert_timeout": (float, "virtual seconds assert_* wait by default (default 0.1)"),
    "refute_timeout": (float, "virtual seconds refute_* wait by default (default 0.1)"),
    "idle_timeout": (float, "real seconds channels may stay busy before the test fails (default 5)"),
    "freeze_time": (bool, "keep datetime.now() and time.time() on the virtual clock with freezegun (default true)"),
    "freeze_monotonic": (bool, "with freeze_time, fake time.monotonic and time.perf_counter too (default false)"),
    "wall_start": (str, "wall-clock time of virtual instant 0, ISO 8601 (default 2024-01-01T00:00:00Z)"),
    "check_payloads": (bool, "refuse payloads that could not cross the wire as JSON (default true)"),
    "virtual_loop": (bool, "run tests on a virtual-time event loop, so channel code's own sleeps are virtual"),
    "max_time": (float, "on a virtual loop, virtual seconds after which a test fails (default 86400)"),
    "io_grace": (float, "on a virtual loop, real seconds to wait for socket I/O before time jumps (default 0)"),
    "wire": (bool, "send every message through the real V2 serializer, both ways (default false)"),
    "ms_timeout_warning": (float, "warn on a timeout= of at least this many seconds that looks like milliseconds"),
    "strict_mailbox": (bool, "fail a test that leaves messages no assertion consumed (default false)"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--channels-replay",
        metavar="REPLAY",
        default=None,
        help="run an @explore test under the one fault schedule of this replay string (printed by its failure)",
    )
    for name in SETTING_NAMES:
        native, help = _INI[name]
        try:
            # `float | str` lets `[tool.pytest]` hold a native 0.5 or false, while a bad string
            # still reaches Settings and gets a message that names the option (pytest >= 9.2).
            parser.addini(f"channels_{name}", help, type=native | str, default=None)
        except (AssertionError, TypeError, ValueError):  # older pytest: ini values are strings
            parser.addini(f"channels_{name}", help, default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "channels(*, assert_timeout=None, refute_timeout=None, idle_timeout=None, freeze_time=None, "
        "freeze_monotonic=None, wall_start=None, check_payloads=None, virtual_loop=None, max_time=None, "
        "io_grace=None, wire=None, ms_timeout_warning=None, strict_mailbox=None): "
        "settings for the `channels` fixture in this test.",
    )
    ini = {name: config.getini(f"channels_{name}") for name in SETTING_NAMES}
    try:  # read once, and fail at start-up rather than in every test
        config.stash[_INI_SETTINGS] = Settings().updated(
            {k: v for k, v in ini.items() if v is not None}, source="ini", prefix="channels_"
        )
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _channels_markers(node: pytest.Item) -> list[pytest.Mark]:
    return list(reversed(list(node.iter_markers("channels"))))  # farthest first: the closest wins


def _settings(config: pytest.Config, markers: list[pytest.Mark]) -> Settings:
    __tracebackhide__ = True
    settings = config.stash[_INI_SETTINGS]
    problem = None
    try:
        for mark in markers:
            if mark.args:
                raise ValueError("@pytest.mark.channels takes keyword arguments only")
            settings = settings.updated(mark.kwargs, source="@pytest.mark.channels")
    except ValueError as exc:
        problem = str(exc)
    if problem is not None:  # outside the except block, so pytest shows no chained traceback
        pytest.fail(problem, pytrace=False)
    return settings


@pytest.fixture
def channels(request: pytest.FixtureRequest) -> Iterator[Case]:
    """Phoenix's ChannelCase: a fresh runtime on a virtual clock, and the test's mailbox.

    A `ChannelCase` in a `def` test, an `AsyncChannelCase` (await its waits) in an
    `async def` test. Every channel is stopped before other fixtures are finalized.
    """
    settings = _settings(request.config, _channels_markers(request.node))
    is_async = inspect.iscoroutinefunction(getattr(request, "function", None))
    from .testing import AsyncChannelCase, ChannelCase

    case: Case = AsyncChannelCase(settings) if is_async else ChannelCase(settings)
    request.node.stash[_CASE] = case
    yield case
    if request.node.stash.get(_CASE, None) is case:  # the teardown hook did not run (setup failed)
        del request.node.stash[_CASE]
        case._teardown()


@pytest.fixture(scope="session")
def channels_case(pytestconfig: pytest.Config) -> CaseFactory:
    """Fresh cases on the `channels` fixture's settings, one per `with`: for hypothesis and loops.

    Session-scoped, so hypothesis's function-scoped-fixture health check accepts it; each
    case reads the ini options and the markers of the test running when it is built.
    """
    from .testing import CaseFactory

    def settings() -> Settings:
        item = pytestconfig.stash.get(_RUNNING, None)
        return _settings(pytestconfig, _channels_markers(item) if item is not None else [])

    return CaseFactory(settings)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    __tracebackhide__ = True
    item.config.stash[_RUNNING] = item
    # An async test's channels stop inside its own event loop, right after its body, so that
    # an async terminate can still await (see AsyncChannelCase._finish_in_loop).
    case = item.stash.get(_CASE, None)
    if case is not None and case.is_async and isinstance(item, pytest.Function):
        item.obj = _stopping_channels_after(item.obj, case)
    try:
        return (yield)
    finally:
        del item.config.stash[_RUNNING]


def _stopping_channels_after(test: Callable[..., Any], case: Case) -> Callable[..., Any]:
    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        return await case._run_test(functools.partial(test, *args, **kwargs))  # type: ignore[union-attr]

    return run


@pytest.hookimpl(optionalhook=True)
def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, Callable[[], Any]]:
    # pytest-asyncio asks every hook for the loops of every async test, so this answers for
    # all of them: the virtual loop where the test (or the suite) asks for it, asyncio's own
    # otherwise. A conftest's own implementation wins over this one; then the fixture checks.
    try:
        virtual = _settings(config, _channels_markers(item)).virtual_loop
    except pytest.fail.Exception:  # a bad marker: the fixture reports it, in the test
        virtual = False
    if not virtual:
        return {"asyncio": asyncio.new_event_loop}
    from .testing._loop import virtual_loop_factory

    return {"virtual": virtual_loop_factory}


_CLUSTER_NOTE = pytest.StashKey[str]()

_CALL_FAILED = pytest.StashKey[bool]()


def _cluster_note(case: Case) -> str | None:
    """What a failing test with a cluster must print to be repeated: the network's seed."""
    cluster = case._core.cluster
    if cluster is None:
        return None
    stats = cluster.network.statistics()
    lost = cluster.network.lost()
    lines = [
        f"cluster seed {cluster.seed}: repeat this run with channels.cluster(..., seed={cluster.seed})",
        f"nodes: {', '.join(cluster.names) or 'none running'}; network: {cluster.network.describe()}; "
        f"packets: {stats.sent} sent, {stats.delivered} delivered, {stats.lost} lost, {stats.in_flight} in flight",
        *(f"  - lost: {packet!r}" for packet in lost[:10]),
    ]
    if len(lost) > 10:
        lines.append(f"  ... and {len(lost) - 10} more lost")
    return "\n".join(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    # A failure that depends on the network's randomness must say how to get it again.
    report = yield
    if report.failed and report.when == "call":
        item.stash[_CALL_FAILED] = True  # strict_mailbox says nothing more about a failed test
    if report.failed:
        case = item.stash.get(_CASE, None)
        note = _cluster_note(case) if case is not None else item.stash.get(_CLUSTER_NOTE, None)
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
        note = _cluster_note(case)
        if note is not None:
            item.stash[_CLUSTER_NOTE] = note
        try:
            problems = case._teardown()
            if not item.stash.get(_CALL_FAILED, False):
                problems += case._core.strict_problems()
        except BaseException as exc:
            failure = exc
    try:
        yield
    finally:
        if failure is not None:
            raise failure
        if problems:
            listing = "\n".join(f"  - {p}" for p in problems)
            pytest.fail(f"channels teardown found problems:\n{listing}", pytrace=False)
