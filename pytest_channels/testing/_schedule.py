"""Fault schedules: what may go wrong in one run, when, and a string that replays it exactly.

A `Schedule` is plain data: a network seed, a seed for the order of events due at the same
virtual instant, and timed faults (`Delay`, `Drop`, `Partition`, `Stop`, `Crash`,
`Disconnect`). The explorer draws schedules with hypothesis and shrinks failing ones; this
module knows nothing of hypothesis, so a schedule can also be written by hand or read back
from its replay string.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Sequence
from dataclasses import astuple, dataclass, replace
from typing import Any

from ._network import Distribution, Exponential, Uniform

PLACEHOLDER = "@"
"""How a drawn schedule names a node by position, before the cluster's names are known."""

FORMAT = "pcx1"
"""The replay string's format tag: a string of another format is refused, not misread."""


def _when(seconds: float) -> str:
    return f"t={seconds:.3f}s"


def _show_delay(delay: float | Distribution) -> str:
    if isinstance(delay, Uniform):
        return f"Uniform({delay.low:g}, {delay.high:g})"
    if isinstance(delay, Exponential):
        return (
            f"Exponential({delay.mean:g})" if delay.cap is None else f"Exponential({delay.mean:g}, cap={delay.cap:g})"
        )
    if isinstance(delay, (int, float)):
        return f"{delay:g}s"
    return repr(delay)


class _OnALink:
    """A fault on the links from `source` to `target` (None: any node)."""

    source: str | None
    target: str | None

    def where(self) -> str:
        if self.source is None and self.target is None:
            return "every link"
        return f"{self.source or 'any'} -> {self.target or 'any'}"


class _OnANode:
    """A fault on one node."""

    node: str

    def where(self) -> str:
        return self.node


@dataclass(frozen=True)
class Delay(_OnALink):
    """From `at` on, packets on the chosen links wait `delay` seconds, or a draw from a distribution."""

    at: float
    delay: float | Distribution
    source: str | None = None
    target: str | None = None

    def what(self) -> str:
        return f"delay {_show_delay(self.delay)}"


@dataclass(frozen=True)
class Drop(_OnALink):
    """At `at`, the next `count` packets on the chosen links are lost."""

    at: float
    source: str | None = None
    target: str | None = None
    count: int = 1

    def what(self) -> str:
        return f"drop the next {self.count} packet{'s' if self.count != 1 else ''}"


@dataclass(frozen=True)
class Partition:
    """At `at`, `group` is cut off from every other node, until `heal_at` (None: never)."""

    at: float
    group: tuple[str, ...]
    heal_at: float | None = None

    def where(self) -> str:
        return ", ".join(self.group)

    def what(self) -> str:
        heal = "never heals" if self.heal_at is None else f"heals {_when(self.heal_at)}"
        return f"partition {{{', '.join(self.group)}}} | {{the rest}}; {heal}"


@dataclass(frozen=True)
class Stop(_OnANode):
    """At `at`, `node` stops (its channels and their memory are gone), and starts afresh at `restart_at`."""

    at: float
    node: str
    restart_at: float | None = None

    def what(self) -> str:
        again = "stays down" if self.restart_at is None else f"restarts {_when(self.restart_at)}"
        return f"stop the node; {again}"


@dataclass(frozen=True)
class Crash(_OnANode):
    """At `at`, the `channel`-th live channel on `node` (counting from 1, wrapping) is killed."""

    at: float
    node: str
    channel: int = 1

    def what(self) -> str:
        return f"crash channel #{self.channel}"


@dataclass(frozen=True)
class Disconnect:
    """At `at`, simulated client number `client` (from 1, wrapping) loses its connection (code 1006);
    with `to`, its reconnects go to that node, as a load balancer would send them."""

    at: float
    client: int = 1
    to: str | None = None

    def where(self) -> str:
        return f"client {self.client}"

    def what(self) -> str:
        return "lose the connection" + ("" if self.to is None else f"; reconnects to {self.to}")


Fault = Delay | Drop | Partition | Stop | Crash | Disconnect
FAULT_TYPES: tuple[type[Fault], ...] = (Delay, Drop, Partition, Stop, Crash, Disconnect)
_NODE_FIELDS = ("source", "target", "node", "to")
"""The fields that name one node (None: any node), besides a `Partition`'s group."""


@dataclass(frozen=True)
class Schedule:
    """One run's faults, in time order, and the seeds of its randomness.

    Attributes:
        faults: what happens, and when (virtual seconds after the cluster starts).
        seed: the cluster network's seed (drop chances, delay distributions).
        order: 0 takes events due at one instant in the order they were set; any other
            number shuffles them, the same way every time for the same number.

    Example:
        >>> schedule = Schedule((Drop(1.2, "remote", "server"),))
        >>> print(schedule.timeline())
        seed 0, events at one instant in the order they were set, 1 fault:
          t=1.200s  remote -> server  drop the next 1 packet
        >>> Schedule.from_replay(schedule.replay("test_x"), "test_x") == schedule
        True
    """

    faults: tuple[Fault, ...] = ()
    seed: int = 0
    order: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.faults, tuple):
            object.__setattr__(self, "faults", tuple(self.faults))
        for fault in self.faults:
            if not isinstance(fault, FAULT_TYPES):
                raise TypeError(
                    f"a schedule's faults are Delay, Drop, Partition, Stop, Crash or Disconnect (got {fault!r})"
                )
            if fault.at < 0:
                raise ValueError(f"a fault cannot happen before the cluster starts (got at={fault.at!r} in {fault!r})")

    def nodes(self) -> set[str]:
        """Every node name the faults mention."""
        named: set[str] = {n for f in self.faults if isinstance(f, Partition) for n in f.group}
        return named | {n for f in self.faults for field in _NODE_FIELDS if (n := getattr(f, field, None)) is not None}

    def resolve(self, names: Sequence[str]) -> Schedule:
        """This schedule on a cluster of `names`: each placeholder "@k" becomes the k-th name (wrapping).

        Schedules are drawn before the test runs, when the cluster's names are not known yet
        (an async body's draws must happen outside its event loop), so the strategy names
        nodes by position.

        Example:
            >>> Schedule((Drop(0.5, "@1", "@2"),)).resolve(["server", "remote"]).faults
            (Drop(at=0.5, source='remote', target='server', count=1),)
        """

        def name(value: str | None) -> str | None:
            if value is None or not value.startswith(PLACEHOLDER):
                return value
            return names[int(value[len(PLACEHOLDER) :]) % len(names)]

        def one(fault: Fault) -> Fault:
            if isinstance(fault, Partition):
                group = tuple(dict.fromkeys(n for n in map(name, fault.group) if n is not None))
                return replace(fault, group=group)
            named: dict[str, Any] = {f: name(getattr(fault, f)) for f in _NODE_FIELDS if hasattr(fault, f)}
            return replace(fault, **named)

        if not names:
            return self
        return replace(self, faults=tuple(one(f) for f in self.faults))

    def timeline(self, applied: list[tuple[int, str, str]] | None = None) -> str:
        """The schedule as lines of (virtual time, where, what); `applied` is what a run recorded instead."""
        order = "in the order they were set" if self.order == 0 else f"shuffled by order={self.order}"
        count = len(self.faults)
        lines = [f"seed {self.seed}, events at one instant {order}, {count} fault{'s' if count != 1 else ''}:"]
        if applied is None:
            rows = [(_when(f.at), f.where(), f.what()) for f in sorted(self.faults, key=lambda f: f.at)]
        else:
            rows = [(f"t={ns / 1e9:.3f}s", where, what) for ns, where, what in applied]
        width = max((len(where) for _, where, _ in rows), default=0)
        lines += [f"  {when}  {where:<{width}}  {what}" for when, where, what in rows]
        return "\n".join(lines)

    # -- the replay string ---------------------------------------------------------------------------

    def replay(self, test: str) -> str:
        """A one-line string that `from_replay` turns back into this schedule, for `test` only."""
        document = {"test": test, "seed": self.seed, "order": self.order, "faults": [_encode(f) for f in self.faults]}
        packed = zlib.compress(json.dumps(document, separators=(",", ":"), sort_keys=True).encode(), 9)
        return f"{FORMAT}:{base64.urlsafe_b64encode(packed).decode().rstrip('=')}"

    @classmethod
    def from_replay(cls, text: str, test: str) -> Schedule:
        """Read a replay string back, refusing one made for another test or by another version.

        Raises:
            ValueError: the string is not a replay string of this format, or names another test.
        """
        if not isinstance(text, str):
            raise TypeError(f"a replay string is a str (got {text!r})")
        tag, _, body = text.strip().partition(":")
        if tag != FORMAT:
            raise ValueError(
                f"this replay string is not from this version of pytest-channels' explorer (it starts {tag[:12]!r}, "
                f"expected {FORMAT!r}): schedules do not carry over between formats. Run the test without replay "
                "to explore again; hypothesis's database replays its own failures."
            )
        try:
            document = json.loads(zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))
            named = document["test"]
            schedule = cls(
                tuple(_decode(f) for f in document["faults"]), seed=int(document["seed"]), order=int(document["order"])
            )
        except (ValueError, KeyError, TypeError, zlib.error) as exc:
            raise ValueError(
                f"this replay string is damaged ({exc}); copy the whole line the failure printed"
            ) from None
        if named != test:
            raise ValueError(
                f"this replay string was made for test {named!r}, not {test!r}: a schedule only means something "
                f"for the test that found it. Put it on {named!r}."
            )
        return schedule


_DISTRIBUTIONS: dict[str, type[Uniform | Exponential]] = {"uniform": Uniform, "exponential": Exponential}
"""The delays a replay string carries, by name: `{"uniform": [low, high]}`, their fields in order."""


def _encode(fault: Fault) -> dict[str, Any]:
    fields = {name: getattr(fault, name) for name in fault.__dataclass_fields__}
    if isinstance(fault, Delay):
        if isinstance(fault.delay, (Uniform, Exponential)):
            fields["delay"] = {type(fault.delay).__name__.lower(): list(astuple(fault.delay))}
        elif isinstance(fault.delay, (int, float)):
            fields["delay"] = float(fault.delay)
        else:
            raise TypeError(
                f"a replayable delay is a number of seconds, a Uniform or an Exponential (got {fault.delay!r})"
            )
    if isinstance(fault, Partition):
        fields["group"] = list(fault.group)
    return {"kind": type(fault).__name__, **fields}


def _decode(document: dict[str, Any]) -> Fault:
    kinds = {kind.__name__: kind for kind in FAULT_TYPES}
    fields = dict(document)
    kind = kinds[fields.pop("kind")]
    if kind is Delay and isinstance(fields["delay"], dict):
        ((name, values),) = fields["delay"].items()
        fields["delay"] = _DISTRIBUTIONS[name](*values)
    elif kind is Delay:
        fields["delay"] = float(fields["delay"])
    if kind is Partition:
        fields["group"] = tuple(fields["group"])
    fault: Fault = kind(**fields)
    return fault
