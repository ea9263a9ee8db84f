"""`ChannelCase`: the harness for plain `def` tests. Waits run on a private event loop."""

from __future__ import annotations

import asyncio
import contextvars
import types
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar
from unittest.mock import ANY

from .._runtime._channel import Channel
from .._runtime._clock import Seconds, to_ns
from .._runtime._errors import NotIdle
from .._runtime._messages import Broadcast, Exit, Push, Reply
from .._runtime._results import Error, Ok
from .._runtime._socket import Socket, SocketHandler
from . import _calling, _faults, _presence
from ._async import AsyncChannelCase
from ._base import CaseBase
from ._interrupts import Interrupts
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

    _runner: asyncio.Runner | None = None
    _host: asyncio.Task[None] | None = None
    _stop: asyncio.Event
    _interrupts: Interrupts

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        __tracebackhide__ = True
        if _running_loop() is not None:
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
        try:
            # A fresh copy of the test's context each time, so channels see context variables
            # as the test has them now (Phoenix's $callers), not as they were at the first call.
            # The loop's own run_until_complete: Runner.run also swaps SIGINT handlers on
            # every call, which costs more than a whole round trip through a channel.
            loop = self._runner.get_loop()
            task: asyncio.Task[T] = loop.create_task(coroutine, context=contextvars.copy_context())
            self._interrupts.task = task
            try:
                return loop.run_until_complete(task)
            except asyncio.CancelledError as cancelled:
                self._interrupts.reraise(cancelled)
                raise
            except BaseException:
                if not task.done():
                    # Interrupted from outside (Ctrl-C, an alarm in the loop's own code): the wait
                    # must not resume at teardown, which then stops the channels as they are.
                    task.cancel()
                    self._core.stalled = True
                raise
        except BaseException as exc:
            if isinstance(exc, (NotIdle, Deadlock, VirtualTimeLimit)) or not isinstance(exc, Exception):
                # A guard fired, or the wait was cut short (pytest's outcomes, an alarm, Ctrl-C):
                # settling again at teardown could only wait for the same thing.
                self._core.stalled = True
            exc.__traceback__ = _without_asyncio_frames(exc.__traceback__)
            raise

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

    def connect(
        self,
        handler: type[SocketHandler],
        params: Mapping[str, Any] | None = None,
        connect_info: Mapping[str, Any] | None = None,
        *,
        node: str | None = None,
    ) -> Ok | Error:
        """Run the handler's `connect` and `id` (Phoenix's `connect/3`), on `node` in a cluster.

        Returns `Ok(socket)` or the handler's `Error(reason)`. A socket with an id subscribes
        the test to that id, so `assert_broadcast("disconnect")` works, and a "disconnect"
        broadcast on the id closes the channels joined with it, as Phoenix closes the transport.
        """
        __tracebackhide__ = True
        return self._run(self._core.connect(handler, params, connect_info, node))

    def join(
        self, socket: Socket, topic: str, payload: Any = None, *, channel: type[Channel] | None = None
    ) -> Ok | Error:
        """Join `topic` through the socket's routes (or `channel=`), without subscribing the test.

        Returns `Ok` with `.socket` (the joined socket, after anything the join sent itself
        has run) and `.reply`, or `Error(reply)`: `{"reason": "join crashed"}` when join raised
        or returned something invalid, `{"reason": "unmatched topic"}` when no route matched.
        """
        __tracebackhide__ = True
        return self._run(self._core.join(socket, topic, payload, channel))

    def subscribe_and_join(
        self, socket: Socket, topic: str, payload: Any = None, *, channel: type[Channel] | None = None
    ) -> Ok | Error:
        """Subscribe the test to `topic`, then `join` it. The subscription stays if the join fails."""
        __tracebackhide__ = True
        return self._run(self._core.subscribe_and_join(socket, topic, payload, channel))

    def subscribe_and_join_or_raise(
        self, socket: Socket, topic: str, payload: Any = None, *, channel: type[Channel] | None = None
    ) -> Socket:
        """`subscribe_and_join` returning the joined socket, failing the test when refused."""
        __tracebackhide__ = True
        return self._run(self._core.subscribe_and_join_or_raise(socket, topic, payload, channel))

    def leave(self, socket: Socket) -> Exit:
        """Leave the channel and return its `Exit` (reason `("shutdown", "left")`).

        The channel's ok `Reply` and its `Close` stay in the mailbox. Never fails the test;
        leaving a channel that already exited returns its earlier exit. A `terminate` still
        running after the channel's `shutdown` seconds is cut short: the reason is then "killed".
        """
        __tracebackhide__ = True
        return self._run(self._core.leave(socket))

    def close(self, socket: Socket, *, timeout: float | None = None) -> Exit:
        """Close the channel as if its transport went away: `terminate(("shutdown", "closed"))`, no `Close`.

        A `terminate` still running after `timeout` seconds (default: the channel's
        `shutdown`, 5) is cut short and the exit's reason is "killed" (Phoenix's `close/2`).
        """
        __tracebackhide__ = True
        return self._run(self._core.close(socket, timeout))

    def get_state(self, socket: Socket) -> Socket:
        """The live channel's socket once it has handled everything sent before (`:sys.get_state`)."""
        __tracebackhide__ = True
        return self._run(self._core.get_state(socket))

    def call(self, socket: Socket, message: Any, *, timeout: float = 5.0) -> Any:
        """Ask the channel behind `socket` a question and return its answer (GenServer.call).

        Its `handle_call(message, from_, socket)` answers, in mailbox order. The wait runs the
        channels in virtual time for at most `timeout` virtual seconds (GenServer's 5 s).

        Raises:
            ChannelExited: the channel had exited, or exited before it answered.
            CallTimeout: no answer within `timeout`; the clock is left at the deadline.
        """
        __tracebackhide__ = True
        return self._run(_calling.call(self._core, socket, message, timeout))

    def settle(self) -> None:
        """Run every channel until idle, without moving time."""
        __tracebackhide__ = True
        self._run(self._core.settle())

    def advance(self, seconds: Seconds) -> None:
        """Move virtual time forward, firing due timers in order and settling after each."""
        __tracebackhide__ = True
        self._run(self._core.advance_to_ns(self._core.clock.now_ns() + to_ns(seconds)))

    def wait_until(self, condition: Callable[[], object], *, timeout: Seconds | None = None) -> None:
        """Run channels, nodes, clients and timers in virtual time until `condition()` is true.

        Fails the test when it is still false after `timeout` virtual seconds (default: the
        `assert_timeout` setting), leaving the clock at the deadline; `channels.now` then says when.
        """
        __tracebackhide__ = True
        self._run(_faults.wait_until(self._core, condition, timeout))

    def advance_to(self, instant: Seconds) -> None:
        """Move virtual time to `instant` (seconds since the test started), as `advance` does."""
        __tracebackhide__ = True
        self._run(self._core.advance_to_ns(to_ns(instant, name="instant")))

    def assert_push(
        self,
        event: Any,
        payload: Any = ANY,
        *,
        timeout: Seconds | None = None,
        topic: str | None = None,
        socket: Socket | None = None,
    ) -> Push:
        """Consume the first `Push` with this event and payload, waiting up to `timeout` virtual seconds.

        With `socket=`, only a push that the channel joined through that socket sent to its client.
        """
        __tracebackhide__ = True
        return self._run(self._core.assert_event(Push, event, payload, timeout, topic, socket))

    def refute_push(
        self,
        event: Any = ANY,
        payload: Any = ANY,
        *,
        timeout: Seconds | None = None,
        topic: str | None = None,
        socket: Socket | None = None,
    ) -> None:
        """Fail if a matching `Push` is there or arrives within `timeout` virtual seconds."""
        __tracebackhide__ = True
        self._run(self._core.refute_event(Push, event, payload, timeout, topic, socket))

    def assert_reply(
        self,
        ref: str,
        status: Any = ANY,
        payload: Any = ANY,
        *,
        timeout: Seconds | None = None,
        topic: str | None = None,
    ) -> Reply:
        """Consume the `Reply` to push `ref` with this status and payload."""
        __tracebackhide__ = True
        return self._run(self._core.assert_reply(ref, status, payload, timeout, topic))

    def refute_reply(
        self,
        ref: str,
        status: Any = ANY,
        payload: Any = ANY,
        *,
        timeout: Seconds | None = None,
        topic: str | None = None,
    ) -> None:
        """Fail if a matching `Reply` to `ref` is there or arrives within `timeout`."""
        __tracebackhide__ = True
        self._run(self._core.refute_reply(ref, status, payload, timeout, topic))

    def assert_broadcast(
        self, event: Any, payload: Any = ANY, *, timeout: Seconds | None = None, topic: str | None = None
    ) -> Broadcast:
        """Consume the first `Broadcast` the test received on its own subscriptions."""
        __tracebackhide__ = True
        return self._run(self._core.assert_event(Broadcast, event, payload, timeout, topic))

    def refute_broadcast(
        self, event: Any = ANY, payload: Any = ANY, *, timeout: Seconds | None = None, topic: str | None = None
    ) -> None:
        """Fail if a matching `Broadcast` is there or arrives within `timeout`."""
        __tracebackhide__ = True
        self._run(self._core.refute_event(Broadcast, event, payload, timeout, topic))

    def assert_exit(self, socket: Socket | str, reason: Any = ANY, *, timeout: Seconds | None = None) -> Exit:
        """Claim the exit of the channel behind `socket` (or on a topic), e.g. an expected crash."""
        __tracebackhide__ = True
        return self._run(self._core.assert_exit(socket, reason, timeout))

    def assert_presence(self, source: Any, *args: Any, node: str | None = None, timeout: float | None = None) -> Any:
        """Wait in virtual time until a presence list is the expected one; returns the list.

        `assert_presence(RoomPresence, topic, expected, node=...)` checks what that node lists;
        `assert_presence(client_presence, expected)` what a simulated client has synced.
        `expected` is a collection of keys (`{"alice", "bob"}`) or keys with their metas
        (`{"alice": [{"status": "away"}]}`, compared without `phx_ref` / `phx_ref_prev`), or
        keys with whole presences as `fetch` extends them (`{"alice": {"metas": [...], "name": "Alice"}}`).
        The failure shows the list, the diffs with their virtual times and what the tracker knows.
        """
        __tracebackhide__ = True
        return self._run(_presence.assert_presence(self._core, source, args, node, timeout))

    def __enter__(self) -> ChannelCase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop every channel, cancel every timer, stop freezegun: what the fixture does at teardown."""
        __tracebackhide__ = True
        problems = self._teardown()
        if exc_info[0] is None:
            problems += self._core.strict_problems()
        if problems:
            raise AssertionError("\n".join(problems))

    def _teardown(self) -> list[str]:
        __tracebackhide__ = True
        try:
            self._run(self._core.shutdown())
            if self._host is not None:
                self._run(self._stop_serving())
            problems = self._leaked_tasks()
        finally:
            if self._runner is not None:
                self._runner.close()
                self._runner = None
            self._core.finish()
        return problems

    def _leaked_tasks(self) -> list[str]:
        if self._runner is None:
            return []
        loop = self._runner.get_loop()
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        if self._core.stalled:
            # A guard stopped the loop in the middle of a wait: what it left is the harness's
            # own interrupted wait, already reported by the guard. Cancel it quietly.
            for task in pending:
                task.cancel()
            return []
        return [f"channel code left a task running: {t!r}" for t in pending]


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


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
