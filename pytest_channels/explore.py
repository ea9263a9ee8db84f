"""Run one test body under many fault schedules, and get back the smallest one that breaks it.

Needs hypothesis (`pip install 'pytest-channels[explore]'`): it draws the schedules, shrinks a
failing one, and keeps failures in its database, so its settings profiles, `--hypothesis-seed`
and CI settings apply as to any `@given` test.

Example:
    ```python
    @explore(horizon=6)
    def test_every_reader_gets_every_message(channels: ChannelCase) -> None:
        cluster = channels.cluster("server", "remote", "third")
        ...                      # the scenario; faults happen during its waits
        channels.advance(8)      # past the horizon, so every fault has happened
        assert ...               # the invariant, as plain asserts
    ```
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

try:
    from hypothesis import Phase, given, settings
    from hypothesis import strategies as st
    from hypothesis.control import current_build_context
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "pytest_channels.explore needs hypothesis: pip install 'pytest-channels[explore]' (or hypothesis>=6)"
    ) from exc

import pytest

from .testing._explored import (
    ExploredAsyncCase,
    ExploredCase,
    ExploreError,
    NotDeterministic,
    Run,
    first_difference,
    report,
    trace,
)
from .testing._network import Distribution, Uniform
from .testing._schedule import PLACEHOLDER, Crash, Delay, Disconnect, Drop, Fault, Partition, Schedule, Stop

__all__ = (
    "explore",
    "Faults",
    "schedules",
    "Schedule",
    "Delay",
    "Drop",
    "Partition",
    "Stop",
    "Crash",
    "Disconnect",
    "ExploreError",
    "NotDeterministic",
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Faults:
    """What may vary between runs. The defaults explore the network: drops, partitions, delays, ties.

    Attributes:
        horizon: every fault happens within this many virtual seconds of the cluster's start;
            the test must wait past it before its asserts.
        max_faults: at most this many faults in one schedule.
        drops: packets lost on a link (`Drop`); a drop with no packet to take by the horizon
            expires there.
        partitions: a group of nodes cut off, then healed within the horizon (`Partition`).
        delays: the delays a link may take from some instant on (`Delay`); empty for none.
        stops: nodes that may stop and restart (`Stop`); none by default, since a test
            must then cope with a node that goes away.
        crashes: nodes whose channels may be killed (`Crash`).
        disconnects: whether simulated clients may lose their connection and land on
            another node (`Disconnect`).
        reorder: whether events due at one virtual instant may be taken in another order.
    """

    horizon: float = 5.0
    max_faults: int = 3
    drops: bool = True
    partitions: bool = True
    delays: tuple[float | Distribution, ...] = (Uniform(0.0, 0.05), Uniform(0.0, 0.5))
    stops: tuple[str, ...] = ()
    crashes: tuple[str, ...] = ()
    disconnects: bool = False
    reorder: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, (int, float)) or not self.horizon > 0:
            raise ValueError(f"explore horizon must be a number of virtual seconds > 0 (got {self.horizon!r})")
        if isinstance(self.max_faults, bool) or not isinstance(self.max_faults, int) or self.max_faults < 0:
            raise ValueError(f"explore max_faults must be a whole number >= 0 (got {self.max_faults!r})")
        for name in ("stops", "crashes", "delays"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"explore {name} takes a list (got the string {value!r}; write {name}=[{value!r}])")
            object.__setattr__(self, name, tuple(value))


def schedules(faults: Faults | None = None) -> st.SearchStrategy[Schedule]:
    """A hypothesis strategy of schedules, shrinking to fewer, earlier, simpler faults.

    Nodes the options do not name are placeholders, "@0" for a cluster's first node and so
    on; `Schedule.resolve(names)` puts the names in.

    Example:
        >>> from hypothesis import find, settings
        >>> partitioned = lambda s: any(isinstance(f, Partition) for f in s.faults)
        >>> found = find(schedules(), partitioned, settings=settings(database=None, derandomize=True))
        >>> found.resolve(["server", "remote"]).faults
        (Partition(at=0.0, group=('server',), heal_at=0.001),)
    """
    return _schedules(faults if faults is not None else Faults())


MAX_NODES = 5
"""Drawn node positions wrap around a smaller cluster; larger ones see only their first five nodes fail."""


@functools.lru_cache(maxsize=64)
def _schedules(options: Faults) -> st.SearchStrategy[Schedule]:
    # Built once per set of options, of plain strategies drawn in one composite: building them,
    # or describing lambdas (which hypothesis does by parsing their source), in every run would
    # cost more than a short scenario does.
    ms = max(1, round(options.horizon * 1000))
    instant, lasting = st.integers(0, ms), st.integers(1, ms)
    positions = [f"{PLACEHOLDER}{k}" for k in range(MAX_NODES)]
    ends = [None, *positions]
    links = [(s, t) for s in ends for t in ends if s is None or s != t]  # every link first
    groups = [tuple(p for bit, p in enumerate(positions) if mask >> bit & 1) for mask in range(1, 2**MAX_NODES - 1)]
    groups.sort(key=len)  # one node cut off first
    # Every kind of fault with everything but its instants, simplest first: one draw picks one,
    # and hypothesis shrinks it toward the front (drops before partitions before delays).
    variants: list[tuple[type[Fault], tuple[Any, ...]]] = []
    if options.drops:
        variants += [(Drop, (*link, count)) for count in (1, 2, 3) for link in links]
    if options.partitions:
        variants += [(Partition, (group,)) for group in groups]
    if options.delays:
        variants += [(Delay, (delay, *link)) for delay in options.delays for link in links]
    variants += [(Stop, (node,)) for node in options.stops]
    variants += [(Crash, (node, k)) for node in options.crashes for k in range(1, 9)]
    if options.disconnects:
        variants += [(Disconnect, (k, to)) for to in ends for k in range(1, 9)]
    variant = st.sampled_from(variants) if variants else st.nothing()
    seed = st.integers(0, 2**32 - 1)
    order = st.integers(0, 2**16) if options.reorder else st.just(0)
    size = options.max_faults if variants else 0

    def fault(draw: Any) -> Fault:
        # Each variant holds its fault's fields after `at`, in order, but for the end of the two that end.
        (kind, rest), at = draw(variant), draw(instant) / 1000
        if kind is Partition or kind is Stop:  # heal_at, restart_at
            rest = (*rest, round(at + draw(lasting) / 1000, 3))
        made: Fault = kind(at, *rest)
        return made

    @st.composite
    def schedule(draw: Any) -> Schedule:
        faults: list[Fault] = []
        while len(faults) < size and draw(st.booleans()):  # shrinks toward fewer faults
            faults.append(fault(draw))
        return Schedule(tuple(sorted(faults, key=lambda f: f.at)), seed=draw(seed), order=draw(order))

    return schedule()


def explore(faults: Faults | None = None, *, replay: str | None = None, **options: Any) -> Callable[[F], F]:
    """Run the decorated test once per fault schedule hypothesis draws; fail with the smallest that breaks it.

    The test takes `channels` (a fresh `ChannelCase`, or `AsyncChannelCase` for `async def`,
    in every run) and any other fixtures (shared by all runs). It starts a cluster with
    `channels.cluster(...)`, drives its scenario, waits past the horizon and asserts.

    Args:
        faults: what may vary; or pass `Faults`' fields as keywords: `explore(horizon=8, stops=["third"])`.
        replay: a replay string a failure printed: run that one schedule, exactly, instead of exploring.

    Raises:
        TypeError: the test takes no `channels`, or an option is unknown.
    """
    if faults is None:
        try:
            faults = Faults(**options)
        except TypeError:
            known = ", ".join(Faults.__dataclass_fields__)
            raise TypeError(f"explore() got unknown options {sorted(options)}; it takes {known}") from None
    elif options:
        raise TypeError("explore() takes a Faults or keyword options, not both")
    return functools.partial(_explorer, faults=faults, replay=replay)


def _explorer(body: Callable[..., Any], faults: Faults, replay: str | None) -> Any:
    parameters = inspect.signature(body).parameters
    if "channels" not in parameters:
        raise TypeError(
            f"@explore's test {body.__qualname__} must take the `channels` argument: each run gets a fresh one"
        )
    test_id = f"{body.__module__}.{body.__qualname__}"
    if replay is not None:
        Schedule.from_replay(replay, test_id)  # a bad string fails at import, where it was written
    is_async = inspect.iscoroutinefunction(body)
    wants_request = "request" in parameters

    known_settings: dict[str, Any] = {}
    kind = ExploredAsyncCase if is_async else ExploredCase
    counter: dict[tuple[str, str], int] = {}  # per test item: runs so far, the run that first failed

    def attempt(request: pytest.FixtureRequest, source: Callable[[tuple[str, ...]], Schedule]) -> Run:
        """One run, with its case, of the schedule `source` gives."""
        nodeid = request.node.nodeid
        if nodeid not in known_settings:  # the same for every run of one test: read its markers once
            # The plugin's own door to the running test's settings (ini, then markers).
            known_settings[nodeid] = request.getfixturevalue("channels_case").settings
        run = Run(source, faults.horizon, named=(*faults.stops, *faults.crashes))
        kind(known_settings[nodeid], run)  # the case sets itself as the run's
        return run

    def attempts(request: pytest.FixtureRequest, drawn: Schedule) -> Iterator[Run]:
        """The runs of one draw: its schedule's, then, when its story must be told, a second of the same
        schedule, checked to go the same way; then the story."""
        __tracebackhide__ = True
        key = request.node.nodeid
        runs = counter[("runs", key)] = counter.get(("runs", key), 0) + 1
        text = replay or request.config.getoption("--channels-replay", None)
        if text and counter.get(("passed", key)):
            return  # hypothesis asks again with other draws; a replay runs its one schedule once
        fixed = Schedule.from_replay(text, test_id) if text else None
        first = attempt(request, drawn.resolve if fixed is None else lambda names: fixed)
        yield first
        if fixed is not None:
            if first.failure is None:
                counter[("passed", key)] = 1
        elif first.failure is None:
            return
        else:
            counter.setdefault(("found", key), runs)
            if not current_build_context().is_final:
                raise first.failure  # hypothesis is still searching or shrinking: the story is told once, at the end
        again = attempt(request, first.replay)
        yield again
        difference = first_difference(trace(first.case, first), trace(again.case, again))
        if difference is not None:
            raise NotDeterministic(
                "the test is not deterministic: two runs of the same schedule differ at " + difference + "\n"
                "Same schedule, same run is what makes a failure replayable: look for real time, real I/O, "
                "unseeded randomness or state kept between runs (module globals, fixtures shared by the runs).\n"
                + first.replay(()).timeline()
            ) from first.failure
        if first.failure is not None:
            found = None if fixed is not None else counter[("found", key)]
            first.failure.add_note(report(first.case, first, test=test_id, nodeid=key, runs=found))
            raise first.failure

    def arguments(request: pytest.FixtureRequest, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**kwargs, "request": request} if wants_request else kwargs

    if is_async:

        async def test_async(request: pytest.FixtureRequest, schedule: Schedule, **kwargs: Any) -> None:
            __tracebackhide__ = True
            for made in attempts(request, schedule):
                with made:
                    await made.case._run_test(functools.partial(body, channels=made.case, **arguments(request, kwargs)))

        test: Any = test_async
    else:

        def test_sync(request: pytest.FixtureRequest, schedule: Schedule, **kwargs: Any) -> None:
            __tracebackhide__ = True
            for made in attempts(request, schedule):
                with made:
                    body(channels=made.case, **arguments(request, kwargs))

        test = test_sync

    visible = [p for name, p in parameters.items() if name not in ("channels", "request")]
    test.__signature__ = inspect.Signature(
        [
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in visible),
            inspect.Parameter("schedule", inspect.Parameter.KEYWORD_ONLY),
        ]
    )
    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(test, name, getattr(body, name))
    test.__dict__.update({k: v for k, v in body.__dict__.items() if not k.startswith("_hypothesis")})
    wrapped: Any = given(schedule=schedules(faults))(test)
    parent: settings | None = getattr(body, "_hypothesis_internal_use_settings", None)
    # Virtual time costs no real time, and a real-time deadline would make a run's verdict
    # depend on the machine's load: the one thing an explorer must not do.
    # The explain phase reruns a found failure hundreds of times to point at lines; the
    # explorer's own report (the timeline, what was lost) says more, at no cost.
    base = parent if parent is not None else settings.default
    assert base is not None
    phases = tuple(phase for phase in base.phases if phase is not Phase.explain)
    wrapped._hypothesis_internal_use_settings = settings(parent, deadline=None, phases=phases)
    return wrapped
