"""The harness itself: one test's runtime, clock, mailbox, and the waits that drive them.

`ChannelCase` (sync tests) and `AsyncChannelCase` (async tests) are thin skins over this.
Every wait follows one loop: run the runtime until idle, look, and if nothing matched jump
to the next timer within the deadline and fire it; deadlines are inclusive.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import inspect
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import FrameType
from typing import Any, TypeVar
from unittest.mock import ANY

import pytest_channels.testing._format as _format

from .._runtime._channel import Channel
from .._runtime._clock import LoopClock, Seconds, VirtualClock, to_ns
from .._runtime._errors import BroadcastError, NodeStopped, NotIdle, UnknownNode
from .._runtime._eventloop import running_trio
from .._runtime._messages import Broadcast, Close, Exit, Message, Push, Reason, Reply
from .._runtime._process import ChannelProcess
from .._runtime._results import Error, Ok
from .._runtime._runtime import Runtime
from .._runtime._socket import Socket, SocketHandler
from .._server._multiplexer import ById
from ._cluster import Cluster
from ._freeze import WallFreeze
from ._group import GroupRuntime
from ._loop import VirtualTimeLoop, virtual_loop_factory
from ._mailbox import Addressee, Mailbox, Recipient
from ._matchers import same
from ._settings import Settings
from ._wire import WireConnection, client_frame, connect_params

M = TypeVar("M", bound=Message)
T = TypeVar("T")
E = TypeVar("E", Push, Broadcast)

_NOT_VIRTUAL = (
    "channels(virtual_loop=True) was asked for, but this test runs on {loop}, whose clock is real. "
    "A pytest_asyncio_loop_factories hook in your conftest.py probably won over the plugin's: return "
    '{{"virtual": pytest_channels.testing.virtual_loop_factory}} for such tests. With anyio, use '
    "pytest_channels.testing.virtual_anyio_backend(...) as the anyio_backend fixture's value."
)

TEST_SECRET = "pytest-channels test secret, not for production"


class ChannelCrashed(AssertionError):
    """A joined channel crashed and the test did not claim the exit with `assert_exit`."""


# -- hints for habits brought from Phoenix: millisecond timeouts and integer refs -----------------
# (A topic subscribed to twice, which as in Phoenix delivers every broadcast twice, is noted
# in the failure itself: see `_format.subscription_notes`.)


class LooksLikeMilliseconds(UserWarning):
    """A `timeout=` that reads as milliseconds (Phoenix's unit) where this harness takes seconds.

    Raised as a warning for a whole number of at least the `ms_timeout_warning` setting
    (default 100) that is a multiple of 50 and of no whole minute: 100, 250, 500, 1000, 5000.
    Pass a `datetime.timedelta` to say the unit, or set `ms_timeout_warning = 0` to turn it off.
    """


def check_timeout(timeout: Any, threshold: float) -> None:
    """Warn when `timeout` (seconds) looks like a millisecond count written from Phoenix habit."""
    if threshold <= 0 or type(timeout) not in (int, float) or timeout < threshold:
        return
    if timeout != int(timeout) or int(timeout) % 50 or not int(timeout) % 60:
        return
    warnings.warn(
        f"timeout={timeout!r} is in seconds here: {timeout:g} s of virtual time, where Phoenix's "
        f"assert_push takes milliseconds. For {timeout:g} ms pass timeout={timeout / 1000:g}; to mean "
        f"seconds, pass datetime.timedelta(seconds={timeout:g}) or set channels_ms_timeout_warning = 0.",
        LooksLikeMilliseconds,
        stacklevel=callers_frame()[1],
    )


def check_ref(call: str, ref: Any) -> None:
    """Refuse an integer ref: refs are the strings `push` returns, as on the wire."""
    if isinstance(ref, int):
        raise TypeError(
            f"{call}: refs are strings (got the int {ref!r}). Pass the ref that channels.push(...) "
            f"returned, or {str(ref)!r} if you counted it yourself."
        )


def callers_frame() -> tuple[FrameType | None, int]:
    """The test's call: the first frame outside this package, asyncio and anyio, and its stack level.

    `inspect.currentframe` is public, but gives None on a Python without stack frames: then
    there is no frame, and the level is the caller's.
    """
    frame, level = inspect.currentframe(), 0
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if not (name.startswith(("pytest_channels.", "asyncio", "anyio")) or name == "pytest_channels"):
            return frame, level
        frame, level = frame.f_back, level + 1
    return None, 1


class Core:
    """One test's channel world. Not public: use `ChannelCase` or `AsyncChannelCase`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock: VirtualClock | LoopClock = VirtualClock(settings.wall_start)
        self._freeze = WallFreeze()
        if settings.freeze_time:
            self._freeze.start(lambda: self.clock.wall(), self._shift_wall, monotonic=settings.freeze_monotonic)
        # A group runtime settles every node of a cluster the test may start (see `start_cluster`),
        # so each wait below drives them all; alone, it is a plain Runtime.
        self.runtime = GroupRuntime(
            clock=self.clock,
            secret_key_base=TEST_SECRET,
            check_payloads=settings.check_payloads,
            idle_timeout=settings.idle_timeout,
        )
        self.mailbox = Mailbox(on_change=self.runtime.notify)
        self._wired: list[WireConnection] = []  # with `wire`: each socket's connection
        self._by_id: set[tuple[Runtime, str]] = set()  # the socket ids whose disconnect closes the test's joins
        self.closed = False
        self.stalled = False  # a guard fired: NotIdle, Deadlock or VirtualTimeLimit
        self._join_errors: dict[str, BaseException | None] = {}
        self.cluster: Cluster | None = None
        self.first_node: str | None = None
        self.subscriptions: Counter[str] = Counter()  # topic: how many times the test subscribed
        self.left_unconsumed: list[Message] = []  # at shutdown, for strict_mailbox
        self._harness_caused: list[Message] = []  # what a leave sent back: no leftovers (held, so ids stay unique)

    def _shift_wall(self, delta: dt.timedelta) -> None:
        """Move the wall clock of every instant by `delta` (a `freeze_time` of the user's sets it)."""
        self.clock.wall_start += delta

    @property
    def on_loop(self) -> bool:
        """Whether the runtime runs on the event loop's own (virtual) clock."""
        return isinstance(self.clock, LoopClock)

    def bind(self) -> bool:
        """Inside the test's event loop, before any work, once: adopt the loop's clock if it is virtual.

        On a `VirtualTimeLoop` or under trio's `MockClock` with autojump, channel code's own
        sleeps are virtual, so the runtime must share that clock (one timeline) and serve
        messages as they arrive. Returns whether it does.

        Raises:
            RuntimeError: `virtual_loop` was asked for but the loop is not virtual, which
                happens when a conftest's own loop-factory hook or anyio backend won.
        """
        __tracebackhide__ = True
        loop = None if running_trio() else asyncio.get_running_loop()
        # The loop's time source and wait-idle if its time is virtual, else which loop it is, for the error.
        found: tuple[Callable[[], float], Callable[[], Awaitable[None]]] | str
        if loop is None:
            import trio
            import trio.testing

            clock = trio.lowlevel.current_clock()
            virtual = isinstance(clock, trio.testing.MockClock) and clock.autojump_threshold == 0
            found = (clock.current_time, trio.testing.wait_all_tasks_blocked) if virtual else f"trio with {clock!r}"
        else:
            found = (loop.time, loop.wait_idle) if isinstance(loop, VirtualTimeLoop) else repr(loop)
        if isinstance(found, str):
            if self.settings.virtual_loop:
                raise RuntimeError(_NOT_VIRTUAL.format(loop=found))
            return False
        time_source, wait_idle = found
        self.clock = LoopClock(time_source, wait_idle, self.clock.wall())  # a user's freeze_time may have set it
        self.runtime.group.on_loop_clock(self.clock)  # before any node: every node reads the loop's clock
        if isinstance(loop, VirtualTimeLoop):  # the test's guards (trio's guard is the test's deadline)
            loop.idle_timeout = self.settings.idle_timeout
            loop.max_time = loop.time() + self.settings.max_time
            loop.io_grace = self.settings.io_grace
        return True

    # -- sockets ---------------------------------------------------------------------------------

    def _runtime_of(self, socket: Socket, action: str) -> Runtime:
        """The runtime of the node this test's `socket` lives on (the test's own runtime without a cluster)."""
        if not isinstance(socket, Socket):
            raise TypeError(f"{action} needs a Socket (got {socket!r})")
        runtime = socket.runtime
        if runtime is None or runtime is self.runtime:
            return self.runtime
        if not (isinstance(runtime, GroupRuntime) and runtime.group is self.runtime.group):  # not one of our nodes
            raise ValueError(f"{action}: this socket belongs to another runtime (another test's, or your own Runtime)")
        return runtime

    # -- nodes -------------------------------------------------------------------------------------
    # `channels.cluster("server", "remote")` turns the test's own runtime into the first node, so
    # sockets made before and after it agree, and `node=None` keeps meaning "the test's runtime".

    def start_cluster(self, names: tuple[str, ...], seed: int | None) -> Cluster:
        """Make the test's runtime the node `names[0]` and start the others on the same clock.

        On a virtual event loop that clock is the loop's, so the harness must be on the loop first
        (the sync harness starts its loop for this; see `ChannelCase.cluster`).
        """
        if self.cluster is not None:
            raise ValueError(
                f"this test already has a cluster ({', '.join(self.cluster.names)}); "
                "start more nodes on it with cluster.start(name)"
            )
        if not names:
            raise ValueError("cluster needs at least one node name, as in channels.cluster('server', 'remote')")
        if self.settings.virtual_loop and not self.on_loop:
            raise RuntimeError(
                "channels.cluster(...) on a virtual event loop must run inside the test's loop, which has not "
                "started yet: make the cluster in the test body (an async fixture runs before the test's loop "
                "is the channels' clock)"
            )
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"node {twice[0]!r} is named twice")
        cluster = Cluster(
            group=self.runtime.group,
            seed=seed,
            secret_key_base=TEST_SECRET,
            check_payloads=self.settings.check_payloads,
            idle_timeout=self.settings.idle_timeout,
        )
        cluster.start(names[0], runtime=self.runtime)
        for name in names[1:]:
            cluster.start(name)
        self.cluster, self.first_node = cluster, names[0]
        return cluster

    def runtime_for(self, node: str | None, action: str) -> Runtime:
        """The runtime behind `node=`: the named node, or the test's first node (its own runtime).

        Raises:
            UnknownNode: no such node, or no cluster at all.
            NodeStopped: the node is stopped.
        """
        if self.cluster is None:
            if node is None:
                return self.runtime
            raise UnknownNode(
                f"{action}: unknown node {node!r}: this test has no cluster; "
                f"start one with channels.cluster({node!r}, ...)"
            )
        try:
            return self.cluster.node(node if node is not None else self.first_node or "").runtime
        except (UnknownNode, NodeStopped) as exc:
            raise type(exc)(f"{action}: {exc}") from None

    async def connect(
        self,
        handler: type[SocketHandler],
        params: Mapping[str, Any] | None,
        connect_info: Mapping[str, Any] | None,
        node: str | None = None,
    ) -> Ok | Error:
        if self.settings.wire:
            params = connect_params(params)
        runtime = self.runtime_for(node, "connect")
        result = await runtime.connect(handler, params, connect_info)
        if isinstance(result, Ok) and result.socket.id is not None:
            socket_id = result.socket.id
            runtime.pubsub.subscribe(socket_id, self.mailbox)
            # Phoenix's way to log a user out everywhere: a "disconnect" broadcast on the id closes
            # the test's channels joined with it, on each node (with `wire`, the socket's connection
            # closes itself, as the server's does).
            if not self.settings.wire and (runtime, socket_id) not in self._by_id:
                self._by_id.add((runtime, socket_id))
                runtime.pubsub.subscribe(socket_id, ById(functools.partial(self._disconnect, runtime, socket_id)))
        return result

    def _disconnect(self, runtime: Runtime, socket_id: str) -> None:
        """Close the channels the test joined on `runtime` with this socket id."""
        for process in runtime.channels:
            through = getattr(process.transport, "via", process.transport)  # a join's Recipient
            if through is self.mailbox and process.socket.id == socket_id and process.alive:
                runtime.close(process.socket)

    async def join(self, socket: Socket, topic: str, payload: Any, channel: type[Channel] | None) -> Ok | Error:
        __tracebackhide__ = True
        runtime = self._runtime_of(socket, "join")
        if channel is None and socket.handler is None:
            raise TypeError(
                f"join: no channel for {topic!r}: this socket has no handler whose routes could pick one. "
                "Pass channel=YourChannel, or build the socket from your SocketHandler "
                "(channels.socket(UserSocket) or channels.connect(UserSocket, params))."
            )
        if self.settings.wire:
            return await self._wire_join(self._connection(socket, runtime), topic, payload, channel)
        started = runtime.start_join(socket, topic, payload, Recipient(self.mailbox), channel=channel)
        if isinstance(started, Error):
            return started
        await self.settle()
        assert started.join_result is not None
        self._join_errors[topic] = started.join_error
        if isinstance(started.join_result, Ok):
            return Ok(started.socket, started.join_result.reply)
        return started.join_result

    # -- the wire: the server's connection state machine between the test and its channels --------

    def _connection(self, socket: Socket, runtime: Runtime) -> WireConnection:
        """The connection a socket's frames travel on: the one its channel joined through, else its own."""
        process = socket.channel_pid
        if process is not None and isinstance(process.transport, WireConnection):
            return process.transport
        connection = next((c for c in self._wired if c.socket is socket), None)
        if connection is None:
            connection = WireConnection(runtime, socket, self.mailbox)
            self._wired.append(connection)
        return connection

    async def _wire_join(
        self, connection: WireConnection, topic: str, payload: Any, channel: type[Channel] | None
    ) -> Ok | Error:
        __tracebackhide__ = True
        ref = connection.runtime.make_ref()
        connection.join(client_frame(ref, ref, topic, "phx_join", payload), channel)
        # Settle first, always: a join answered at once still runs what the test sent before it,
        # and one settle runs a join to its answer (settling more would only find it idle).
        await self.settle()
        if not connection.join_over:
            raise RuntimeError(f"the join of {topic!r} did not finish although the runtime is idle")
        answer, started = connection.answer, connection.started
        if isinstance(started, ChannelProcess):
            self._join_errors[topic] = started.join_error
        if answer is None:
            raise AssertionError(_format.join_unanswered(topic))
        status, response = answer.payload["status"], answer.payload["response"]
        if status == "ok" and isinstance(started, ChannelProcess):
            return Ok(started.socket, response)
        return Error(response)

    async def subscribe_and_join(
        self, socket: Socket, topic: str, payload: Any, channel: type[Channel] | None
    ) -> Ok | Error:
        self._runtime_of(socket, "subscribe_and_join").pubsub.subscribe(topic, self.mailbox)
        self.subscriptions[topic] += 1
        return await self.join(socket, topic, payload, channel)

    async def subscribe_and_join_or_raise(
        self, socket: Socket, topic: str, payload: Any, channel: type[Channel] | None
    ) -> Socket:
        __tracebackhide__ = True
        result = await self.subscribe_and_join(socket, topic, payload, channel)
        if isinstance(result, Error):
            cause = self._join_errors.get(topic)
            raise AssertionError(_format.join_refused(topic, result.reply, raised=cause is not None)) from cause
        return result.socket

    def subscribe(self, topic: str, node: str | None = None) -> None:
        self.runtime_for(node, "subscribe").pubsub.subscribe(topic, self.mailbox)
        self.subscriptions[topic] += 1

    def unsubscribe(self, topic: str, node: str | None = None) -> None:
        self.runtime_for(node, "unsubscribe").pubsub.unsubscribe(topic, self.mailbox)
        self.subscriptions.pop(topic, None)

    def push(self, socket: Socket, event: str, payload: Any) -> str:
        __tracebackhide__ = True
        runtime = self._runtime_of(socket, "push")
        process = socket.channel_pid
        if not (self.settings.wire and process is not None and isinstance(process.transport, WireConnection)):
            return runtime.push(socket, event, payload)
        ref = runtime.make_ref()
        process.transport.handle(client_frame(socket.join_ref, ref, socket.topic or "", event, payload))
        return ref

    def broadcast_from(self, socket: Socket, event: str, payload: Any) -> BroadcastError | None:
        __tracebackhide__ = True
        runtime = self._runtime_of(socket, "broadcast_from")
        if socket.topic is None:
            raise ValueError("broadcast_from needs a joined socket: this one has no topic")
        return runtime.broadcast(socket.topic, event, payload, from_=self.mailbox)

    async def leave(self, socket: Socket) -> Exit:
        runtime = self._runtime_of(socket, "leave")
        process = _process(socket)
        if self.settings.wire and isinstance(process.transport, WireConnection):
            ref = runtime.make_ref()
            process.transport.handle(client_frame(socket.join_ref, ref, process.topic, "phx_leave", {}))
        else:
            ref = runtime.leave(socket)
        exit = await self._await_end(process, ("shutdown", "left"))
        # leave hands back the Exit, not its ref: what the leave sent back cannot be asserted
        # on, so strict_mailbox does not count it (it stays in the mailbox all the same).
        topic = process.topic
        self._harness_caused.extend(
            m
            for m in self.mailbox.messages
            if (isinstance(m, Reply) and m.topic == topic and m.ref == ref)
            or (isinstance(m, Close) and m.topic == topic and m.reason == ("shutdown", "left"))
        )
        return exit

    async def close(self, socket: Socket, timeout: float | None = None) -> Exit:
        runtime = self._runtime_of(socket, "close")
        process = _process(socket)
        runtime.close(socket, timeout=timeout)
        return await self._await_end(process, ("shutdown", "closed"))

    async def _await_end(self, process: ChannelProcess, reason: Reason) -> Exit:
        """Settle and return the channel's exit, claiming it only when this leave or close caused it
        (its graceful exit, or "killed" when its terminate outlived the bound).

        A crash that happened before (or a terminate that raised) is not swallowed: it fails
        the test like any other unclaimed crash.
        """
        __tracebackhide__ = True
        ending = process.alive
        try:
            await self.runtime.settle()
        except NotIdle:
            self.stalled = True  # as `settle`: in an async test no harness wrapper does it
            raise
        exit = process.exit
        assert exit is not None, f"{process.name} did not exit"
        if exit.reason == reason or (ending and process.kill_note is not None):
            self.mailbox.take_exit(lambda e: e is exit)
        self.raise_crashes()
        return exit

    async def get_state(self, socket: Socket) -> Socket:
        __tracebackhide__ = True
        self._runtime_of(socket, "get_state")
        process = _process(socket)
        await self.settle()
        if process.exit is not None:
            raise AssertionError(_format.not_running("get_state", process.name, process.socket.topic, process.exit))
        return process.socket

    async def call(self, socket: Socket, message: Any, timeout: float) -> Any:
        """Run the channels in virtual time until the channel answers, exits or `timeout` passes."""
        __tracebackhide__ = True
        runtime = self._runtime_of(socket, "call")
        # A ChannelExited goes up as it is: a crash behind it still fails the test unless claimed.
        answer = await runtime.call(socket, message, timeout=timeout)
        self.raise_crashes()
        return answer

    def cast(self, socket: Socket, message: Any) -> None:
        self._runtime_of(socket, "cast").cast(socket, message)

    def crash(self, socket: Socket, reason: Reason) -> Exit:
        """`CaseBase.crash`: kill the channel now, without `terminate`, and claim its exit."""
        __tracebackhide__ = True
        runtime = self._runtime_of(socket, "crash")
        process = socket.channel_pid
        if process is None:
            raise ValueError(f"crash needs a joined socket, from join or subscribe_and_join (got {socket!r})")
        runtime.check_running("crash")
        if not process.alive:
            assert process.exit is not None, f"{process.name} on {process.socket.topic!r} is still joining"
            return process.exit
        exit = process.kill(reason)
        assert exit is not None
        self.mailbox.take_exit(lambda e: e is exit)  # on purpose: this crash is no failure of the test
        return exit

    # -- time --------------------------------------------------------------------------------------

    async def settle(self) -> None:
        __tracebackhide__ = True
        try:
            await self.runtime.settle()
        except NotIdle:
            self.stalled = True  # settling again at teardown would only fire the guard again
            raise
        self.raise_crashes()

    async def advance_to_ns(self, instant_ns: int) -> None:
        __tracebackhide__ = True
        try:
            await self.runtime.advance_to_ns(instant_ns)
        except NotIdle:
            self.stalled = True
            raise
        self.raise_crashes()

    def raise_crashes(self) -> None:
        __tracebackhide__ = True
        crashes = self.mailbox.unexpected_crashes()
        if not crashes:
            return
        first = crashes[0]
        cause = first.reason if isinstance(first.reason, BaseException) else None
        message = _format.unclaimed_crash(crashes, getattr(first.channel_pid, "kill_note", None))
        raise ChannelCrashed(message) from cause

    def _deadline(self, timeout: Seconds | None, default: float) -> int:
        if timeout is None:
            timeout = default
        elif timeout == 0:
            return self.clock.now_ns()
        else:
            check_timeout(timeout, self.settings.ms_timeout_warning)
        return self.clock.now_ns() + to_ns(timeout, name="timeout")

    async def wait_for(
        self,
        timeout: Seconds | None,
        look: Callable[[], T | None],
        explain: Callable[[int, int], str],
        *,
        crashes_first: bool = True,
    ) -> T:
        """The one wait-then-explain loop: run everything in virtual time until `look()` finds something.

        Returns what it found. At the deadline (`timeout`, or the `assert_timeout` setting) it
        fails with `explain(start_ns, deadline_ns)`, the clock left there. An unclaimed crash
        fails it at once, unless not `crashes_first` (a wait for an exit, which may be that crash):
        a crash explains a missing message better than a timeout.
        """
        __tracebackhide__ = True
        start = self.clock.now_ns()
        deadline = self._deadline(timeout, self.settings.assert_timeout)
        found: list[T] = []

        def done() -> bool:
            __tracebackhide__ = True
            value = look()
            if value is None:
                if crashes_first:
                    self.raise_crashes()
                return False
            found.append(value)
            return True

        try:
            if await self.runtime.run_until(deadline, done):
                return found[0]
        except NotIdle:
            self.stalled = True
            raise
        raise AssertionError(explain(start, deadline))

    async def wait_until(self, condition: Callable[[], object], timeout: Seconds | None) -> None:
        """Settle, check `condition()`, fire the next timer, repeat, until it is true or the timeout passes.

        Raises:
            AssertionError: the condition was still false at the deadline (the clock is left there).
        """
        __tracebackhide__ = True
        if not callable(condition):
            raise TypeError(
                f"wait_until needs a function to call, such as lambda: room.state == 'joined' (got {condition!r})"
            )

        def explain(start_ns: int, end_ns: int) -> str:
            return _format.still_false(condition, start_ns, end_ns, self.clock.pending_timers())

        # A crash explains a condition that never came true better than a timeout: wait_for says it first.
        await self.wait_for(timeout, lambda: True if condition() else None, explain)

    def receive(
        self,
        call: str,
        kind: type[M],
        expected: Callable[[], str],
        matches: Callable[[M], bool],
        score: Callable[[Message], int],
        differences: Callable[[], Callable[[Message], list[str] | None]],
        timeout: Seconds | None,
        close: str = "same event",
    ) -> Coroutine[Any, Any, M]:
        """Selective receive in virtual time: the first matching message, consumed."""

        def explain(start_ns: int, end_ns: int) -> str:
            return _format.explain_missing(
                call=call,
                expected=expected(),
                start_ns=start_ns,
                end_ns=end_ns,
                mailbox=self.mailbox.messages,
                consumed=self.mailbox.consumed,
                score=score,
                differences=differences(),  # built only for a failure, off the hot path
                timers=self.clock.pending_timers(),
                close=close,
                notes=_format.subscription_notes(self.subscriptions),
            )

        return self.wait_for(timeout, functools.partial(self.mailbox.take, kind, matches), explain)

    async def refute(
        self,
        call: str,
        kind: type[M],
        expected: Callable[[], str],
        matches: Callable[[M], bool],
        timeout: Seconds | None,
    ) -> None:
        """Wait the whole timeout in virtual time; fail as soon as a matching message is there."""
        __tracebackhide__ = True
        deadline = self._deadline(timeout, self.settings.refute_timeout)

        def done() -> bool:
            __tracebackhide__ = True
            self.raise_crashes()
            message = self.mailbox.find(kind, matches)
            if message is not None:
                explained = _format.explain_unexpected(
                    call=call, expected=expected(), found=message, at_ns=self.clock.now_ns()
                )
                raise AssertionError("\n".join([explained, *_format.subscription_notes(self.subscriptions)]))
            return False

        try:
            await self.runtime.run_until(deadline, done)
        except NotIdle:
            self.stalled = True
            raise

    def assert_event(
        self,
        kind: type[E],
        event: Any,
        payload: Any,
        timeout: Seconds | None,
        topic: str | None,
        socket: Socket | None = None,
    ) -> Coroutine[Any, Any, E]:
        """`assert_push` (kind `Push`) and `assert_broadcast` (kind `Broadcast`).

        Returns `receive`'s coroutine itself, as `assert_reply` does: one frame less on every
        assertion, the hottest path of a test.
        """
        to = None if socket is None else self.to(socket)
        return self.receive(
            f"assert_{kind.__name__.lower()}({event!r})",
            kind,
            lambda: _format.describe_expected(kind.__name__, topic, socket=to, event=event, payload=payload),
            _event_matcher(event, payload, topic) if to is None else self.event_matcher(event, payload, topic, to),
            _format.scorer(kind, event, topic),
            lambda: _format.event_differences(kind, event, payload, topic, to),
            timeout,
        )

    def refute_event(
        self,
        kind: type[E],
        event: Any,
        payload: Any,
        timeout: Seconds | None,
        topic: str | None,
        socket: Socket | None = None,
    ) -> Coroutine[Any, Any, None]:
        """`refute_push` and `refute_broadcast`, which return `refute`'s coroutine itself as `assert_event` does."""
        to = self.to(socket)
        return self.refute(
            f"refute_{kind.__name__.lower()}",
            kind,
            lambda: _format.describe_expected(kind.__name__, topic, socket=to, event=event, payload=payload),
            self.event_matcher(event, payload, topic, to),
            timeout,
        )

    def to(self, socket: Socket | None) -> Addressee | None:
        """The recipient a `socket=` argument names: the transport its channel delivers through."""
        if socket is None:
            return None
        self._runtime_of(socket, "socket=")
        process = _process(socket)
        name = f"<{process.name} on {process.topic!r}, join_ref {process.socket.join_ref!r}>"
        return Addressee(process.transport, process.topic, name, self.mailbox.recipient)

    def event_matcher(
        self, event: Any, payload: Any, topic: str | None, to: Addressee | None
    ) -> Callable[[Push | Broadcast], bool]:
        plain = _event_matcher(event, payload, topic)
        return plain if to is None else lambda m: plain(m) and to.received(m)

    def select(
        self, kind: type[Message] | None, event: Any, payload: Any, topic: str | None, socket: Socket | None
    ) -> tuple[Message, ...]:
        """The mailbox's messages that match, in arrival order, left in place."""
        to = self.to(socket)

        def keep(m: Message) -> bool:
            return (
                (kind is None or isinstance(m, kind))
                and (event is ANY or same(event, getattr(m, "event", _MISSING)))
                and (payload is ANY or same(payload, getattr(m, "payload", _MISSING)))
                and (topic is None or same(topic, m.topic))
                and (to is None or to.received(m))
            )

        return tuple(m for m in self.mailbox.messages if keep(m))

    def assert_reply(
        self, ref: str, status: Any, payload: Any, timeout: Seconds | None, topic: str | None
    ) -> Coroutine[Any, Any, Reply]:
        check_ref("assert_reply", ref)
        return self.receive(
            f"assert_reply({ref!r})",
            Reply,
            lambda: _format.describe_expected("Reply", topic, ref=ref, status=status, payload=payload),
            _reply_matcher(ref, status, payload, topic),
            lambda m: 4 * isinstance(m, Reply) + 2 * (getattr(m, "ref", None) == ref),
            lambda: _format.reply_differences(ref, status, payload, topic),
            timeout,
            close="same ref",
        )

    def refute_reply(
        self, ref: str, status: Any, payload: Any, timeout: Seconds | None, topic: str | None
    ) -> Coroutine[Any, Any, None]:
        check_ref("refute_reply", ref)
        return self.refute(
            f"refute_reply({ref!r})",
            Reply,
            lambda: _format.describe_expected("Reply", topic, ref=ref, status=status, payload=payload),
            _reply_matcher(ref, status, payload, topic),
            timeout,
        )

    async def assert_exit(self, target: Socket | str, reason: Any, timeout: Seconds | None) -> Exit:
        __tracebackhide__ = True
        topic = target if isinstance(target, str) else target.topic
        process = None if isinstance(target, str) else _process(target)

        def matches(exit: Exit) -> bool:
            if process is not None and exit.channel_pid is not process:
                return False
            return exit.topic == topic and same(reason, exit.reason)

        def explain(start_ns: int, end_ns: int) -> str:
            seen = self.mailbox.exits + self.mailbox.reported_exits
            return _format.missing_exit(topic, reason, start_ns, end_ns, seen)

        exit = await self.wait_for(timeout, lambda: self.mailbox.take_exit(matches), explain, crashes_first=False)
        self.raise_crashes()
        return exit

    # -- teardown ---------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Let channels finish what the test sent them, then stop them all and cancel every timer.

        After a guard fired (the channels never went idle), settling again would only fire it
        again: the channels are stopped as they are.
        """
        try:
            if not self.stalled:
                await self.runtime.settle()
        finally:
            # Before stopping: what the stop itself sends (each channel's Close) is no leftover.
            self.left_unconsumed = [m for m in self.mailbox.messages if not any(m is c for c in self._harness_caused)]
            await self.runtime.aclose()

    def strict_problems(self) -> list[str]:
        """With `strict_mailbox`, what the test left in its mailbox, as a teardown problem."""
        left = self.left_unconsumed
        if not self.settings.strict_mailbox or not left:
            return []
        return [_format.left_in_the_mailbox(left)]

    def finish(self) -> None:
        """After shutdown: stop freezegun, then fail on any crash nobody claimed (with its traceback)."""
        __tracebackhide__ = True
        self._freeze.stop()
        self.closed = True
        self.raise_crashes()


# -- which event loop a test runs on, and how to give it virtual time: asyncio or trio -------------
# On asyncio, virtual time is a `VirtualTimeLoop`; on trio it is trio's own `MockClock` with
# autojump (it jumps to the next deadline as soon as every task waits).


def virtual_anyio_backend(name: str = "asyncio") -> tuple[str, dict[str, Any]]:
    """The value for anyio's `anyio_backend` fixture that runs a test in virtual time.

    Args:
        name: "asyncio" (a `VirtualTimeLoop`) or "trio" (a fresh `MockClock` that jumps to
            the next deadline as soon as every task waits).

    Example:
        >>> virtual_anyio_backend("asyncio")[0]
        'asyncio'
    """
    if name == "asyncio":
        return ("asyncio", {"loop_factory": virtual_loop_factory})
    if name == "trio":
        import trio.testing

        return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})
    raise ValueError(f"virtual_anyio_backend takes 'asyncio' or 'trio' (got {name!r})")


def _process(socket: Socket) -> ChannelProcess:
    if socket.channel_pid is None:
        raise ValueError(f"this socket has not joined a channel: {socket!r}. Join it with subscribe_and_join first.")
    return socket.channel_pid


# `same` (testing/_matchers.py) written out: these run on every message an
# assertion looks at, on the path every passing test takes.
def _event_matcher(event: Any, payload: Any, topic: str | None) -> Callable[[Push | Broadcast], bool]:
    return lambda m: bool(event == m.event) and bool(payload == m.payload) and (topic is None or bool(topic == m.topic))


def _reply_matcher(ref: str, status: Any, payload: Any, topic: str | None) -> Callable[[Reply], bool]:
    return lambda m: (
        m.ref == ref
        and bool(status == m.status)
        and bool(payload == m.payload)
        and (topic is None or bool(topic == m.topic))
    )


_MISSING = object()
