"""Presence: a join/leave diff and `list` with 10 / 1,000 / 10,000 members on one topic, and the
work to converge after a heal with 1,000 members on each side of a partition.

The members are tracked from channels joined on other topics (the pid form of `track`), so
no broadcast fans out to them: what is measured is the presence's own work. Baselines, from
the same run: a diff against a plain dict update plus the diff's JSON encoding (the least any
presence must do per change); `list` against the JSON encoding of the same list (what pushing
it as `presence_state` costs anyway); convergence against JSON-encoding and decoding both
sides' presences once (what any replication must carry).
"""

from __future__ import annotations

import gc
import json
import time
from typing import Any

import anyio

from pytest_channels import Channel, JoinResult, Ok, Presence, Runtime, Socket, VirtualClock, ok
from pytest_channels.testing import ChannelCase, Settings

from ._report import Row, best_of_each

TOPIC = "room:bench"
DIFFS = 500


class BenchPresence(Presence):
    """Phoenix's defaults."""


class Member(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)


def _members(channels: ChannelCase, n: int, node: str | None = None, prefix: str = "user") -> list[Any]:
    """N members tracked on TOPIC, each from its own channel; returns their processes."""
    socket = channels.socket(node=node)
    processes = []
    for i in range(n):
        joined = channels.join(socket, f"member:{prefix}{i}", channel=Member)
        assert isinstance(joined, Ok)
        process = joined.socket.channel_pid
        assert process is not None
        BenchPresence.track(process, TOPIC, f"{prefix}{i}", {"online_at": i, "device": "web"})
        processes.append(process)
    channels.settle()
    return processes


class _Nowhere:
    """A transport that drops what it is given: the members' own clients are not measured."""

    def deliver(self, message: Any) -> None:
        pass

    def exited(self, exit: Any) -> None:
        pass


def _diff_cost(n: int) -> tuple[float, float]:
    """Seconds per diff (a join, then a leave, each settled) with n members; and per baseline diff.

    On a runtime of its own, settled directly: the harness's per-wait cost is not the presence's.
    """

    async def main() -> tuple[float, float]:
        runtime = Runtime(clock=VirtualClock())
        socket, nowhere = runtime.socket(), _Nowhere()

        async def process(topic: str) -> Any:
            joined = await runtime.join(socket, topic, {}, nowhere, channel=Member)
            assert isinstance(joined, Ok)
            return joined.socket.channel_pid

        for i in range(n):
            BenchPresence.track(await process(f"member:{i}"), TOPIC, f"user{i}", {"online_at": i, "device": "web"})
        await runtime.settle()
        extra = [await process(f"extra:{i}") for i in range(DIFFS)]
        timings: dict[str, list[float]] = {"ours": [], "baseline": []}
        members: dict[str, dict[str, Any]] = {f"user{i}": {"online_at": i, "device": "web"} for i in range(n)}
        for _ in range(5):  # in turns, as best_of_each does
            start = time.perf_counter()
            for i, pid in enumerate(extra):
                BenchPresence.track(pid, TOPIC, f"extra{i}", {"online_at": i, "device": "web"})
                await runtime.settle()
                BenchPresence.untrack(pid, TOPIC, f"extra{i}")
                await runtime.settle()
            timings["ours"].append((time.perf_counter() - start) / (2 * DIFFS))
            start = time.perf_counter()
            for i in range(DIFFS):
                meta = {"online_at": i, "device": "web", "phx_ref": "AAAAAAAAAAAAAAAAAAAAAAAA"}
                members[f"extra{i}"] = meta
                json.dumps({"joins": {f"extra{i}": {"metas": [meta]}}, "leaves": {}})
                del members[f"extra{i}"]
                json.dumps({"joins": {}, "leaves": {f"extra{i}": {"metas": [meta]}}})
            timings["baseline"].append((time.perf_counter() - start) / (2 * DIFFS))
        assert set(BenchPresence.list(TOPIC, runtime=runtime)) == set(members)
        await runtime.aclose()
        return min(timings["ours"]), min(timings["baseline"])

    return anyio.run(main)


def _list_cost(n: int) -> tuple[float, float]:
    with ChannelCase(Settings(freeze_time=False)) as channels:
        _members(channels, n)
        runtime = channels.runtime
        listed = BenchPresence.list(TOPIC, runtime=runtime)
        assert len(listed) == n
        repeats = max(1, 10_000 // n)

        def ours() -> float:
            start = time.perf_counter()
            for _ in range(repeats):
                BenchPresence.list(TOPIC, runtime=runtime)
            return (time.perf_counter() - start) / repeats

        def baseline() -> float:
            start = time.perf_counter()
            for _ in range(repeats):
                json.dumps(listed)
            return (time.perf_counter() - start) / repeats

        ours_s, baseline_s = best_of_each(3, ours, baseline)
        return ours_s, baseline_s


def _convergence(per_side: int) -> tuple[float, float]:
    """Real seconds of work from a heal to both nodes listing every member; and the baseline."""
    with ChannelCase(Settings(freeze_time=False)) as channels:
        cluster = channels.cluster("a", "b")
        for node in cluster.nodes:
            BenchPresence.start(node.runtime)
        channels.advance(1.5)  # the nodes know each other
        cluster.network.partition(["a"], ["b"])
        _members(channels, per_side, node="a", prefix="a")
        _members(channels, per_side, node="b", prefix="b")
        channels.advance(60)  # well past the down period: each side lists only its own
        assert len(channels.presence_list(BenchPresence, TOPIC, node="a")) == per_side
        cluster.network.heal()
        trackers = [BenchPresence.start(node.runtime).tracker for node in cluster.nodes]
        gc.collect()  # the set-up's garbage is not the convergence's to collect
        start = time.perf_counter()
        # Counted on the trackers: listing 2,000 presences after every timer would be the wait's cost.
        channels.wait_until(lambda: all(len(t.entries(TOPIC)) == 2 * per_side for t in trackers), timeout=60)
        ours = time.perf_counter() - start
        both = [channels.presence_list(BenchPresence, TOPIC, node=n) for n in "ab"]
    gc.collect()
    start = time.perf_counter()
    for side in both:
        json.loads(json.dumps(side))
    return ours, time.perf_counter() - start


def run(smoke: bool) -> list[Row]:
    sizes = [10, 1_000] if smoke else [10, 1_000, 10_000]
    rows = []
    diffs = {n: _diff_cost(n) for n in sizes}
    for n, (ours, baseline) in diffs.items():
        rows.append(
            Row(
                f"presence diff (track or untrack, fetch, presence_diff) with {n:,} members",
                ours,
                baseline,
                "s",
                "dict update + the diff's JSON",
                "< 20 µs, flat in members",
                ours < 20e-6 and ours / baseline <= 2 * diffs[sizes[0]][0] / diffs[sizes[0]][1],
            )
        )
    for n in sizes:
        ours, baseline = _list_cost(n)
        rows.append(
            Row(
                f"presence list with {n:,} members",
                ours,
                baseline,
                "s",
                "JSON encoding of the list",
                "linear: <= 3x",
                ours <= 3 * baseline,
            )
        )
    per_side = 100 if smoke else 1_000
    ours, baseline = (min(runs) for runs in zip(*(_convergence(per_side) for _ in range(3)), strict=True))
    rows.append(
        Row(
            f"convergence after a heal, {per_side:,} members per side (real work, virtual waits)",
            ours,
            baseline,
            "s",
            "JSON round trip of both sides",
            "n/a",
            None,
        )
    )
    return rows
