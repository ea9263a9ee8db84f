"""The network between cluster nodes, under the test's control: delay, loss and partitions in virtual time.

Phoenix's PG2 adapter sends each broadcast once to every other node, with no ack and no retry:
at most once. Here every such send is a `Packet` on a directed link, and the conditions set on
the network decide whether it arrives and when. Deliveries are timers on the shared clock;
the randomness (drop probabilities, delay distributions) comes from one generator seeded with
the cluster's seed, so a run repeats exactly from its seed. One publisher's packets on one link
never overtake each other, as with the PG2 adapter; different publishers' packets may.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar, runtime_checkable

from .._runtime._clock import Clock, check_seconds, format_ns, to_ns
from .._runtime._messages import Broadcast
from .._runtime._runtime import Runtime

Outcome = Literal["in flight", "delivered", "dropped", "partitioned", "node down"]
LOST: tuple[Outcome, ...] = ("dropped", "partitioned", "node down")
V = TypeVar("V")


@runtime_checkable
class Distribution(Protocol):
    """A random delay: `sample` draws seconds from the network's seeded generator."""

    def sample(self, random: random.Random) -> float:
        """Draw one delay, in seconds (finite, >= 0)."""
        ...


@dataclass(frozen=True)
class Uniform:
    """A delay drawn uniformly between `low` and `high` seconds.

    Example:
        >>> import random
        >>> 0.01 <= Uniform(0.01, 0.2).sample(random.Random(1)) <= 0.2
        True
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        check_seconds(self.low, name="Uniform low")
        if check_seconds(self.high, name="Uniform high") < self.low:
            raise ValueError(f"Uniform high must be >= low (got low={self.low!r}, high={self.high!r})")

    def sample(self, random: random.Random) -> float:
        return random.uniform(self.low, self.high)


@dataclass(frozen=True)
class Exponential:
    """A delay drawn from an exponential distribution: mostly short, now and then long.

    Args:
        mean: the mean delay in seconds (> 0).
        cap: the longest delay drawn; ten times the mean when omitted.
    """

    mean: float
    cap: float | None = None

    def __post_init__(self) -> None:
        if check_seconds(self.mean, name="Exponential mean") <= 0:
            raise ValueError(f"Exponential mean must be > 0 (got {self.mean!r})")
        if self.cap is not None and check_seconds(self.cap, name="Exponential cap") < 0:
            raise ValueError(f"Exponential cap must be >= 0 (got {self.cap!r})")

    def sample(self, random: random.Random) -> float:
        cap = self.cap if self.cap is not None else 10 * self.mean
        return min(random.expovariate(1 / self.mean), cap)


@dataclass(eq=False)
class Packet:
    """One broadcast on its way from one node to another.

    Attributes:
        source, target: the node names at either end of the link.
        broadcast: what it carries.
        sent_at_ns: when the source node published it.
        due_ns: when it arrives if nothing goes wrong on the way.
        outcome: "in flight", then "delivered", or lost: "dropped" (by a drop condition),
            "partitioned" (the link was cut when it was sent or when it arrived) or
            "node down" (the target stopped before it arrived).
        delivered_at_ns: when it was handed to the target's subscribers.
    """

    source: str
    target: str
    broadcast: Broadcast
    sent_at_ns: int
    due_ns: int
    outcome: Outcome = "in flight"
    delivered_at_ns: int | None = None
    target_runtime: Runtime = field(repr=False, kw_only=True)

    @property
    def lost(self) -> bool:
        """Whether the packet will never arrive."""
        return self.outcome in LOST

    def __repr__(self) -> str:
        what = f"{self.broadcast.topic!r} {self.broadcast.event!r}"
        if self.delivered_at_ns is not None:
            fate = f"delivered t={format_ns(self.delivered_at_ns)}"
        elif self.outcome == "in flight":
            fate = f"due t={format_ns(self.due_ns)}"
        else:
            fate = self.outcome
        return f"Packet({self.source} -> {self.target}, {what}, sent t={format_ns(self.sent_at_ns)}, {fate})"


@dataclass(frozen=True)
class NetworkStatistics:
    """Packet counts by outcome since the cluster started."""

    sent: int
    delivered: int
    in_flight: int
    dropped: int
    partitioned: int
    node_down: int

    @property
    def lost(self) -> int:
        return self.dropped + self.partitioned + self.node_down


@dataclass
class _Rule(Generic[V]):
    """A condition on the links from `source` to `target` (None: any): a delay, a drop chance or a count to drop."""

    source: str | None
    target: str | None
    value: V

    def matches(self, source: str, target: str) -> bool:
        return self.source in (None, source) and self.target in (None, target)

    def where(self) -> str:
        if self.source is None and self.target is None:
            return "every link"
        return f"{self.source or 'any'} -> {self.target or 'any'}"


@dataclass(slots=True)
class _Stream:
    """One publisher's packets on one link, in the order they were sent."""

    queue: deque[Packet] = field(default_factory=deque)
    last_due: int = 0


class Network:
    """The links between a cluster's nodes and the conditions on them. Get it as `cluster.network`.

    Conditions apply to directed links chosen by `source` and `target` (a node name, or None
    for any), including links to nodes that start later; the latest matching setting wins.

    Args:
        clock: the cluster's clock, on which deliveries are timers.
        seed: seeds the generator behind drop probabilities and delay distributions.
        node: looks up a name a condition mentions, raising `UnknownNode` if the cluster never had it.
        submit: queues a function on the cluster's ready queue: each packet that arrives is
            handed to its target node by one, in arrival order (see `_group.Group.submit`).
    """

    def __init__(
        self,
        clock: Clock,
        seed: int,
        *,
        node: Callable[[str], object],
        submit: Callable[[Callable[[], None], str], None],
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.packets: list[Packet] = []
        """Every packet sent, in order, with its outcome so far."""
        self._random = random.Random(seed)
        self._lookup = node
        self._submit = submit
        self._delays: list[_Rule[float | Distribution]] = []
        self._chances: list[_Rule[float]] = []
        self._drop_next: list[_Rule[int]] = []  # its value: how many packets are still to drop
        self._groups: tuple[frozenset[str], ...] | None = None
        self._streams: dict[tuple[str, str, object], _Stream] = {}

    def __repr__(self) -> str:
        return f"<Network seed={self.seed} {self.describe()}>"

    # -- conditions ------------------------------------------------------------------------------

    def delay(self, seconds: float | Distribution, *, source: str | None = None, target: str | None = None) -> None:
        """Delay packets on the chosen links by `seconds`, or by a draw from a `Distribution`.

        `delay(0)` makes them immediate again (they still arrive at the next wait, not inside
        the broadcast call).

        Raises:
            ValueError: a negative or non-finite delay.
            TypeError: neither a number nor a `Distribution`.
            UnknownNode: `source` or `target` is not a node of the cluster.
        """
        if not isinstance(seconds, Distribution):
            check_seconds(seconds, name="delay")
        self._delays.append(_Rule(self._name(source), self._name(target), seconds))

    def drop(
        self,
        probability: float | None = None,
        *,
        next: int | None = None,
        source: str | None = None,
        target: str | None = None,
    ) -> None:
        """Lose packets on the chosen links: each with `probability`, or exactly the `next` N.

        `drop(0)` stops random loss; `drop(next=0)` cancels pending "next N" drops there.

        Raises:
            ValueError: a probability outside [0, 1], or a negative count.
            TypeError: both or neither of `probability` and `next`.
        """
        source, target = self._name(source), self._name(target)
        if (probability is None) == (next is None):
            raise TypeError("drop takes a probability, as in drop(0.1), or a count, as in drop(next=3)")
        if next is not None:
            if isinstance(next, bool) or not isinstance(next, int) or next < 0:
                raise ValueError(f"drop next must be a whole number of packets >= 0 (got {next!r})")
            if next == 0:
                self._drop_next = [r for r in self._drop_next if (r.source, r.target) != (source, target)]
            else:
                self._drop_next.append(_Rule(source, target, next))
            return
        if (
            isinstance(probability, bool)
            or not isinstance(probability, (int, float))
            or not math.isfinite(probability)
            or not 0 <= probability <= 1
        ):
            raise ValueError(f"drop probability must be a number between 0 and 1 (got {probability!r})")
        self._chances.append(_Rule(source, target, float(probability)))

    def partition(self, *groups: Iterable[str]) -> None:
        """Cut the network into groups: nodes in different groups cannot reach each other.

        Nodes not named form one more group together, so `partition(["server"])` isolates
        `server`. Packets already in flight across the cut are lost when they arrive. A new
        partition replaces the previous one.

        Raises:
            ValueError: no group, an empty group, or a node named twice.
            UnknownNode: a name that is not a node of the cluster.
        """
        if not groups:
            raise ValueError("partition needs at least one group of nodes, as in partition(['server'], ['remote'])")
        seen: set[str] = set()
        parsed = []
        for group in groups:
            if isinstance(group, str):
                raise TypeError(f"each partition group is a list of node names; write partition([{group!r}])")
            names = frozenset(self._node(name) for name in group)
            if not names:
                raise ValueError("a partition group cannot be empty")
            twice = seen & names
            if twice:
                raise ValueError(f"node {sorted(twice)[0]!r} is in two partition groups")
            seen |= names
            parsed.append(names)
        self._groups = tuple(parsed)

    def heal(self) -> None:
        """End the partition. Packets lost to it stay lost: nothing is resent (at most once)."""
        self._groups = None

    def reset(self) -> None:
        """A perfect network again: no delay, no loss, no partition. Packets in flight keep their schedule."""
        self._delays.clear()
        self._chances.clear()
        self._drop_next.clear()
        self._groups = None

    # -- observation -----------------------------------------------------------------------------

    def lost(self) -> list[Packet]:
        """The packets that will never arrive, in the order they were sent."""
        return [p for p in self.packets if p.lost]

    def in_flight(self) -> list[Packet]:
        """The packets still on their way."""
        return [p for p in self.packets if p.outcome == "in flight"]

    def statistics(self) -> NetworkStatistics:
        counts = Counter(packet.outcome for packet in self.packets)
        return NetworkStatistics(
            sent=len(self.packets),
            delivered=counts["delivered"],
            in_flight=counts["in flight"],
            dropped=counts["dropped"],
            partitioned=counts["partitioned"],
            node_down=counts["node down"],
        )

    def describe(self) -> str:
        """The conditions in force, in one line, for failure output."""
        parts = [f"delay {_show(r.value)} on {r.where()}" for r in self._delays]
        parts += [f"drop {r.value:g} on {r.where()}" for r in self._chances]
        parts += [f"drop the next {r.value} on {r.where()}" for r in self._drop_next if r.value]
        if self._groups is not None:
            shown = " | ".join("{" + ", ".join(sorted(g)) + "}" for g in self._groups)
            parts.append(f"partitioned {shown} | {{the rest}}")
        return "; ".join(parts) or "a perfect network"

    # -- what the cluster calls --------------------------------------------------------------------

    def send(
        self, source: str, target: str, broadcast: Broadcast, *, publisher: object, target_runtime: Runtime
    ) -> None:
        """Put a broadcast on the link from `source` to `target` (whose node runs `target_runtime`),
        subject to the conditions."""
        now = self.clock.now_ns()
        packet = Packet(source, target, broadcast, now, now, target_runtime=target_runtime)
        self.packets.append(packet)
        if self._cut(source, target):
            packet.outcome = "partitioned"
            return
        if self._dropped(source, target):
            packet.outcome = "dropped"
            return
        key = (source, target, publisher)
        stream = self._streams.get(key)
        # A later packet from the same publisher never overtakes an earlier one on this link.
        packet.due_ns = max(now + self._delay_ns(source, target), stream.last_due if stream else now)
        if packet.due_ns <= now and stream is None:  # nothing ahead of it on the link: arrived
            self._submit(functools.partial(self._deliver, packet), "network delivery")
            return
        if stream is None:
            stream = self._streams[key] = _Stream()
        stream.last_due = packet.due_ns
        stream.queue.append(packet)
        if packet.due_ns <= now:
            self._pump(key)
        else:
            description = f"network: {source} -> {target} {broadcast.topic!r} {broadcast.event!r}"
            self.clock.call_at(packet.due_ns, lambda: self._pump(key), description)

    # -- internals ---------------------------------------------------------------------------------

    def _pump(self, key: tuple[str, str, object]) -> None:
        stream = self._streams.get(key)
        if stream is None:
            return
        now = self.clock.now_ns()
        while stream.queue and stream.queue[0].due_ns <= now:
            self._submit(functools.partial(self._deliver, stream.queue.popleft()), "network delivery")
        if not stream.queue:
            del self._streams[key]

    def _deliver(self, packet: Packet) -> None:
        """Hand an arrived packet to its target node, unless the link or the node is gone by now."""
        runtime = packet.target_runtime
        if self._cut(packet.source, packet.target):
            packet.outcome = "partitioned"
        elif runtime.stopped is not None:  # stopped (a restart runs a new runtime): gone with it
            packet.outcome = "node down"
        else:
            packet.outcome = "delivered"
            packet.delivered_at_ns = now = self.clock.now_ns()
            # Stamped with its arrival: a remote node's subscribers get it then, not when it was sent.
            runtime.pubsub.local_broadcast(dataclasses.replace(packet.broadcast, at_ns=now))

    def _name(self, name: str | None) -> str | None:
        return None if name is None else self._node(name)

    def _node(self, name: str) -> str:
        self._lookup(name)
        return name

    def _cut(self, source: str, target: str) -> bool:
        return self._groups is not None and self._side(source) != self._side(target)

    def _side(self, name: str) -> int:
        assert self._groups is not None
        for index, group in enumerate(self._groups):
            if name in group:
                return index
        return -1

    def _dropped(self, source: str, target: str) -> bool:
        for rule in reversed(self._drop_next):
            if rule.value and rule.matches(source, target):
                rule.value -= 1
                return True
        chance = next((r.value for r in reversed(self._chances) if r.matches(source, target)), 0.0)
        return chance > 0 and self._random.random() < chance

    def _delay_ns(self, source: str, target: str) -> int:
        delay = next((r.value for r in reversed(self._delays) if r.matches(source, target)), 0.0)
        if not isinstance(delay, Distribution):
            return to_ns(delay, name="delay")
        drawn = delay.sample(self._random)
        try:
            return to_ns(drawn, name="delay")
        except (TypeError, ValueError):
            raise ValueError(
                f"the delay distribution {delay!r} drew {drawn!r}: delays must be finite and >= 0"
            ) from None


def _show(delay: float | Distribution) -> str:
    return f"{delay:g}s" if isinstance(delay, (int, float)) else repr(delay)
