"""Ending a wait when asyncio swallows a `BaseException` raised inside one of its callbacks.

asyncio runs callbacks (a timer's, a future's) through `Handle._run`, which re-raises only
`KeyboardInterrupt` and `SystemExit`: anything else, pytest's outcome exceptions included, goes
to the loop's exception handler, which logs "Exception in callback" and carries on. When
pytest-timeout's signal alarm lands there, the callback that would have woken the waiting task
never finishes, the loop sleeps in `select()` with nothing to wake it, and the alarm fires only
once: the test hangs. An `Interrupts` handler turns that into the end of the wait instead: the
waiting task is cancelled, and the wait raises the swallowed exception in its place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Interrupts:
    """The loop exception handler of one harness; install it around the task that waits."""

    __slots__ = ("_previous", "caught", "task")

    def __init__(self) -> None:
        self.caught: BaseException | None = None
        self.task: asyncio.Task[Any] | None = None
        self._previous: Any = None

    def _handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if (
            isinstance(exc, BaseException)
            and not isinstance(exc, Exception | asyncio.CancelledError)
            and self.caught is None
            and self.task is not None
            and not self.task.done()
        ):
            self.caught = exc
            self.task.cancel()
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Handle `loop`'s callback exceptions from now on, passing ordinary ones to the previous handler."""
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self._handle)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.set_exception_handler(self._previous)

    def reraise(self, cancelled: asyncio.CancelledError) -> None:
        """Inside `except CancelledError`: raise what a callback swallowed, if that is why the task was cancelled."""
        __tracebackhide__ = True
        caught, self.caught = self.caught, None
        if caught is not None:
            # The cancellation was ours: undo it, so the task can go on to its teardown.
            if self.task is not None:
                self.task.uncancel()
            raise caught.with_traceback(caught.__traceback__) from None
        raise cancelled

    @contextmanager
    def watching(self, task: asyncio.Task[Any] | None) -> Iterator[None]:
        """Make `task` the one to cancel while the block runs."""
        previous, self.task = self.task, task
        try:
            yield
        finally:
            self.task = previous
