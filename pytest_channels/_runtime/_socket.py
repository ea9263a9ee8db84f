"""Sockets: the per-connection value, the handler that accepts connections, and its routes."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from ._results import ConnectResult, ok

if TYPE_CHECKING:
    from ._channel import Channel
    from ._process import ChannelProcess
    from ._runtime import Runtime


@dataclass(frozen=True)
class Route:
    """A topic pattern (exact, or ending in ``*``) served by a channel class."""

    pattern: str
    channel: type[Channel]
    assigns: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "*" in self.pattern[:-1]:
            raise ValueError(f"channel route {self.pattern!r}: a splat pattern must end with *, as in 'room:*'")

    def matches(self, topic: str) -> bool:
        if self.pattern.endswith("*"):
            return topic.startswith(self.pattern[:-1])
        return topic == self.pattern


def route(pattern: str, channel: type[Channel], assigns: Mapping[str, Any] | None = None) -> Route:
    """Serve topics matching `pattern` with `channel`, merging `assigns` into the socket on join.

    Example:
        >>> from pytest_channels import Channel
        >>> class Room(Channel): ...
        >>> route("room:*", Room).matches("room:lobby")
        True
    """
    return Route(pattern, channel, dict(assigns or {}))


@dataclass(frozen=True)
class Socket:
    """One connection's state as a channel sees it. Immutable: `assign` returns a new socket.

    Every joined channel owns its own copy, so assigns set in one channel never show in
    another, even on the same connection. The copy is shallow, as in Phoenix where values
    are immutable: treat assign values as immutable too (assign a new list rather than
    appending to the old one), or channels sharing a socket will share the object.

    Attributes:
        handler: the `SocketHandler` class that accepted the connection, if any.
        id: the socket id from `SocketHandler.id` (None for anonymous sockets).
        assigns: read-only key/value state.
        topic, join_ref, joined: set once a channel has joined.
        ref: the reference of the client push being handled, inside `handle_in` only.
        runtime: the runtime the socket lives in (for tokens, broadcasts, the clock).
        channel_pid: the channel process behind a joined socket (opaque).
    """

    handler: type[SocketHandler] | None = None
    id: str | None = None
    assigns: Mapping[str, Any] = field(default_factory=dict)
    topic: str | None = None
    join_ref: str | None = None
    ref: str | None = None
    joined: bool = False
    channel: type[Channel] | None = field(default=None, repr=False)
    runtime: Runtime | None = field(default=None, repr=False, compare=False)
    channel_pid: ChannelProcess | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.assigns, MappingProxyType):
            object.__setattr__(self, "assigns", MappingProxyType(dict(self.assigns)))

    def assign(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Socket:
        """Return a copy with `values` and `kwargs` merged into the assigns.

        Example:
            >>> Socket().assign(user_id=1).assign({"room": "a"}).assigns == {"user_id": 1, "room": "a"}
            True
        """
        merged = {**self.assigns, **(values or {}), **kwargs}
        return dataclasses.replace(self, assigns=MappingProxyType(merged))

    def _replace(self, **changes: Any) -> Socket:
        # dataclasses.replace re-runs __init__ and __post_init__: this is the hot path of
        # every message a channel handles, so copy the fields directly.
        socket = object.__new__(Socket)
        fields = socket.__dict__  # filled in place, it stays a key-sharing dict: smaller and faster
        fields.update(self.__dict__)
        fields.update(changes)
        if "assigns" in changes and not isinstance(fields["assigns"], MappingProxyType):
            fields["assigns"] = MappingProxyType(dict(fields["assigns"]))
        return socket


class SocketHandler:
    """Accepts connections and routes topics to channels (Phoenix's `use Phoenix.Socket`).

    Subclass it, list `channels` with `route(...)` (first match wins), and override
    `connect` and `id` when the defaults (accept everyone, anonymous) do not fit.
    `connect` and `id` may be `async def`.
    """

    channels: ClassVar[Sequence[Route]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for entry in cls.channels:
            if not isinstance(entry, Route):
                raise TypeError(f"{cls.__name__}.channels must hold route(...) entries (got {entry!r})")

    def connect(
        self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]
    ) -> ConnectResult | Awaitable[ConnectResult]:
        """Accept or refuse a connection. Returns `ok(socket)`, `error()` or `error(reason)`."""
        return ok(socket)

    def id(self, socket: Socket) -> str | Awaitable[str | None] | None:
        """Name the connection, so that all its sockets can be reached by broadcasting to the id."""
        return None

    @classmethod
    def route_for(cls, topic: str) -> Route | None:
        """The first route matching `topic`, or None."""
        return next((entry for entry in cls.channels if entry.matches(topic)), None)
