"""One run of a test body under one fault schedule: the case it gets, the faults as they happen, its trace.

The body gets a fresh `ChannelCase` (or `AsyncChannelCase`) per run. When it starts its
cluster, the run learns the nodes, gets its schedule (drawn by hypothesis, or fixed for a
replay) and sets each fault as a timer on the test's clock, so faults happen inside the
body's own waits, in virtual time, in the clock's order. What happened is recorded for the
timeline; the trace (every packet, message and client event with its virtual stamp) is what
two replays of one schedule must agree on.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from .._runtime._clock import VirtualClock, format_ns, to_ns
from .._runtime._errors import UnknownNode
from ._async import AsyncChannelCase
from ._base import CaseBase
from ._cluster import Cluster
from ._format import SHOWN, listed, teardown_problems
from ._schedule import Crash, Delay, Disconnect, Drop, Fault, Partition, Schedule, Stop
from ._sync import ChannelCase


class ExploreError(AssertionError):
    """An exploration that cannot say anything: its checks never ran under the faults, or it cannot replay."""


class NotDeterministic(AssertionError):
    """Two runs of the same schedule differed: a failure found under it may not come back."""


class Run:
    """One run: where its schedule comes from, what its faults did, and, as a context around the
    body, the run's failure once it ends (None: it passed).

    Args:
        source: given the cluster's node names, the schedule to run (hypothesis draws it there).
        horizon: virtual seconds after the cluster starts by which every fault has happened.
        named: node names the explorer's options mention, checked against the cluster.
    """

    def __init__(
        self, source: Callable[[tuple[str, ...]], Schedule], horizon: float, named: Sequence[str] = ()
    ) -> None:
        self._source = source
        self.horizon = horizon
        self.named = tuple(named)
        self.schedule: Schedule | None = None
        self.cluster: Cluster | None = None
        self.started_ns = 0
        self.applied: list[tuple[int, str, str]] = []
        """(virtual ns, where, what happened) for each fault, in the order they happened."""
        self.case: Any = None  # the case made for this run (sync or async) sets it
        self.failure: BaseException | None = None

    def prepare(self, names: tuple[str, ...]) -> Schedule:
        """The body is starting a cluster of `names`: get its schedule, checking the names it mentions."""
        for name in self.named:
            if name not in names:
                raise UnknownNode(
                    f"explore(...) names node {name!r}, but the test's cluster has {', '.join(map(repr, names))}: "
                    "name only nodes the test starts with channels.cluster(...)"
                )
        schedule = self._source(names)
        unknown = sorted(schedule.nodes() - set(names))
        if unknown:
            raise UnknownNode(
                f"the schedule names node {unknown[0]!r}, but the test's cluster has {', '.join(map(repr, names))}: "
                "a schedule only runs on a cluster with the nodes it names"
            )
        self.schedule = schedule
        return schedule

    def attach(self, cluster: Cluster) -> None:
        """The cluster started: set the schedule's faults on the clock."""
        schedule = self.schedule
        assert schedule is not None
        self.cluster = cluster
        clock = cluster.clock
        if not isinstance(clock, VirtualClock):
            raise ExploreError(
                "the fault explorer runs clusters on the harness's virtual clock, not on a virtual event "
                "loop: drop virtual_loop=True from this test (channel code that sleeps by itself is not "
                "explored yet)"
            )
        self.started_ns = clock.now_ns()
        if schedule.order:
            shuffle = random.Random(schedule.order)
            clock.tie_break = lambda: shuffle.getrandbits(16)
        for fault in sorted(schedule.faults, key=lambda f: f.at):
            for at, action in _steps(fault, self, cluster):
                self._at(clock, at, fault, action)
        links = dict.fromkeys((f.source, f.target) for f in schedule.faults if isinstance(f, Drop))
        if links:
            # A drop takes the next packets sent before the horizon, not the first ones after it:
            # every fault has happened by the horizon, which is what the body waits for.
            def expire() -> None:
                for source, target in links:
                    cluster.network.drop(next=0, source=source, target=target)

            clock.call_at(self.started_ns + to_ns(self.horizon), expire, "explore: unused drops expire at the horizon")

    def _at(self, clock: VirtualClock, at: float, fault: Fault, action: Callable[[], str]) -> None:
        due = self.started_ns + to_ns(at)

        def fire() -> None:
            self.applied.append((clock.now_ns() - self.started_ns, fault.where(), action()))

        if due <= clock.now_ns():
            fire()  # due as the cluster starts: before the body's first broadcast, not at its first wait
        else:
            clock.call_at(due, fire, f"explore: {fault.where()} {fault.what()}")

    def check_horizon(self) -> None:
        """The body ended: refuse a run whose checks came before some of its faults happened."""
        if self.cluster is None:
            raise ExploreError(
                "the test never started a cluster, so no fault could happen: call channels.cluster('server', ...) "
                "in the test, then wait (channels.advance) past the explorer's horizon before the asserts"
            )
        now = self.cluster.clock.now_ns() - self.started_ns
        horizon = to_ns(self.horizon)
        if now < horizon:
            pending = [f for f in (self.schedule.faults if self.schedule else ()) if to_ns(f.at) > now]
            raise ExploreError(
                f"the test's checks ran at t={format_ns(now)}, before the explorer's horizon t={format_ns(horizon)}: "
                f"{len(pending)} fault(s) of this schedule never happened, so the invariants never ran under them. "
                f"Wait past the horizon before asserting (channels.advance({self.horizon:g}) or wait_until), "
                "or lower explore(horizon=...)."
            )

    def replay(self, names: tuple[str, ...]) -> Schedule:
        """The schedule this run took, for a second run that must go the same way."""
        return self.schedule or Schedule()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: object, failure: BaseException | None, traceback: object) -> bool:
        __tracebackhide__ = True
        try:  # hypothesis ends a run early with a BaseException: freezegun must stop all the same
            problems = self.case._teardown()
        except Exception as exc:
            problems, self.failure = [], exc
        if failure is not None and not isinstance(failure, Exception):
            return False
        self.failure = failure or self.failure
        if self.failure is None and problems:
            self.failure = AssertionError(teardown_problems(problems))
        if self.failure is None:
            try:
                self.check_horizon()
            except ExploreError as exc:
                self.failure = exc
        return True

    def _clients(self) -> list[Any]:
        return list(getattr(self.case, "_clients", ()))


def _steps(fault: Fault, run: Run, cluster: Cluster) -> list[tuple[float, Callable[[], str]]]:
    """The instants a fault acts at, and what it does then (returning what to show)."""
    network = cluster.network
    if isinstance(fault, Delay | Drop):
        source, target = fault.source, fault.target
        if isinstance(fault, Delay):
            return [(fault.at, _did(fault.what(), lambda: network.delay(fault.delay, source=source, target=target)))]
        return [(fault.at, _did(fault.what(), lambda: network.drop(next=fault.count, source=source, target=target)))]
    if isinstance(fault, Partition):
        opened = f"partition {{{', '.join(fault.group)}}} | {{the rest}}"
        steps = [(fault.at, _did(opened, lambda: network.partition(list(fault.group))))]
        if fault.heal_at is not None:
            steps.append((max(fault.heal_at, fault.at), _did("heal", network.heal)))
        return steps
    if isinstance(fault, Stop):
        steps = [(fault.at, lambda: _stop(cluster, fault.node))]
        if fault.restart_at is not None:
            steps.append((max(fault.restart_at, fault.at), lambda: _start(cluster, fault.node)))
        return steps
    if isinstance(fault, Crash):
        return [(fault.at, lambda: _crash(run, cluster, fault))]
    return [(fault.at, lambda: _disconnect(run, fault))]


def _did(what: str, change: Callable[[], object]) -> Callable[[], str]:
    """A fault's step that changes the network, and says so."""

    def act() -> str:
        change()
        return what

    return act


def _stop(cluster: Cluster, node: str) -> str:
    if node not in cluster.names:
        return "stop the node (skipped: already stopped)"
    cluster.stop(node)
    return "stop the node"


def _start(cluster: Cluster, node: str) -> str:
    if node in cluster.names:
        return "restart (skipped: already running)"
    cluster.start(node)
    return "restart, with a fresh runtime"


def _crash(run: Run, cluster: Cluster, fault: Crash) -> str:
    if fault.node not in cluster.names:
        return f"crash channel #{fault.channel} (skipped: the node is stopped)"
    live = [p for p in cluster.node(fault.node).runtime.channels if p.alive]
    if not live:
        return f"crash channel #{fault.channel} (skipped: no live channel)"
    process = live[(fault.channel - 1) % len(live)]
    run.case._core.crash(process.socket, "killed")
    return f"crash {process.name} on {process.socket.topic!r}"


def _disconnect(run: Run, fault: Disconnect) -> str:
    clients = run._clients()
    if not clients:
        return "lose the connection (skipped: the test has no simulated client)"
    client = clients[(fault.client - 1) % len(clients)]
    moved = ""
    if fault.to is not None:
        client.node = fault.to
        moved = f"; reconnects to {fault.to}"
    if not client.connected:
        return f"{client.name}: lose the connection (skipped: it is {client.state}){moved}"
    client.lose_connection()
    return f"{client.name}: lose the connection (1006){moved}"


# -- the cases a run hands the body --------------------------------------------------------------------


class _Explores(CaseBase):
    def __init__(self, settings: Any, run: Run) -> None:
        super().__init__(settings)
        self._exploration = run
        run.case = self

    def cluster(self, *names: str, seed: int | None = None) -> Cluster:
        """See `ChannelCase.cluster`; under the explorer, the schedule chooses the seed."""
        if seed is not None:
            raise ValueError(
                "under @explore the schedule chooses the cluster's seed (it shrinks and replays with the rest); "
                f"drop seed={seed!r} from channels.cluster(...)"
            )
        if self._exploration.cluster is not None:
            return super().cluster(*names)  # the harness says why a second cluster is refused
        schedule = self._exploration.prepare(names)
        cluster = super().cluster(*names, seed=schedule.seed)
        self._exploration.attach(cluster)
        return cluster


class ExploredCase(_Explores, ChannelCase):
    """A `ChannelCase` whose cluster runs one fault schedule."""


class ExploredAsyncCase(_Explores, AsyncChannelCase):
    """An `AsyncChannelCase` whose cluster runs one fault schedule."""


# -- what a run leaves behind ---------------------------------------------------------------------------


def trace(case: CaseBase, run: Run) -> list[str]:
    """Everything observable the run did, in order, with virtual stamps: two replays must agree on it."""
    lines = [f"fault t={format_ns(ns)} {where}: {what}" for ns, where, what in run.applied]
    if run.cluster is not None:
        lines += [f"{p!r} payload={p.broadcast.payload!r} outcome={p.outcome}" for p in run.cluster.network.packets]
    mailbox = case._core.mailbox
    lines += [f"mailbox {m!r}" for m in [*mailbox.consumed, *mailbox.messages]]
    lines += [f"exit {e!r}" for e in [*mailbox.reported_exits, *mailbox.exits]]
    for client in run._clients():
        lines += [f"{client.name} {event!r}" for event in client.history]
        for channel in client.channels:
            lines += [f"{client.name} {channel.topic!r} {event!r}" for event in channel.history]
            lines += [f"{client.name} {channel.topic!r} {m!r}" for m in channel.messages]
    return lines


def first_difference(first: list[str], second: list[str]) -> str | None:
    """Where two traces first part, in words; None when they agree."""
    for index, (a, b) in enumerate(zip(first, second, strict=False)):
        if a != b:
            return f"entry {index + 1}: the first run had\n    {a}\n  the second had\n    {b}"
    if len(first) != len(second):
        shorter = min(len(first), len(second))
        longer, name = (first, "first") if len(first) > len(second) else (second, "second")
        return f"entry {shorter + 1}: only the {name} run went on, with\n    {longer[shorter]}"
    return None


def report(case: CaseBase, run: Run, *, test: str, nodeid: str, runs: int | None) -> str:
    """The failure's story: the schedule as it happened, what the network lost, the mailbox, the replay line."""
    schedule = run.schedule or Schedule()
    found = f" (found after {runs} run{'s' if runs != 1 else ''}, then shrunk)" if runs else ""
    lines = [f"explore: this schedule breaks the test{found}:", schedule.timeline(run.applied)]
    if run.cluster is not None:
        stats = run.cluster.network.statistics()
        lines.append(f"network: {stats.sent} packets sent, {stats.delivered} delivered, {stats.lost} lost")
        lines += listed(run.cluster.network.lost(), lambda p: f"lost: {p!r} {p.broadcast.payload!r}", more=" lost")
    mailbox = case._core.mailbox
    received = [*mailbox.consumed, *mailbox.messages]
    lines.append(f"the test's mailbox ({len(received)} message{'s' if len(received) != 1 else ''}):")
    lines += [f"  - {m!r}" for m in received[-SHOWN:]] or ["  (empty)"]
    for client in run._clients():
        for channel in client.channels:
            last = f", the last {min(3, len(channel.messages))}:" if channel.messages else ""
            lines.append(
                f"{client.name} on {channel.topic!r}: {channel.state}, {len(channel.messages)} message(s){last} "
                f"(states {' -> '.join(channel.states)})"
            )
            lines += [f"  - {m!r}" for m in channel.messages[-3:]]
    replay = schedule.replay(test)
    lines += [
        "replay exactly:",
        f'  @explore(..., replay="{replay}")',
        f"  pytest '{nodeid}' --channels-replay={replay}",
    ]
    return "\n".join(lines)
