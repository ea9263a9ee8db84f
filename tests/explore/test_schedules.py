"""Schedules as data and as runs: each fault does what the timeline says, and the same schedule gives the same run."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from delivery_app import FeedSocket, Reader

from pytest_channels import UnknownNode, VirtualClock
from pytest_channels.explore import Crash, Delay, Disconnect, Drop, Partition, Schedule, Stop
from pytest_channels.testing import Exponential, Settings, Uniform
from pytest_channels.testing._explored import ExploredCase, ExploreError, Run, first_difference, trace


def run_once(schedule: Schedule, body: Any, horizon: float = 1.0) -> tuple[ExploredCase, Run]:
    run = Run(lambda names: schedule, horizon)
    case = ExploredCase(Settings(), run)
    try:
        body(case)
    finally:
        problems = case._teardown()
    assert problems == []
    return case, run


def feed(channels: ExploredCase) -> list[Reader]:
    cluster = channels.cluster("server", "remote", "third")
    readers = [
        Reader(channels.client(FeedSocket, {"name": name}, node=node), "feed", ack=False)
        for name, node in (("ada", "server"), ("bob", "third"))
    ]
    channels.settle()
    for n in range(10):
        cluster["remote"].runtime.broadcast("feed", "msg", {"id": n, "body": str(n)})
        channels.advance(0.1)
    channels.advance(1)
    for reader in readers:
        reader.read()
    return readers


def test_a_schedule_round_trips_through_its_replay_string() -> None:
    schedule = Schedule(
        (
            Delay(0.0, Uniform(0, 0.5), source="remote"),
            Delay(0.1, Exponential(0.02)),
            Drop(0.2, "remote", "server", count=2),
            Partition(0.3, ("server",), heal_at=0.9),
            Stop(0.4, "third", restart_at=0.6),
            Crash(0.5, "server", channel=2),
            Disconnect(0.7, client=1, to="third"),
        ),
        seed=42,
        order=7,
    )
    assert Schedule.from_replay(schedule.replay("mod.test"), "mod.test") == schedule


def test_a_replay_string_from_another_test_is_refused() -> None:
    text = Schedule((Drop(1.0),)).replay("mod.test_one")
    with pytest.raises(ValueError, match=r"^this replay string was made for test 'mod.test_one', not 'mod.test_two'"):
        Schedule.from_replay(text, "mod.test_two")


def test_a_replay_string_from_another_version_or_damaged_is_refused() -> None:
    text = Schedule((Drop(1.0),)).replay("mod.test")
    with pytest.raises(ValueError, match=r"^this replay string is not from this version .* expected 'pcx1'"):
        Schedule.from_replay("pcx0" + text[4:], "mod.test")
    with pytest.raises(ValueError, match=r"^this replay string is damaged"):
        Schedule.from_replay(text[:-6], "mod.test")


def test_a_schedule_refuses_faults_before_the_cluster_starts_and_foreign_objects() -> None:
    with pytest.raises(ValueError, match=r"^a fault cannot happen before the cluster starts"):
        Schedule((Drop(-1.0),))
    with pytest.raises(TypeError, match=r"^a schedule's faults are Delay, Drop"):
        Schedule(("drop",))  # type: ignore[arg-type]


def test_the_same_schedule_gives_the_same_run_message_for_message_and_stamp_for_stamp() -> None:
    schedule = Schedule(
        (Delay(0.0, Uniform(0, 0.3)), Drop(0.35, "remote", "server"), Partition(0.5, ("third",), heal_at=0.7)),
        seed=9,
        order=1234,
    )
    first, second = run_once(schedule, feed), run_once(schedule, feed)
    assert trace(*first) == trace(*second)
    assert first_difference(trace(*first), trace(*second)) is None
    other = run_once(Schedule(schedule.faults, seed=10, order=1234), feed)
    assert trace(*other) != trace(*first)  # the seed is part of the schedule: another seed, other delays


def test_each_network_fault_happens_at_its_instant_and_shows_in_the_timeline() -> None:
    schedule = Schedule((Drop(0.25, "remote", "server"), Partition(0.5, ("third",), heal_at=0.75)))
    _case, run = run_once(schedule, feed)
    assert run.applied == [
        (250_000_000, "remote -> server", "drop the next 1 packet"),
        (500_000_000, "third", "partition {third} | {the rest}"),
        (750_000_000, "third", "heal"),
    ]
    assert [(p.target, p.broadcast.payload["id"], p.outcome) for p in run.cluster.network.lost()] == [  # type: ignore[union-attr]
        ("server", 3, "dropped"),
        ("third", 5, "partitioned"),
        ("third", 6, "partitioned"),
        ("third", 7, "partitioned"),
    ]
    assert schedule.timeline(run.applied).splitlines() == [
        "seed 0, events at one instant in the order they were set, 2 faults:",
        "  t=0.250s  remote -> server  drop the next 1 packet",
        "  t=0.500s  third             partition {third} | {the rest}",
        "  t=0.750s  third             heal",
    ]


def test_a_drop_with_no_packet_to_take_before_the_horizon_expires_there() -> None:
    def body(channels: ExploredCase) -> None:
        cluster = channels.cluster("server", "remote")
        reader = Reader(channels.client(FeedSocket, {"name": "ada"}, node="server"), "feed", ack=False)
        channels.advance(2)  # past the horizon, with nothing sent yet
        cluster["remote"].runtime.broadcast("feed", "msg", {"id": 1, "body": "after the horizon"})
        channels.advance(1)
        reader.read()
        assert reader.kept == {1: "after the horizon"}

    _, run = run_once(Schedule((Drop(0.5, "remote", "server"),)), body)
    assert run.applied == [(500_000_000, "remote -> server", "drop the next 1 packet")]
    assert run.cluster.network.lost() == []  # type: ignore[union-attr]


def test_a_stopped_node_restarts_and_a_disconnected_client_lands_on_another_node() -> None:
    def body(channels: ExploredCase) -> None:
        readers = feed(channels)
        assert readers[1].client.node == "server"  # moved by the disconnect
        events = readers[1].client.events
        assert events[:3] == ["connecting", "open", "closed 1006"]  # third stopped under bob's connection
        assert "refused" in events  # while third was down
        assert readers[1].client.connected

    schedule = Schedule((Stop(0.2, "third", restart_at=0.4), Disconnect(0.8, client=2, to="server")))
    _, run = run_once(schedule, body)
    assert [what for _, _, what in run.applied] == [
        "stop the node",
        "restart, with a fresh runtime",
        "client 2: lose the connection (1006); reconnects to server",
    ]


def test_a_crash_kills_a_live_channel_and_faults_with_nothing_to_act_on_say_so() -> None:
    schedule = Schedule((Crash(0.2, "server"), Crash(0.3, "remote"), Disconnect(0.4, client=1)))

    def body(channels: ExploredCase) -> None:
        channels.cluster("server", "remote")
        client = channels.client(FeedSocket, {"name": "ada"}, node="server")
        client.connect()
        room = client.channel("feed")
        room.join()
        channels.advance(0.35)
        client.disconnect()
        channels.advance(1)
        assert "errored" in room.states  # phx_error: the client saw the crash

    _, run = run_once(schedule, body)
    assert [what for _, _, what in run.applied] == [
        "crash FeedChannel on 'feed'",
        "crash channel #1 (skipped: no live channel)",
        "client 1: lose the connection (skipped: it is closed)",
    ]


def test_events_due_at_one_instant_are_taken_in_an_order_the_tie_break_chooses() -> None:
    def fired(tie_break: Any) -> list[int]:
        clock, order = VirtualClock(), list[int]()
        clock.tie_break = tie_break
        for n in range(6):
            clock.call_at(1_000_000_000, functools.partial(order.append, n))
        clock.advance(1)
        return order

    assert fired(None) == [0, 1, 2, 3, 4, 5]  # as set, without the seam
    draws = iter([5, 3, 9, 1, 7, 0])
    assert fired(lambda: next(draws)) == [5, 3, 1, 0, 4, 2]  # by draw, then as set


def test_a_schedule_naming_a_node_the_cluster_lacks_is_refused() -> None:
    with pytest.raises(
        UnknownNode, match=r"^the schedule names node 'thrid', but the test's cluster has 'server', 'remote'"
    ):
        run_once(Schedule((Stop(0.1, "thrid"),)), lambda channels: channels.cluster("server", "remote"))


def test_a_body_that_checks_before_the_horizon_is_told_its_invariants_never_ran_under_the_faults() -> None:
    run = Run(lambda names: Schedule((Drop(2.0),)), horizon=3)
    with ExploredCase(Settings(), run) as channels:
        channels.cluster("server", "remote")
        channels.advance(1)
    with pytest.raises(
        ExploreError, match=r"^the test's checks ran at t=1\.000s, before the explorer's horizon t=3\.000s: 1 fault"
    ):
        run.check_horizon()


def test_the_explorer_chooses_the_cluster_seed() -> None:
    with (
        ExploredCase(Settings(), Run(lambda names: Schedule(), 1)) as channels,
        pytest.raises(ValueError, match=r"^under @explore the schedule chooses the cluster's seed"),
    ):
        channels.cluster("server", seed=3)


def test_two_traces_that_part_say_where() -> None:
    assert first_difference(["a", "b", "c"], ["a", "x", "c"]) == (
        "entry 2: the first run had\n    b\n  the second had\n    x"
    )
    assert first_difference(["a"], ["a", "b"]) == "entry 2: only the second run went on, with\n    b"
