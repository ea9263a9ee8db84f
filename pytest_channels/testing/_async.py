"""`AsyncChannelCase`: the harness for `async def` tests (pytest-asyncio, or anyio on asyncio or trio).

Its waits return awaitables that remember where they were made: one that is never awaited
fails the test at the next harness call or at teardown, so a forgotten `await` can never let
an assertion pass silently.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Awaitable, Callable, Coroutine, Generator
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, ClassVar, Concatenate, Generic, Literal, ParamSpec, TypeVar

import anyio

from ._base import CaseBase, Interrupts, Wait, running_loop, stop_leftover_tasks
from ._core import callers_frame
from ._format import never_awaited, time_limit, used_unawaited
from ._loop import VirtualTimeLimit

T = TypeVar("T")
P = ParamSpec("P")


class NeverAwaited(AssertionError):
    """An async harness call was made but never awaited, so it checked nothing."""


class Waiting(Generic[T]):
    """An awaitable harness call. The work starts when it is awaited."""

    __slots__ = ("_awaited", "_caller", "_case", "_name", "_work")

    def __init__(
        self, case: AsyncChannelCase, work: Callable[[], Coroutine[Any, Any, T]], name: str, caller: str
    ) -> None:
        self._case = case
        self._work = work
        self._awaited = False
        self._name, self._caller = name, caller

    @property
    def where(self) -> str:
        """The call and the line that made it (built only when a message needs it)."""
        return f"{self._name}(...){self._caller}"

    def __await__(self) -> Generator[Any, None, T]:
        if self._awaited:
            raise RuntimeError(f"channels.{self.where} was awaited twice; call the harness again instead")
        self._awaited = True
        self._case._pending.remove(self)
        return self._work().__await__()

    def __getattr__(self, name: str) -> Any:
        # `(channels.connect(...)).socket` without `await`: say so now, not at teardown.
        __tracebackhide__ = True
        if name.startswith("__"):  # protocol probing by other tools stays an AttributeError
            raise AttributeError(name)
        if self in self._case._pending:
            self._case._pending.remove(self)  # reported here: not again at the next call
        raise NeverAwaited(used_unawaited(self.where, name))

    def __repr__(self) -> str:
        return f"<channels.{self.where}>"


class AsyncChannelCase(CaseBase):
    """The `channels` fixture in an `async def` test: `ChannelCase` with awaited waits.

    Non-waiting calls (`socket`, `push`, `broadcast_from`, `mailbox`, `flush`, `subscribe`)
    are plain calls; every wait is awaited: `await channels.assert_push("number")`.
    """

    is_async: ClassVar[Literal[True]] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[Waiting[Any]] = []
        self._shut_down = False
        self._shutdown_error: BaseException | None = None
        self._in_body = False  # still True at teardown: the loop itself was interrupted mid-body
        self._tasks_before: set[asyncio.Task[Any]] = set()
        self._left_running: list[str] = []

    def _check(self) -> None:
        __tracebackhide__ = True
        if self._pending:
            forgotten = self._pending[:]
            self._pending.clear()
            raise NeverAwaited(never_awaited([w.where for w in forgotten]))

    @staticmethod
    def _method(declared: Wait[..., Any]) -> Callable[..., Any]:
        name, body = declared.name, declared.body

        def method(self: AsyncChannelCase, *args: Any, **kwargs: Any) -> Waiting[Any]:
            __tracebackhide__ = True
            return self._wait(name, body, self, *args, **kwargs)

        return declared.adopt(method, "Awaitable[{}]")

    def _wait(
        self, name: str, function: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any
    ) -> Waiting[T]:
        """The awaitable of a call of `function`, remembering the test's line that made it.

        Read now: a frame's line moves on. The never-awaited tests (tests/harness/test_async_case.py)
        check that it names the test's own line.
        """
        __tracebackhide__ = True
        self._check()
        frame = callers_frame()[0]
        caller = "" if frame is None else f" at {frame.f_code.co_filename}:{frame.f_lineno}"
        waiting = Waiting(self, functools.partial(function, *args, **kwargs), name, caller)
        self._pending.append(waiting)
        return waiting

    def _wrap_test(self, test: Callable[..., Any]) -> Callable[..., Any]:
        """`test`, run by `_run_test`: its channels stop inside its own event loop, right after its body,
        so that an async terminate can still await (see `_finish_in_loop`)."""

        @functools.wraps(test)
        async def run(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            return await self._run_test(functools.partial(test, *args, **kwargs))

        return run

    async def _run_test(self, body: Callable[[], Awaitable[T]]) -> T:
        """Run the test body inside its loop: on a virtual loop with the runtime serving and a
        guard at the virtual end of time; then stop the channels, still inside the loop.

        `body` is called only once the loop is known to fit, so a refused test leaves no
        coroutine behind that was never awaited.
        """
        __tracebackhide__ = True
        core = self._core
        self._tasks_before = _tasks()
        try:
            virtual = core.bind()  # else: no runtime to serve, and the real clock bounds nothing
            serving: AbstractAsyncContextManager[object] = core.runtime.serving() if virtual else nullcontext()
            async with serving:
                with anyio.move_on_after(core.settings.max_time if virtual else math.inf) as guard:
                    try:
                        return await self._interruptible(body)
                    finally:
                        if not guard.cancel_called:
                            await self._finish_in_loop()
                core.stalled = True
                # Described while the channels are still there to describe.
                busy = [(p.name, p.socket.topic, p.doing) for p in core.runtime.channels if p.doing]
                stalled = time_limit(core.settings.max_time, core.clock.now_ns(), busy, core.runtime.describe_timers())
            raise VirtualTimeLimit(stalled)
        finally:
            # After serving, whose own tasks are done by then.
            self._left_running = stop_leftover_tasks(_tasks() - self._tasks_before, core)

    async def _interruptible(self, body: Callable[[], Awaitable[T]]) -> T:
        """Run `body`, ended by a `BaseException` that asyncio swallowed in a callback (see `Interrupts`)."""
        __tracebackhide__ = True
        loop = running_loop()  # None on trio, which runs no callbacks that could swallow one
        interrupts = Interrupts()  # this body's own: the task it cancels is this one
        if loop is not None:
            interrupts.install(loop)
            interrupts.task = asyncio.current_task()
        self._in_body = True
        try:
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

    async def __aenter__(self) -> AsyncChannelCase:
        self._tasks_before = _tasks()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop every channel inside this loop, then finish as the fixture does at teardown."""
        __tracebackhide__ = True
        await self._finish_in_loop()
        self._left_running = stop_leftover_tasks(_tasks() - self._tasks_before, self._core)
        self._exit(exc_info[0])

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
        return forgotten + self._left_running


def _tasks() -> set[asyncio.Task[Any]]:
    """The asyncio tasks of the running loop (none on trio, whose nurseries leave none behind)."""
    return set() if running_loop() is None else asyncio.all_tasks()


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
