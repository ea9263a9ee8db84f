"""`ChannelCase`: the harness for plain `def` tests. Waits run on a private event loop."""

from __future__ import annotations

import asyncio
import contextvars
import types
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ClassVar, Concatenate, Literal, ParamSpec, TypeVar

from .._runtime._errors import NotIdle
from ._async import AsyncChannelCase
from ._base import CaseBase, Interrupts, Wait, running_loop, stop_leftover_tasks
from ._loop import Deadlock, VirtualTimeLimit, virtual_loop_factory

T = TypeVar("T")
P = ParamSpec("P")


class ChannelCase(CaseBase):
    """Phoenix's ChannelCase for a synchronous test: the `channels` fixture in a `def` test.

    Channels run only while the test waits (`join`, `assert_*`, `refute_*`, `settle`,
    `advance`, `get_state`, `leave`, `close`), and every wait is in virtual time: a timer
    one hour away costs nothing. Payloads compare with `expected == actual`, so
    `unittest.mock.ANY`, `Partial`, `Where` and dirty-equals matchers work anywhere.
    """

    is_async: ClassVar[Literal[False]] = False
    _runner: asyncio.Runner | None = None
    _host: asyncio.Task[None] | None = None
    _stop: asyncio.Event
    _interrupts: Interrupts

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        __tracebackhide__ = True
        if running_loop() is not None:
            coroutine.close()
            raise RuntimeError(
                "the synchronous ChannelCase was used inside a running event loop. "
                "In an async test the `channels` fixture is an AsyncChannelCase: await its waits."
            )
        if self._core.closed:
            # After teardown (a fixture finalizer leaving its channel): nothing runs any more,
            # so a short-lived loop answers and is closed at once.
            with asyncio.Runner() as runner:
                return runner.run(coroutine)
        if self._runner is None:
            self._start()
            assert self._runner is not None
        # A fresh copy of the test's context each time, so channels see context variables
        # as the test has them now (Phoenix's $callers), not as they were at the first call.
        # The loop's own run_until_complete: Runner.run also swaps SIGINT handlers on
        # every call, which costs more than a whole round trip through a channel.
        loop = self._runner.get_loop()
        task: asyncio.Task[T] = loop.create_task(coroutine, context=contextvars.copy_context())
        self._interrupts.task = task
        try:
            try:
                return loop.run_until_complete(task)
            except asyncio.CancelledError as cancelled:
                self._interrupts.reraise(cancelled)
                raise
        except BaseException as exc:
            if not task.done():
                # Interrupted from outside (Ctrl-C, an alarm in the loop's own code): the wait
                # must not resume at teardown, which then stops the channels as they are.
                task.cancel()
                self._core.stalled = True
            if isinstance(exc, (NotIdle, Deadlock, VirtualTimeLimit)) or not isinstance(exc, Exception):
                # A guard fired, or the wait was cut short (pytest's outcomes, an alarm, Ctrl-C):
                # settling again at teardown could only wait for the same thing.
                self._core.stalled = True
            exc.__traceback__ = _without_asyncio_frames(exc.__traceback__)
            raise

    @staticmethod
    def _method(declared: Wait[..., Any]) -> Callable[..., Any]:
        body = declared.body

        def method(self: ChannelCase, *args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            return self._run(body(self, *args, **kwargs))

        return declared.adopt(method, "{}")

    def _enter_loop(self) -> None:
        if self._core.settings.virtual_loop and self._runner is None and not self._core.closed:
            self._start()

    def _start(self) -> None:
        virtual = self._core.settings.virtual_loop
        self._runner = asyncio.Runner(loop_factory=virtual_loop_factory if virtual else None)
        self._interrupts = Interrupts()
        self._interrupts.install(self._runner.get_loop())
        if virtual:
            # On a virtual loop the runtime serves in a host task that lives across the test's
            # calls; it runs only while a call runs the loop, so time still moves only in waits.
            self._runner.run(self._serve())

    async def _serve(self) -> None:
        self._core.bind()
        ready, self._stop = asyncio.Event(), asyncio.Event()

        async def host() -> None:
            async with self._core.runtime.serving():
                ready.set()
                await self._stop.wait()

        self._host = asyncio.get_running_loop().create_task(host(), name="pytest-channels runtime")
        await ready.wait()

    async def _stop_serving(self) -> None:
        assert self._host is not None
        self._stop.set()
        await self._host

    def run(
        self, helper: Callable[Concatenate[AsyncChannelCase, P], Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run an async helper, written once for sync and async tests, on this test's channels.

        The helper takes an `AsyncChannelCase` first and awaits its waits; an async test calls
        it directly (or awaits `channels.run(helper, ...)`), a `def` test calls
        `channels.run(helper, ...)`, which hands it a view on the same channels, mailbox and clock.
        """
        __tracebackhide__ = True
        view = AsyncChannelCase(_core=self._core)
        view._clients = self._clients

        async def call() -> T:
            __tracebackhide__ = True
            result = await helper(view, *args, **kwargs)
            view._check()  # a wait the helper forgot to await fails here, not never
            return result

        return self._run(call())

    def __enter__(self) -> ChannelCase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop every channel, cancel every timer, stop freezegun: what the fixture does at teardown."""
        __tracebackhide__ = True
        self._exit(exc_info[0])

    def _teardown(self) -> list[str]:
        __tracebackhide__ = True
        try:
            self._run(self._core.shutdown())
            if self._host is not None:
                self._run(self._stop_serving())
            # Closing the loop would cancel what channel code left running, and say nothing.
            loop = None if self._runner is None else self._runner.get_loop()
            problems = [] if loop is None else stop_leftover_tasks(asyncio.all_tasks(loop), self._core)
        finally:
            if self._runner is not None:
                self._runner.close()
                self._runner = None
            self._core.finish()
        return problems


def _without_asyncio_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """Drop the event loop's own frames, which say nothing about the test or its channels."""
    kept = []
    while tb is not None:
        if not str(tb.tb_frame.f_globals.get("__name__", "")).startswith("asyncio"):
            kept.append(tb)
        tb = tb.tb_next
    result = None
    for entry in reversed(kept):
        result = types.TracebackType(result, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return result
