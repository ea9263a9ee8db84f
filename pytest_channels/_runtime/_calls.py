"""Calls and casts: asking a channel a question (GenServer.call) and telling it something (cast).

A call is a message in the channel's mailbox like any other, handled in order, one at a
time, by `handle_call(message, from_, socket)`; `from_` is a `CallRef`, answered when the
callback returns `call_reply(socket, value)` or, later and from anywhere, by
`from_.reply(value)`. The caller waits at most its timeout; a channel that exits first
answers with `ChannelExited`, one that never answers with `CallTimeout`. A late answer is
dropped, as OTP drops the reply to a call that timed out.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

import anyio

from ._clock import Clock, LoopClock, VirtualClock, format_ns
from ._errors import CallTimeout, ChannelExited
from ._messages import Exit


class _Clocked(Protocol):
    @property
    def clock(self) -> Clock: ...


class Callee(Protocol):
    """What a call uses of the channel process it asks (`ChannelProcess` imports this module, so
    this module names what it needs instead of importing the process)."""

    name: str
    exit: Exit | None
    callers: list[CallRef]

    @property
    def topic(self) -> str: ...
    @property
    def alive(self) -> bool: ...
    @property
    def runtime(self) -> _Clocked: ...


class CallRef:
    """The caller of one `handle_call`, waiting for its answer (GenServer's `from`)."""

    def __init__(self, process: Callee, message: Any) -> None:
        self._process = process
        self.message = message
        self._answered = False
        self._value: Any = None
        self._woken: anyio.Event | None = None
        self._late = False

    def __repr__(self) -> str:
        state = "answered" if self._answered else "waiting"
        return f"<CallRef call({self.message!r}) to {self._process.name} {state}>"

    def reply(self, value: Any) -> None:
        """Answer the call (GenServer.reply); from any task, once.

        Raises:
            RuntimeError: the call was answered already.
        """
        if self._answered:
            raise RuntimeError(f"call({self.message!r}) to {self._process.name} was answered already")
        self._answered = True
        with contextlib.suppress(ValueError):
            self._process.callers.remove(self)
        if not self._late:
            self._value = value  # kept only for a caller still waiting: a late answer is dropped
        self.wake()

    @property
    def done(self) -> bool:
        """Whether the caller can stop waiting: answered, or the channel is gone."""
        return self._answered or not self._process.alive

    def wake(self) -> None:
        if self._woken is not None:
            self._woken.set()

    async def wait(self, timeout: float, *, guarded: bool) -> None:
        """Wait for `done`: at most `timeout` seconds of the loop's time, or, inside a settle on a
        virtual clock (`guarded`), until the runtime's real-time idle guard gives up."""
        self._woken = anyio.Event()
        with anyio.move_on_after(None if guarded else timeout):
            await self._woken.wait()

    def outcome(self, timeout: float, started_ns: int) -> Any:
        """The answer, or the error that says why there is none."""
        __tracebackhide__ = True
        process = self._process
        if self._answered:
            return self._value
        what = f"call({self.message!r}) to {process.name} on {process.topic!r}"
        if process.exit is not None:
            exit = process.exit
            cause = exit.reason if isinstance(exit.reason, BaseException) else None
            raise ChannelExited(
                f"{what}: the channel exited at t={format_ns(exit.at_ns)} with reason {exit.reason!r} before answering"
            ) from cause
        self._late = True
        clock = process.runtime.clock
        kind = "virtual" if isinstance(clock, (VirtualClock, LoopClock)) else "real"
        raise CallTimeout(
            f"{what} got no answer within {timeout}s of {kind} time "
            f"(t={format_ns(started_ns)} to t={format_ns(clock.now_ns())}). The channel is still running: "
            "its handle_call returned noreply(socket) without a later from_.reply(value), or is still working. "
            "Answer with call_reply(socket, value), or give the call a longer timeout."
        )


def refuse_exited(process: Callee, action: str, message: Any) -> None:
    """Raise ChannelExited for a call to a channel that is not running."""
    __tracebackhide__ = True
    if process.alive:
        return
    exit = process.exit
    when = f" at t={format_ns(exit.at_ns)} with reason {exit.reason!r}" if exit is not None else ""
    raise ChannelExited(
        f"{action}({message!r}) to {process.name} on {process.topic!r}: the channel is not running: it exited{when}"
    )
