"""The Channel base class: the callbacks users override and the functions they call inside them."""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ._clock import Timer
from ._errors import BroadcastError, or_raise
from ._messages import Reason
from ._results import CallResult, InfoResult, InResult, JoinResult, noreply
from ._telemetry import level_of

if TYPE_CHECKING:
    from ._calls import CallRef
    from ._process import ChannelProcess
    from ._socket import Socket

logger = logging.getLogger("pytest_channels")


class Channel:
    """A joined channel: one instance per join, running as an isolated actor.

    Override `join` (required) and whichever of `handle_in`, `handle_out` (for events listed
    in `intercept`), `handle_info` and `terminate` you need; each may be `async def`. Every
    callback gets the channel's own copy of the socket and returns the next one through
    `noreply`, `reply` or `stop`.

    Example:
        >>> from pytest_channels import ok, reply
        >>> class PingChannel(Channel):
        ...     def join(self, topic, payload, socket):
        ...         return ok(socket)
        ...     def handle_in(self, event, payload, socket):
        ...         return reply(socket, "ok", {"ping": "pong"})
    """

    intercept: ClassVar[Sequence[str]] = ()
    """Broadcast events that go through `handle_out`; every other one goes straight to the client."""

    shutdown: ClassVar[float] = 5.0
    """Seconds `terminate` may take before the channel is killed (exit reason "killed").

    Phoenix's `use Phoenix.Channel, shutdown: 5_000`. The seconds are virtual where the
    channel's own waits are (on a virtual event loop), real otherwise.
    """

    log_join: ClassVar[str | int | bool] = "info"
    """The level of the line logged when a join returns (`use Phoenix.Channel, log_join:`); False logs none."""

    log_handle_in: ClassVar[str | int | bool] = "debug"
    """The level of the line logged when `handle_in` returns (`log_handle_in:`); False logs none."""

    _log_levels: ClassVar[tuple[int | None, int | None]] = (logging.INFO, logging.DEBUG)

    _process: ChannelProcess
    _plain_callbacks: ClassVar[bool] = True
    """No callback is `async def`: the runtime may then run this channel's mailbox inline."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(cls.intercept, str) or not all(isinstance(e, str) for e in cls.intercept):
            raise TypeError(f"{cls.__name__}.intercept must be a list of event names (got {cls.intercept!r})")
        bound = cls.shutdown
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not 0 <= bound < math.inf:
            raise TypeError(
                f"{cls.__name__}.shutdown must be a finite number of seconds >= 0, the time terminate may "
                f"take before the channel is killed (got {bound!r})"
            )
        cls._log_levels = (
            level_of(cls.__name__, "log_join", cls.log_join),
            level_of(cls.__name__, "log_handle_in", cls.log_handle_in),
        )
        callbacks = ("join", "handle_in", "handle_out", "handle_info", "handle_call", "handle_cast", "terminate")
        cls._plain_callbacks = not any(inspect.iscoroutinefunction(getattr(cls, name)) for name in callbacks)

    # -- callbacks -------------------------------------------------------------------------

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult | Awaitable[JoinResult]:
        """Accept (`ok(socket)`, `ok(socket, reply)`) or refuse (`error(reply)`) a join."""
        raise NotImplementedError(f"{type(self).__name__} does not define join(topic, payload, socket)")

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult | Awaitable[InResult]:
        """Handle an event pushed by the client."""
        raise NotImplementedError(f"{type(self).__name__} does not define handle_in; it received event {event!r}")

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult | Awaitable[InfoResult]:
        """Handle an intercepted broadcast before (or instead of) it reaches the client."""
        raise NotImplementedError(
            f"{type(self).__name__} intercepts {event!r} but does not define handle_out(event, payload, socket)"
        )

    def handle_info(self, message: Any, socket: Socket) -> InfoResult | Awaitable[InfoResult]:
        """Handle a message sent with `send`, `send_after` or by other code. Default: log and ignore."""
        logger.warning(
            "%s (topic %r) received unexpected message in handle_info: %r", type(self).__name__, socket.topic, message
        )
        return noreply(socket)

    def handle_call(self, message: Any, from_: CallRef, socket: Socket) -> CallResult | Awaitable[CallResult]:
        """Answer a call (`Runtime.call`, `channels.call`): `call_reply(socket, value)`, or
        `noreply(socket)` and `from_.reply(value)` later. Default: crash, naming the call."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define handle_call(message, from_, socket); it was called with {message!r}"
        )

    def handle_cast(self, message: Any, socket: Socket) -> InfoResult | Awaitable[InfoResult]:
        """Handle a cast (`Runtime.cast`, `channels.cast`): fire and forget. Default: crash, naming it."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define handle_cast(message, socket); it was sent {message!r}"
        )

    def terminate(self, reason: Reason, socket: Socket) -> Awaitable[None] | None:
        """Called once when the channel stops: on leave, close, stop, crash and teardown."""
        return None

    # -- functions for use inside callbacks ------------------------------------------------

    def push(self, event: str, payload: Any = None) -> None:
        """Send an event to this channel's client."""
        self._process.push(event, payload)

    def broadcast(self, event: str, payload: Any = None) -> BroadcastError | None:
        """Broadcast on this channel's topic, to every subscriber including this channel's client.

        Returns the error when another node could not be reached (the local delivery is done).
        """
        return self._process.broadcast(event, payload, exclude_self=False)

    broadcast_or_raise = or_raise(broadcast)

    def broadcast_from(self, event: str, payload: Any = None) -> BroadcastError | None:
        """Broadcast on this channel's topic to every subscriber except this channel."""
        return self._process.broadcast(event, payload, exclude_self=True)

    broadcast_from_or_raise = or_raise(broadcast_from)

    def subscribe(self, topic: str) -> None:
        """Also receive broadcasts on `topic`, as `Broadcast` messages in `handle_info`.

        Subscribing twice to one topic is a no-op; the subscription ends with the channel.
        Unlike `push` and `broadcast` it works inside `join` too, as in Phoenix; a join that is
        refused or crashes drops the subscription again.
        """
        self._process.subscribe(topic)

    def unsubscribe(self, topic: str) -> None:
        """Stop receiving broadcasts on `topic` (see `subscribe`)."""
        self._process.unsubscribe(topic)

    def send(self, message: Any) -> None:
        """Queue `message` for this channel's own `handle_info` (Phoenix's `send(self(), msg)`)."""
        self._process.send(message)

    def send_after(self, seconds: float, message: Any) -> Timer:
        """Deliver `message` to `handle_info` after `seconds` of runtime time. Cancel with `.cancel()`."""
        return self._process.send_after(seconds, message)

    def socket_ref(self, socket: Socket) -> SocketRef:
        """A handle to reply to the push being handled later, from anywhere (inside `handle_in` only)."""
        return self._process.socket_ref(socket)


class SocketRef:
    """Replies asynchronously to one client push (Phoenix's `socket_ref` + `reply/2`)."""

    def __init__(self, process: ChannelProcess, ref: str) -> None:
        self._process = process
        self.ref = ref

    def reply(self, status: str, payload: Any = None) -> None:
        """Send the reply; it may be called from any task, after the handler returned."""
        self._process.reply(self.ref, status, payload)

    def __repr__(self) -> str:
        return f"<SocketRef {self._process.name} topic={self._process.socket.topic!r} ref={self.ref!r}>"
