"""What a client receives: small frozen values with a readable repr.

`at_ns` is the virtual (or monotonic) instant the message was sent, and `origin` the node it
came from in a cluster (None on a single node); neither takes part in equality, so tests can
compare messages they build by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ._clock import format_ns
from ._payload import copy_wire

Reason = str | tuple[str, str] | BaseException
"""Why a channel stopped: `"normal"`, `"shutdown"`, `("shutdown", "left")`,
`("shutdown", "closed")`, any string a channel gave to `stop`, or the exception it raised."""


def _stamp(at_ns: int, origin: str | None = None) -> str:
    return f"t={format_ns(at_ns)}" + ("" if origin is None else f", origin={origin!r}")


class _Shown:
    """The repr of a message: the fields it is compared by, but its join_ref, then when (and where) it was sent."""

    at_ns: int

    def __repr__(self) -> str:
        names = [f.name for f in fields(self) if f.compare and f.name != "join_ref"]  # type: ignore[arg-type]  # a dataclass
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({shown}, {_stamp(self.at_ns, getattr(self, 'origin', None))})"


@dataclass(frozen=True, repr=False)
class Push(_Shown):
    """An event the server sent on a topic: a channel's `push`, or a broadcast it did not intercept.

    `join_ref` is None for a broadcast (Phoenix's fastlane), and the channel's join ref for a push.
    `origin` is the node that broadcast it, or the channel's node for a push (None on a single node).
    """

    topic: str
    event: str
    payload: Any
    join_ref: str | None = None
    at_ns: int = field(default=0, compare=False)
    origin: str | None = field(default=None, compare=False)


@dataclass(frozen=True, repr=False)
class Reply(_Shown):
    """The answer to a client push with reference `ref`."""

    topic: str
    ref: str
    status: str
    payload: Any
    join_ref: str | None = None
    at_ns: int = field(default=0, compare=False)


@dataclass(frozen=True, repr=False)
class Broadcast(_Shown):
    """A PubSub broadcast as a plain subscriber sees it (Phoenix's `%Broadcast{}`).

    `origin` is the node it was published on (None on a single node).
    """

    topic: str
    event: str
    payload: Any
    at_ns: int = field(default=0, compare=False)
    origin: str | None = field(default=None, compare=False)

    def copy(self) -> Broadcast:
        """The same broadcast with its own copy of the payload, for one receiver."""
        return new_broadcast(self.topic, self.event, copy_wire(self.payload), self.at_ns, self.origin)


@dataclass(frozen=True, repr=False)
class Close(_Shown):
    """A channel closed gracefully (stop with a normal or shutdown reason, or leave)."""

    topic: str
    reason: Reason
    join_ref: str | None = None
    at_ns: int = field(default=0, compare=False)


# One message is built for every delivery, and a frozen dataclass's __init__ sets each field
# through object.__setattr__: on the hot path of a broadcast to many channels, these fill the
# instance's __dict__ directly (three times faster). Fields in their declared order.


def new_push(topic: str, event: str, payload: Any, join_ref: str | None, at_ns: int, origin: str | None) -> Push:
    """`Push(...)`, built fast."""
    message = object.__new__(Push)
    fields = message.__dict__
    fields["topic"], fields["event"], fields["payload"] = topic, event, payload
    fields["join_ref"], fields["at_ns"], fields["origin"] = join_ref, at_ns, origin
    return message


def new_reply(topic: str, ref: str, status: str, payload: Any, join_ref: str | None, at_ns: int) -> Reply:
    """`Reply(...)`, built fast."""
    message = object.__new__(Reply)
    fields = message.__dict__
    fields["topic"], fields["ref"], fields["status"] = topic, ref, status
    fields["payload"], fields["join_ref"], fields["at_ns"] = payload, join_ref, at_ns
    return message


def new_broadcast(topic: str, event: str, payload: Any, at_ns: int, origin: str | None) -> Broadcast:
    """`Broadcast(...)`, built fast."""
    message = object.__new__(Broadcast)
    fields = message.__dict__
    fields["topic"], fields["event"], fields["payload"] = topic, event, payload
    fields["at_ns"], fields["origin"] = at_ns, origin
    return message


Message = Push | Reply | Broadcast | Close
"""Anything that lands in a client's mailbox."""


@dataclass(frozen=True)
class Exit:
    """A channel process ended. `reason` is the exception when it crashed."""

    topic: str
    channel: str
    reason: Reason
    at_ns: int = field(default=0, compare=False)
    channel_pid: object = field(default=None, compare=False, repr=False)

    @property
    def crashed(self) -> bool:
        """Whether the exit is abnormal (a raise, or a stop reason other than normal/shutdown)."""
        return not is_graceful(self.reason)

    def __repr__(self) -> str:
        return f"Exit(topic={self.topic!r}, channel={self.channel}, reason={self.reason!r}, {_stamp(self.at_ns)})"


def is_graceful(reason: Reason) -> bool:
    """Phoenix's rule: `normal`, `shutdown` and `(shutdown, anything)` are graceful."""
    if isinstance(reason, tuple):
        return len(reason) == 2 and reason[0] == "shutdown"
    return reason in ("normal", "shutdown")
