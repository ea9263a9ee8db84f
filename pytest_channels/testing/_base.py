"""What `ChannelCase` and `AsyncChannelCase` share: everything that does not wait."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._clock import NS_PER_SECOND, LoopClock, VirtualClock
from .._errors import BroadcastError
from .._messages import Exit, Message
from .._runtime import Runtime
from .._socket import Socket, SocketHandler
from ._core import Core
from ._settings import Settings


class CaseBase:
    """The non-waiting half of the harness; see `ChannelCase` for the whole story."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._core = Core(settings or Settings())

    def _check(self) -> None:
        """Hook run before every call (the async case checks for forgotten awaits)."""

    @property
    def settings(self) -> Settings:
        """The settings in force for this test (ini options, then the `channels` marker)."""
        return self._core.settings

    @property
    def runtime(self) -> Runtime:
        """This test's runtime: broadcast from application code with `channels.runtime.broadcast(...)`."""
        return self._core.runtime

    @property
    def clock(self) -> VirtualClock | LoopClock:
        """This test's clock: a `VirtualClock`, or the loop's own on a virtual event loop."""
        return self._core.clock

    @property
    def now(self) -> float:
        """Virtual seconds since the test started."""
        return self._core.clock.now_ns() / NS_PER_SECOND

    @property
    def mailbox(self) -> tuple[Message, ...]:
        """Every message received and not yet consumed by an assertion, in arrival order.

        Reading it does not consume anything (Phoenix's `Process.info(self(), :messages)`).
        It shows what has arrived so far: call `settle()` or `advance()` first to let
        channels finish what they were asked to do.
        """
        self._check()
        return tuple(self._core.mailbox.messages)

    @property
    def exits(self) -> tuple[Exit, ...]:
        """Channel exits not yet claimed by `assert_exit`, `leave` or `close`."""
        return tuple(self._core.mailbox.exits)

    def flush(self) -> tuple[Message, ...]:
        """Consume and return every message in the mailbox."""
        self._check()
        return tuple(self._core.mailbox.flush())

    def socket(
        self,
        handler: type[SocketHandler] | None = None,
        id: str | None = None,
        assigns: Mapping[str, Any] | None = None,
    ) -> Socket:
        """A socket built without running `connect` (Phoenix's `socket/3`).

        Args:
            handler: the socket handler whose routes pick the channel on join.
            id: the socket id.
            assigns: initial assigns.
        """
        self._check()
        return self._core.socket(handler, id, assigns)

    def subscribe(self, topic: str) -> None:
        """Receive every broadcast on `topic` as a `Broadcast` (duplicates deliver twice)."""
        self._check()
        self._core.subscribe(topic)

    def unsubscribe(self, topic: str) -> None:
        """Stop receiving broadcasts on `topic`."""
        self._check()
        self._core.unsubscribe(topic)

    def push(self, socket: Socket, event: str, payload: Any = None) -> str:
        """Send `event` to the channel behind `socket`, as the client would; returns the ref.

        The channel handles it the next time the test waits (any `assert_*`, `refute_*`,
        `settle`, `advance`, `get_state`). The payload is normalized as the wire would
        (string keys, a fresh copy). A channel that has exited ignores it.
        """
        __tracebackhide__ = True
        self._check()
        return self._core.push(socket, event, payload)

    def broadcast_from(self, socket: Socket, event: str, payload: Any = None) -> BroadcastError | None:
        """Broadcast on the socket's topic from the test: every subscriber but the test gets it.

        Events the channel does not intercept reach the test's mailbox as a `Push` at once
        (Phoenix's fastlane); intercepted ones go through the channel's `handle_out`.
        Returns a BroadcastError when the broadcast could not reach other nodes.
        """
        __tracebackhide__ = True
        self._check()
        return self._core.broadcast_from(socket, event, payload)

    def broadcast_from_or_raise(self, socket: Socket, event: str, payload: Any = None) -> None:
        """`broadcast_from`, raising the BroadcastError instead of returning it (`broadcast_from!`)."""
        failure = self.broadcast_from(socket, event, payload)
        if failure is not None:
            raise failure
