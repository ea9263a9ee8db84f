"""`AsyncChannelCase`: the harness for `async def` tests (pytest-asyncio, or anyio on asyncio or trio).

Its waits return awaitables that remember where they were made: one that is never awaited
fails the test at the next harness call or at teardown, so a forgotten `await` can never let
an assertion pass silently.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar
from unittest.mock import ANY

import anyio

from .._runtime._channel import Channel
from .._runtime._clock import Seconds, to_ns
from .._runtime._messages import Broadcast, Exit, Push, Reply
from .._runtime._results import Error, Ok
from .._runtime._socket import Socket, SocketHandler
from . import _calling, _faults, _presence
from ._base import CaseBase
from ._core import describe_time_limit
from ._interrupts import Interrupts
from ._loop import VirtualTimeLimit

T = TypeVar("T")
P = ParamSpec("P")


class NeverAwaited(AssertionError):
    """An async harness call was made but never awaited, so it checked nothing."""


class Waiting(Generic[T]):
    """An awaitable harness call. The work starts when it is awaited."""

    __slots__ = ("_args", "_awaited", "_case", "_function", "_line", "_name", "_path")

    def __init__(
        self,
        case: AsyncChannelCase,
        function: Callable[..., Coroutine[Any, Any, T]],
        args: tuple[Any, ...],
        name: str,
        path: str,
        line: int,
    ) -> None:
        self._case = case
        self._function = function
        self._args = args
        self._awaited = False
        self._name, self._path, self._line = name, path, line

    @property
    def where(self) -> str:
        """The call and the line that made it (built only when a message needs it)."""
        return f"{self._name}(...) at {self._path}:{self._line}"

    def __await__(self) -> Generator[Any, None, T]:
        if self._awaited:
            raise RuntimeError(f"channels.{self.where} was awaited twice; call the harness again instead")
        self._awaited = True
        self._case._pending.remove(self)
        return self._function(*self._args).__await__()

    def __getattr__(self, name: str) -> Any:
        # `(channels.connect(...)).socket` without `await`: say so now, not at teardown.
        __tracebackhide__ = True
        if name.startswith("__"):  # protocol probing by other tools stays an AttributeError
            raise AttributeError(name)
        if self in self._case._pending:
            self._case._pending.remove(self)  # reported here: not again at the next call
        raise NeverAwaited(
            f"channels.{self.where} was used as its result ({name!r}) without being awaited. "
            "Add `await`: `(await channels.connect(...)).socket`."
        )

    def __repr__(self) -> str:
        return f"<channels.{self.where}>"


class AsyncChannelCase(CaseBase):
    """The `channels` fixture in an `async def` test: `ChannelCase` with awaited waits.

    Non-waiting calls (`socket`, `push`, `broadcast_from`, `mailbox`, `flush`, `subscribe`)
    are plain calls; every wait is awaited: `await channels.assert_push("number")`.
    """

    is_async = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[Waiting[Any]] = []
        self._shut_down = False
        self._shutdown_error: BaseException | None = None
        self._in_body = False  # still True at teardown: the loop itself was interrupted mid-body

    def _check(self) -> None:
        __tracebackhide__ = True
        if self._pending:
            forgotten = self._pending[:]
            self._pending.clear()
            where = "\n".join(f"  - {w.where}" for w in forgotten)
            raise NeverAwaited(
                f"{len(forgotten)} harness call(s) were never awaited, so they checked nothing:\n{where}\n"
                "Add `await` in front of each."
            )

    def _wait(self, name: str, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> Waiting[T]:
        __tracebackhide__ = True
        self._check()
        caller = sys._getframe(2)
        waiting = Waiting(self, function, args, name, caller.f_code.co_filename, caller.f_lineno)
        self._pending.append(waiting)
        return waiting

    async def _run_test(self, body: Callable[[], Awaitable[T]]) -> T:
        """Run the test body inside its loop: on a virtual loop with the runtime serving and a
        guard at the virtual end of time; then stop the channels, still inside the loop.

        `body` is called only once the loop is known to fit, so a refused test leaves no
        coroutine behind that was never awaited.
        """
        __tracebackhide__ = True
        core = self._core
        if not core.bind():
            try:
                return await self._interruptible(body)
            finally:
                await self._finish_in_loop()
        async with core.runtime.serving():
            with anyio.move_on_after(core.settings.max_time) as guard:
                try:
                    return await self._interruptible(body)
                finally:
                    if not guard.cancel_called:
                        await self._finish_in_loop()
            core.stalled = True
            stalled = describe_time_limit(core)  # while the channels are still there to describe
        raise VirtualTimeLimit(stalled)

    async def _interruptible(self, body: Callable[[], Awaitable[T]]) -> T:
        """Run `body`, ended by a `BaseException` that asyncio swallowed in a callback (see _interrupts)."""
        __tracebackhide__ = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # trio runs no callbacks that could swallow one
            loop = None
        task = asyncio.current_task() if loop is not None else None
        interrupts = Interrupts()
        if loop is not None:
            interrupts.install(loop)
        self._in_body = True
        try:
            with interrupts.watching(task):
                try:
                    return await body()
                except asyncio.CancelledError as cancelled:
                    interrupts.reraise(cancelled)
                    raise
        except BaseException as exc:
            if not isinstance(exc, Exception):
                # Cut short (pytest's outcomes, an alarm, a cancellation): settling at teardown
                # could only wait for the same thing, so the channels are stopped as they are.
                self._core.stalled = True
            raise
        finally:
            self._in_body = False
            if loop is not None:
                interrupts.uninstall(loop)

    async def _finish_in_loop(self) -> None:
        """Stop the channels inside the test's own event loop, right after the test body.

        Teardown hooks run outside any loop (anyio's may be closed by then, trio has none),
        so an async `terminate` could not run there. Errors wait for the teardown report.
        """
        try:
            await self._core.shutdown()
        except BaseException as exc:
            self._shutdown_error = exc
            if not isinstance(exc, Exception):
                raise
        self._shut_down = True

    def run(
        self,
        helper: Callable[Concatenate[AsyncChannelCase, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Awaitable[T]:
        """See `ChannelCase.run`: here `await channels.run(helper, ...)` is `await helper(channels, ...)`."""

        async def call() -> T:
            __tracebackhide__ = True
            return await helper(self, *args, **kwargs)

        return self._wait("run", call)

    def connect(
        self,
        handler: type[SocketHandler],
        params: Mapping[str, Any] | None = None,
        connect_info: Mapping[str, Any] | None = None,
        *,
        node: str | None = None,
    ) -> Awaitable[Ok | Error]:
        """See `ChannelCase.connect`."""
        return self._wait("connect", self._core.connect, handler, params, connect_info, node)

    def join(
        self, socket: Socket, topic: str, payload: Any = None, *, channel: type[Channel] | None = None
    ) -> Awaitable[Ok | Error]:
        """See `ChannelCase.join`."""
        return self._wait("join", self._core.join, socket, topic, payload, channel)

    def subscribe_and_join(
        self, socket: Socket, topic: str, payload: Any = None, *, channel: type[Channel] | None = None
    ) -> Awaitable[Ok | Error]:
        """See `ChannelCase.subscribe_and_join`."""
        return self._wait("subscribe_and_join", self._core.subscribe_and_join, socket, topic, payload, channel)

    def subscribe_and_join_or_raise(
        self, socket: Socket, topic: str, payload: Any = None, *, channel: type[Channel] | None = None
    ) -> Awaitable[Socket]:
        """See `ChannelCase.subscribe_and_join_or_raise`."""
        function = self._core.subscribe_and_join_or_raise
        return self._wait("subscribe_and_join_or_raise", function, socket, topic, payload, channel)

    def leave(self, socket: Socket) -> Awaitable[Exit]:
        """See `ChannelCase.leave`."""
        return self._wait("leave", self._core.leave, socket)

    def close(self, socket: Socket, *, timeout: float | None = None) -> Awaitable[Exit]:
        """See `ChannelCase.close`."""
        return self._wait("close", self._core.close, socket, timeout)

    def get_state(self, socket: Socket) -> Awaitable[Socket]:
        """See `ChannelCase.get_state`."""
        return self._wait("get_state", self._core.get_state, socket)

    def call(self, socket: Socket, message: Any, *, timeout: float = 5.0) -> Awaitable[Any]:
        """See `ChannelCase.call`."""
        return self._wait("call", _calling.call, self._core, socket, message, timeout)

    def settle(self) -> Awaitable[None]:
        """See `ChannelCase.settle`."""
        return self._wait("settle", self._core.settle)

    def advance(self, seconds: Seconds) -> Awaitable[None]:
        """See `ChannelCase.advance`."""
        return self._wait("advance", self._core.advance_to_ns, self._core.clock.now_ns() + to_ns(seconds))

    def wait_until(self, condition: Callable[[], object], *, timeout: Seconds | None = None) -> Awaitable[None]:
        """See `ChannelCase.wait_until`."""
        return self._wait("wait_until", _faults.wait_until, self._core, condition, timeout)

    def advance_to(self, instant: Seconds) -> Awaitable[None]:
        """See `ChannelCase.advance_to`."""
        return self._wait("advance_to", self._core.advance_to_ns, to_ns(instant, name="instant"))

    def assert_push(
        self,
        event: Any,
        payload: Any = ANY,
        *,
        timeout: Seconds | None = None,
        topic: str | None = None,
        socket: Socket | None = None,
    ) -> Awaitable[Push]:
        """See `ChannelCase.assert_push`."""
        return self._wait("assert_push", self._core.assert_event, Push, event, payload, timeout, topic, socket)

    def refute_push(
        self,
        event: Any = ANY,
        payload: Any = ANY,
        *,
        timeout: Seconds | None = None,
        topic: str | None = None,
        socket: Socket | None = None,
    ) -> Awaitable[None]:
        """See `ChannelCase.refute_push`."""
        return self._wait("refute_push", self._core.refute_event, Push, event, payload, timeout, topic, socket)

    def assert_reply(
        self,
        ref: str,
        status: Any = ANY,
        payload: Any = ANY,
        *,
        timeout: Seconds | None = None,
        topic: str | None = None,
    ) -> Awaitable[Reply]:
        """See `ChannelCase.assert_reply`."""
        return self._wait("assert_reply", self._core.assert_reply, ref, status, payload, timeout, topic)

    def refute_reply(
        self,
        ref: str,
        status: Any = ANY,
        payload: Any = ANY,
        *,
        timeout: Seconds | None = None,
        topic: str | None = None,
    ) -> Awaitable[None]:
        """See `ChannelCase.refute_reply`."""
        return self._wait("refute_reply", self._core.refute_reply, ref, status, payload, timeout, topic)

    def assert_broadcast(
        self, event: Any, payload: Any = ANY, *, timeout: Seconds | None = None, topic: str | None = None
    ) -> Awaitable[Broadcast]:
        """See `ChannelCase.assert_broadcast`."""
        return self._wait("assert_broadcast", self._core.assert_event, Broadcast, event, payload, timeout, topic)

    def refute_broadcast(
        self, event: Any = ANY, payload: Any = ANY, *, timeout: Seconds | None = None, topic: str | None = None
    ) -> Awaitable[None]:
        """See `ChannelCase.refute_broadcast`."""
        return self._wait("refute_broadcast", self._core.refute_event, Broadcast, event, payload, timeout, topic)

    def assert_exit(
        self, socket: Socket | str, reason: Any = ANY, *, timeout: Seconds | None = None
    ) -> Awaitable[Exit]:
        """See `ChannelCase.assert_exit`."""
        return self._wait("assert_exit", self._core.assert_exit, socket, reason, timeout)

    def assert_presence(
        self, source: Any, *args: Any, node: str | None = None, timeout: float | None = None
    ) -> Awaitable[Any]:
        """See `ChannelCase.assert_presence`."""
        return self._wait("assert_presence", _presence.assert_presence, self._core, source, args, node, timeout)

    async def __aenter__(self) -> AsyncChannelCase:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop every channel inside this loop, then finish as the fixture does at teardown."""
        __tracebackhide__ = True
        await self._finish_in_loop()
        problems = self._teardown()
        if exc_info[0] is None:
            problems += self._core.strict_problems()
        if problems:
            raise AssertionError("\n".join(problems))

    def _teardown(self) -> list[str]:
        __tracebackhide__ = True
        forgotten = [f"never awaited (add `await`): {w.where}" for w in self._pending]
        self._pending.clear()
        try:
            if self._shutdown_error is not None:
                raise self._shutdown_error
            if not self._shut_down:
                if self._in_body:
                    # An alarm or Ctrl-C stopped the loop itself while the body waited: settling
                    # could only wait for the same thing, so the channels are stopped as they are.
                    self._core.stalled = True
                _finish_without_loop(self._core.shutdown())
        finally:
            self._core.finish()
        return forgotten


def _finish_without_loop(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run teardown when the test body did not (the case was built by hand, or setup failed).

    Without a loop this works as long as nothing awaits for real: a channel's terminate
    that awaits needs the test body's loop, which `_finish_in_loop` provides.
    """
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError(
        "stopping the channels needed an event loop, and the test's loop is gone. "
        "Close such channels inside the test: await channels.close(socket)."
    )
