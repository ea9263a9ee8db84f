"""What callbacks return, and the check that names the accepted shapes when they don't.

Phoenix callbacks return tuples (`{:ok, socket}`, `{:reply, {:ok, payload}, socket}`); here
they return small values built by `ok`, `error`, `noreply`, `reply` and `stop`, which a type
checker can follow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import InvalidReturn, Refused
from ._messages import Reason

if TYPE_CHECKING:
    from ._socket import Socket


@dataclass(frozen=True)
class Ok:
    """Success, carrying the socket and a reply (join) or the socket alone (connect)."""

    socket: Socket = field(repr=False)
    reply: Any = field(default_factory=dict)
    ok = True


@dataclass(frozen=True)
class Error:
    """Refusal of a connect or join, carrying the reply (or reason) the client gets."""

    reply: Any = field(default_factory=dict)
    ok = False

    @property
    def socket(self) -> Socket:
        """There is none: raises `Refused`, which shows the refusal."""
        __tracebackhide__ = True
        raise Refused(f"refused with {self.reply!r}: there is no socket (check `.ok` before using `.socket`)")


@dataclass(frozen=True)
class NoReply:
    """Carry on with the given socket and send nothing back.

    With a `timeout` (seconds), `handle_info("timeout")` follows if no message arrives
    first, as a GenServer's `{:noreply, state, timeout}` does.
    """

    socket: Socket = field(repr=False)
    timeout: float | None = None


@dataclass(frozen=True)
class Replied:
    """Answer the client's push with `status` and `payload`."""

    socket: Socket = field(repr=False)
    status: str
    payload: Any = field(default_factory=dict)


@dataclass(frozen=True)
class CallReplied:
    """Answer the call being handled with `value` (`{:reply, value, socket}` in `handle_call`)."""

    socket: Socket = field(repr=False)
    value: Any = None


@dataclass(frozen=True)
class Stop:
    """Stop the channel with `reason`, sending `reply` (a `(status, payload)` pair) first."""

    socket: Socket = field(repr=False)
    reason: Reason = "normal"
    reply: tuple[str, Any] | None = None


JoinResult = Ok | Error
ConnectResult = Ok | Error
InResult = NoReply | Replied | Stop
InfoResult = NoReply | Stop
CallResult = CallReplied | NoReply | Stop


def ok(socket: Socket, reply: Any = None) -> Ok:
    """Accept a join (optionally with a reply payload) or a connection.

    Example:
        >>> from pytest_channels import Socket
        >>> ok(Socket(), {"welcome": True}).reply
        {'welcome': True}
    """
    return Ok(socket, {} if reply is None else reply)


def error(reply: Any = None) -> Error:
    """Refuse a join with a reply payload, or a connection with an optional reason."""
    return Error({} if reply is None else reply)


def noreply(socket: Socket, *, timeout: float | None = None) -> NoReply:
    """Keep the (possibly updated) socket and reply nothing.

    `timeout` (seconds of runtime time) is Phoenix's `{:noreply, socket, timeout}`: when the
    channel receives no message for that long, its `handle_info` gets `"timeout"`. Any message
    that arrives first cancels it; `math.inf` means no timeout.

    Raises:
        ValueError: the timeout is negative or not a number.
    """
    result = object.__new__(NoReply)  # a frozen dataclass's __init__ is slow, and this is a hot path
    fields = result.__dict__
    fields["socket"], fields["timeout"] = socket, None
    if timeout is not None:
        if not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout >= 0):
            raise ValueError(f"noreply timeout must be a number of seconds >= 0 or math.inf (got {timeout!r})")
        if timeout != math.inf:
            fields["timeout"] = timeout
    return result


def reply(socket: Socket, status: str, payload: Any = None) -> Replied:
    """Reply to the push being handled with `status` ("ok", "error" or any string)."""
    result = object.__new__(Replied)  # as in noreply
    fields = result.__dict__
    fields["socket"], fields["status"], fields["payload"] = socket, status, {} if payload is None else payload
    return result


def call_reply(socket: Socket, value: Any = None) -> CallReplied:
    """Answer the call being handled (in `handle_call`) with `value`: any Python value, passed as is."""
    return CallReplied(socket, value)


def stop(socket: Socket, reason: Reason = "normal", *, reply: tuple[str, Any] | None = None) -> Stop:
    """Stop the channel; `reply=(status, payload)` answers the current push first."""
    return Stop(socket, reason, reply)


_ACCEPTED: dict[str, tuple[tuple[type, ...], str]] = {
    "connect": ((Ok, Error), "ok(socket) or error() / error(reason)"),
    "join": ((Ok, Error), "ok(socket), ok(socket, reply) or error(reply)"),
    "handle_in": (
        (NoReply, Replied, Stop),
        "noreply(socket), reply(socket, status, payload) or stop(socket, reason, reply=...)",
    ),
    "handle_out": ((NoReply, Stop), "noreply(socket) or stop(socket, reason)"),
    "handle_info": ((NoReply, Stop), "noreply(socket) or stop(socket, reason)"),
    "handle_call": (
        (CallReplied, NoReply, Stop),
        "call_reply(socket, value), noreply(socket) (answer later with from_.reply) or stop(socket, reason)",
    ),
    "handle_cast": ((NoReply, Stop), "noreply(socket) or stop(socket, reason)"),
}
"""What each callback may return: the result types, and the shapes an error message names."""


def check_result(owner: str, callback: str, result: object) -> Any:
    """Return `result` if `callback` may return it, else raise InvalidReturn naming the shapes."""
    __tracebackhide__ = True
    kind = type(result)
    if kind is NoReply or (kind is Replied and callback == "handle_in" and type(result.status) is str):  # type: ignore[attr-defined]
        return result  # the common, well-formed cases, without the checks below
    accepted, shapes = _ACCEPTED[callback]
    if isinstance(result, accepted):
        if isinstance(result, Replied) and not isinstance(result.status, str):
            raise InvalidReturn(f"{owner}.{callback} replied with status {result.status!r}; a status must be a str")
        if isinstance(result, Stop) and result.reply is not None:
            if callback != "handle_in":
                raise InvalidReturn(
                    f"{owner}.{callback} returned stop(socket, reason, reply=...), but only handle_in has a "
                    f"client push to reply to; expected {shapes}"
                )
            pair = result.reply
            if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
                raise InvalidReturn(
                    f"{owner}.{callback} stopped with reply={result.reply!r}; expected a (status, payload) tuple"
                )
        return result
    raise InvalidReturn(f"{owner}.{callback} returned {result!r}; expected {shapes}")
