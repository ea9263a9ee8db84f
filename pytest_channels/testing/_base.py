"""What `ChannelCase` and `AsyncChannelCase` share: every call, and every wait declared once.

A wait is a `CaseBase` method, decorated with `Wait`, that returns the coroutine doing the
work. Each harness class says how it makes a method of one (its `_method`), and `CaseBase`
builds every wait of that class from the one declaration, with its signature and docstring,
so the two harnesses cannot drift apart (tests/harness/test_parity.py holds them to it).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, Generic, Literal, ParamSpec, Protocol, TypeVar, overload
from unittest.mock import ANY

import pytest_channels.testing._presence as _presence

from .._runtime._channel import Channel
from .._runtime._clock import NS_PER_SECOND, LoopClock, Seconds, VirtualClock, to_ns
from .._runtime._errors import BroadcastError
from .._runtime._messages import Broadcast, Exit, Message, Push, Reason, Reply
from .._runtime._presence import Presence, Presences
from .._runtime._results import Error, Ok
from .._runtime._runtime import Runtime
from .._runtime._socket import Socket, SocketHandler
from ._client import Client
from ._cluster import Cluster
from ._core import Core
from ._format import cluster_note, left_a_task, teardown_problems
from ._settings import Settings

M = TypeVar("M", bound=Message)
P = ParamSpec("P")
T = TypeVar("T")

Work = Coroutine[Any, Any, T]
"""What a wait's body returns: the coroutine that does the work, which returns `T`."""


class Runs(Protocol):
    """A harness whose waits run to the end and return what the work returns (`ChannelCase`)."""

    is_async: ClassVar[Literal[False]]


class Awaits(Protocol):
    """A harness whose waits return the work to await (`AsyncChannelCase`)."""

    is_async: ClassVar[Literal[True]]


class Wait(Generic[P, T]):
    """One wait's declaration (`@Wait` on its body, which builds the coroutine), with its name, signature, docstring."""

    def __init__(self, body: Callable[Concatenate[Any, P], Work[T]]) -> None:
        self.body = body
        self.name = body.__name__
        self.__doc__ = body.__doc__

    def adopt(self, method: Callable[..., Any], returns: str) -> Callable[..., Any]:
        """Give a harness's `method` this wait's name, docstring and signature, returning `returns`
        (a format of what the work returns: `"Awaitable[{}]"`)."""
        signature = inspect.signature(self.body)
        work = str(signature.return_annotation)
        if not (work.startswith("Work[") and work.endswith("]")):
            raise TypeError(f"the wait {self.name} must be annotated to return Work[...] (got {work})")
        method.__name__ = self.name
        method.__doc__ = self.__doc__
        method.__signature__ = signature.replace(return_annotation=returns.format(work[5:-1]))  # type: ignore[attr-defined]
        return method

    if TYPE_CHECKING:  # at run time each harness class holds a plain function instead (see CaseBase)

        @overload
        def __get__(self, case: None, owner: type[Any]) -> Wait[P, T]: ...

        @overload
        def __get__(self, case: Runs, owner: type[Any]) -> Callable[P, T]: ...

        @overload
        def __get__(self, case: Awaits, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...

        def __get__(self, case: Any, owner: type[Any]) -> Any: ...


def waits(cls: type) -> list[Wait[Any, Any]]:
    """Every wait `cls` declares or inherits, in declaration order."""
    found: dict[str, Wait[Any, Any]] = {}
    for klass in reversed(cls.__mro__):
        found.update((name, value) for name, value in vars(klass).items() if isinstance(value, Wait))
    return list(found.values())


def stop_leftover_tasks(tasks: Iterable[asyncio.Task[Any]], core: Core) -> list[str]:
    """Cancel the tasks channel code (or the test) left running, but for the current one and those
    already cancelled, and return them as teardown problems.

    A channel that leaves a task behind fails the test at teardown in both harnesses, unless a
    guard already failed it (the wait it interrupted left them).
    """
    current = asyncio.current_task() if running_loop() is not None else None
    left = [t for t in tasks if not t.done() and not t.cancelling() and t is not current]
    problems = [] if core.stalled else [left_a_task(task) for task in left]
    for task in left:
        task.cancel()
    return problems


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop running now; None outside one, and on trio."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class CaseBase:
    """The harness, but for how it waits; see `ChannelCase` for the whole story."""

    is_async: ClassVar[bool] = False
    """Whether its waits are awaited (`AsyncChannelCase`)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_method" in vars(cls):  # a harness: it says how a wait becomes one of its methods
            for declared in waits(cls):
                method = cls._method(declared)
                method.__qualname__ = f"{cls.__qualname__}.{declared.name}"
                setattr(cls, declared.name, method)

    @staticmethod
    def _method(declared: Wait[..., Any]) -> Callable[..., Any]:
        """The harness's method for the wait `declared` (see the module's docstring)."""
        raise NotImplementedError

    def __init__(self, settings: Settings | None = None, *, _core: Core | None = None) -> None:
        # `_core`: a view on another case's world (ChannelCase.run hands helpers an async one).
        self._core = _core or Core(settings or Settings())
        self._clients: list[Client] = []

    def _check(self) -> None:
        """Hook run before every call (the async case checks for forgotten awaits)."""

    # -- what the plugin calls (see _interface.PluginCase) ----------------------------------------

    def _teardown(self) -> list[str]:
        """Stop every channel, cancel every timer, stop freezegun; return what the test left wrong."""
        raise NotImplementedError

    def _end(self, *, test_failed: bool) -> list[str]:
        __tracebackhide__ = True
        problems = self._teardown()
        if not test_failed:  # a failed test has said enough: what it left unconsumed is no news
            problems += self._core.strict_problems()
        return problems

    def _exit(self, exc_type: object) -> None:
        """End the case as a context manager does: as the fixture does at teardown, failing on its problems."""
        __tracebackhide__ = True
        problems = self._end(test_failed=exc_type is not None)
        if problems:
            raise AssertionError(teardown_problems(problems))

    def _wrap_test(self, test: Callable[..., Any]) -> Callable[..., Any]:
        return test

    def _failure_note(self) -> str | None:
        return cluster_note(self._core.cluster)

    @property
    def settings(self) -> Settings:
        """The settings in force for this test (ini options, then the `channels` marker)."""
        return self._core.settings

    @property
    def runtime(self) -> Runtime:
        """This test's runtime: broadcast from application code with `channels.runtime.broadcast(...)`.

        With a cluster, it is the first node's runtime (its current one, after a restart).
        """
        return self._core.runtime_for(None, "runtime")

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

    @overload
    def messages(
        self,
        kind: type[M],
        event: Any = ANY,
        payload: Any = ANY,
        *,
        topic: str | None = None,
        socket: Socket | None = None,
    ) -> tuple[M, ...]: ...

    @overload
    def messages(
        self,
        kind: None = None,
        event: Any = ANY,
        payload: Any = ANY,
        *,
        topic: str | None = None,
        socket: Socket | None = None,
    ) -> tuple[Message, ...]: ...

    def messages(
        self,
        kind: Any = None,
        event: Any = ANY,
        payload: Any = ANY,
        *,
        topic: str | None = None,
        socket: Socket | None = None,
    ) -> tuple[Message, ...]:
        """The messages in the mailbox that match, in arrival order, consuming nothing.

        Args:
            kind: `Push`, `Reply`, `Broadcast` or `Close` (default: any).
            event: the event (matchers work, as in assertions); a message without one never matches.
            payload: the payload, compared with `==`.
            topic: the topic.
            socket: a joined socket: only what its channel sent to it.
        """
        self._check()
        return self._core.select(kind, event, payload, topic, socket)

    def flush(self) -> tuple[Message, ...]:
        """Consume and return every message in the mailbox."""
        self._check()
        return tuple(self._core.mailbox.flush())

    def socket(
        self,
        handler: type[SocketHandler] | None = None,
        id: str | None = None,
        assigns: Mapping[str, Any] | None = None,
        *,
        node: str | None = None,
    ) -> Socket:
        """A socket built without running `connect` (Phoenix's `socket/3`).

        Args:
            handler: the socket handler whose routes pick the channel on join.
            id: the socket id.
            assigns: initial assigns.
            node: the cluster node the socket lives on (default: the first node).
        """
        self._check()
        return self._core.runtime_for(node, "socket").socket(handler, id, assigns)

    def subscribe(self, topic: str, *, node: str | None = None) -> None:
        """Receive every broadcast on `topic` (on `node`'s PubSub) as a `Broadcast` (duplicates deliver twice)."""
        self._check()
        self._core.subscribe(topic, node)

    def unsubscribe(self, topic: str, *, node: str | None = None) -> None:
        """Stop receiving broadcasts on `topic` (on `node`'s PubSub)."""
        self._check()
        self._core.unsubscribe(topic, node)

    # -- several nodes, failing connections ------------------------------------------------------

    def cluster(self, *names: str, seed: int | None = None) -> Cluster:
        """Run several named nodes on this test's clock: this test's runtime becomes `names[0]`.

        Each node has its own PubSub and sockets; a broadcast on any node reaches every node
        through `cluster.network` (at most once), and every wait runs all nodes. Pass
        `node="name"` to `socket`, `connect`, `subscribe` and `client` to choose one.

        Args:
            names: the nodes to start, in order; more can start later with `cluster.start(name)`.
            seed: seeds the network's randomness; a random one by default, shown when the test fails.
        """
        self._check()
        self._enter_loop()
        return self._core.start_cluster(names, seed)

    def _enter_loop(self) -> None:
        """Bind to the test's virtual event loop now, if the harness owns it (the sync harness does)."""

    def client(
        self,
        handler: type[SocketHandler],
        params: Mapping[str, Any] | None = None,
        *,
        node: str | None = None,
        connect_info: Mapping[str, Any] | None = None,
    ) -> Client:
        """A simulated official Phoenix JavaScript client for `handler`; call `connect()` on it.

        It rejoins and reconnects with phoenix.js's backoff on the virtual clock, so a test can
        assert what a real client would see. A crash of one of its channels fails the test
        unless claimed with `assert_exit`, as for the test's own channels.
        """
        self._check()
        if not (isinstance(handler, type) and issubclass(handler, SocketHandler)):
            raise TypeError(f"client needs a SocketHandler subclass (got {handler!r})")
        if self._core.on_loop or self.settings.virtual_loop:
            # On a virtual event loop the runtime serves on the loop's clock, and nothing would run
            # the client's retries: say so rather than let a test wait for nothing.
            raise RuntimeError(
                "channels.client() runs on the harness's own virtual clock, but this test runs on a virtual event "
                "loop (virtual_loop): the two do not combine yet. Run this test without virtual_loop."
            )
        self._core.runtime_for(node, "client")  # an unknown node fails here, not at the first connect
        client = Client(
            self._core, handler, params, node=node, connect_info=connect_info, number=len(self._clients) + 1
        )
        self._clients.append(client)
        return client

    # -- the waits: ChannelCase runs each to the end, AsyncChannelCase returns it to await ----------

    @Wait
    def connect(
        self,
        handler: type[SocketHandler],
        params: Mapping[str, Any] | None = None,
        connect_info: Mapping[str, Any] | None = None,
        *,
        node: str | None = None,
    ) -> Work[Ok | Error]:
        """Run the handler's `connect` and `id` (Phoenix's `connect/3`), on `node` in a cluster.

        Returns `Ok(socket)` or the handler's `Error(reason)`. A socket with an id subscribes
        the test to that id, so `assert_broadcast("disconnect")` works, and a "disconnect"
        broadcast on the id closes the channels joined with it, as Phoenix closes the transport.
        """
        return self._core.connect(handler, params, connect_info, node)

    @Wait
    def join(
        self, socket: Socket, topic: str, payload: Any = None, *, channel: type[Channel] | None = None
    ) -> Work[Ok | Error]:
        """Join `topic` through the socket's routes (or `channel=`), without subscribing the test.

        Returns `Ok` with `.socket` (the joined socket, after anything the join sent itself
        has run) and `.reply`, or `Error(reply)`: `{"reason": "join crashed"}` when join raised
        or returned something invalid, `{"reason": "unmatched topic"}` when no route matched.
        """
        return self._core.join(socket, topic, payload, channel)

    @Wait
    def subscribe_and_join(
        self, socket: Socket, topic: str, payload: Any = None, *, channel: type[Channel] | None = None
    ) -> Work[Ok | Error]:
        """Subscribe the test to `topic`, then `join` it. The subscription stays if the join fails."""
        return self._core.subscribe_and_join(socket, topic, payload, channel)

    @Wait
    def subscribe_and_join_or_raise(
        self, socket: Socket, topic: str, payload: Any = None, *, channel: type[Channel] | None = None
    ) -> Work[Socket]:
        """`subscribe_and_join` returning the joined socket, failing the test when refused."""
        return self._core.subscribe_and_join_or_raise(socket, topic, payload, channel)

    @Wait
    def leave(self, socket: Socket) -> Work[Exit]:
        """Leave the channel and return its `Exit` (reason `("shutdown", "left")`).

        The channel's ok `Reply` and its `Close` stay in the mailbox (`strict_mailbox` does not
        count them: without a ref they cannot be asserted on). Never fails the test;
        leaving a channel that already exited returns its earlier exit. A `terminate` still
        running after the channel's `shutdown` seconds is cut short: the reason is then "killed".
        """
        return self._core.leave(socket)

    @Wait
    def close(self, socket: Socket, *, timeout: float | None = None) -> Work[Exit]:
        """Close the channel as if its transport went away: `terminate(("shutdown", "closed"))`, no `Close`.

        A `terminate` still running after `timeout` seconds (default: the channel's
        `shutdown`, 5) is cut short and the exit's reason is "killed" (Phoenix's `close/2`).
        """
        return self._core.close(socket, timeout)

    @Wait
    def get_state(self, socket: Socket) -> Work[Socket]:
        """The live channel's socket once it has handled everything sent before (`:sys.get_state`)."""
        return self._core.get_state(socket)

    @Wait
    def call(self, socket: Socket, message: Any, *, timeout: float = 5.0) -> Work[Any]:
        """Ask the channel behind `socket` a question and return its answer (GenServer.call).

        Its `handle_call(message, from_, socket)` answers, in mailbox order. The wait runs the
        channels in virtual time for at most `timeout` virtual seconds (GenServer's 5 s).

        Raises:
            ChannelExited: the channel had exited, or exited before it answered.
            CallTimeout: no answer within `timeout`; the clock is left at the deadline.
        """
        return self._core.call(socket, message, timeout)

    @Wait
    def settle(self) -> Work[None]:
        """Run every channel until idle, without moving time."""
        return self._core.settle()

    @Wait
    def advance(self, seconds: Seconds) -> Work[None]:
        """Move virtual time forward, firing due timers in order and settling after each."""
        return self._core.advance_to_ns(self._core.clock.now_ns() + to_ns(seconds))

    @Wait
    def wait_until(self, condition: Callable[[], object], *, timeout: Seconds | None = None) -> Work[None]:
        """Run channels, nodes, clients and timers in virtual time until `condition()` is true.

        Fails the test when it is still false after `timeout` virtual seconds (default: the
        `assert_timeout` setting), leaving the clock at the deadline; `channels.now` then says when.
        """
        return self._core.wait_until(condition, timeout)

    @Wait
    def advance_to(self, instant: Seconds) -> Work[None]:
        """Move virtual time to `instant` (seconds since the test started), as `advance` does."""
        return self._core.advance_to_ns(to_ns(instant, name="instant"))

    @Wait
    def assert_push(
        self,
        event: Any,
        payload: Any = ANY,
        *,
        timeout: Seconds | None = None,
        topic: str | None = None,
        socket: Socket | None = None,
    ) -> Work[Push]:
        """Consume the first `Push` with this event and payload, waiting up to `timeout` virtual seconds.

        With `socket=`, only a push that the channel joined through that socket sent to its client.
        """
        return self._core.assert_event(Push, event, payload, timeout, topic, socket)

    @Wait
    def refute_push(
        self,
        event: Any = ANY,
        payload: Any = ANY,
        *,
        timeout: Seconds | None = None,
        topic: str | None = None,
        socket: Socket | None = None,
    ) -> Work[None]:
        """Fail if a matching `Push` is there or arrives within `timeout` virtual seconds."""
        return self._core.refute_event(Push, event, payload, timeout, topic, socket)

    @Wait
    def assert_reply(
        self,
        ref: str,
        status: Any = ANY,
        payload: Any = ANY,
        *,
        timeout: Seconds | None = None,
        topic: str | None = None,
    ) -> Work[Reply]:
        """Consume the `Reply` to push `ref` with this status and payload."""
        return self._core.assert_reply(ref, status, payload, timeout, topic)

    @Wait
    def refute_reply(
        self,
        ref: str,
        status: Any = ANY,
        payload: Any = ANY,
        *,
        timeout: Seconds | None = None,
        topic: str | None = None,
    ) -> Work[None]:
        """Fail if a matching `Reply` to `ref` is there or arrives within `timeout`."""
        return self._core.refute_reply(ref, status, payload, timeout, topic)

    @Wait
    def assert_broadcast(
        self, event: Any, payload: Any = ANY, *, timeout: Seconds | None = None, topic: str | None = None
    ) -> Work[Broadcast]:
        """Consume the first `Broadcast` the test received on its own subscriptions."""
        return self._core.assert_event(Broadcast, event, payload, timeout, topic)

    @Wait
    def refute_broadcast(
        self, event: Any = ANY, payload: Any = ANY, *, timeout: Seconds | None = None, topic: str | None = None
    ) -> Work[None]:
        """Fail if a matching `Broadcast` is there or arrives within `timeout`."""
        return self._core.refute_event(Broadcast, event, payload, timeout, topic)

    @Wait
    def assert_exit(self, socket: Socket | str, reason: Any = ANY, *, timeout: Seconds | None = None) -> Work[Exit]:
        """Claim the exit of the channel behind `socket` (or on a topic), e.g. an expected crash."""
        return self._core.assert_exit(socket, reason, timeout)

    @Wait
    def assert_presence(
        self, source: Any, *args: Any, node: str | None = None, timeout: float | None = None
    ) -> Work[Any]:
        """Wait in virtual time until a presence list is the expected one; returns the list.

        `assert_presence(RoomPresence, topic, expected, node=...)` checks what that node lists;
        `assert_presence(client_presence, expected)` what a simulated client has synced.
        `expected` is a collection of keys (`{"alice", "bob"}`) or keys with their metas
        (`{"alice": [{"status": "away"}]}`, compared without `phx_ref` / `phx_ref_prev`), or
        keys with whole presences as `fetch` extends them (`{"alice": {"metas": [...], "name": "Alice"}}`).
        The failure shows the list, the diffs with their virtual times and what the tracker knows.
        """
        return _presence.assert_presence(self._core, source, args, node, timeout)

    def crash(self, socket: Socket, reason: Reason = "killed") -> Exit:
        """Kill the channel behind `socket` now, without `terminate` (Elixir's `Process.exit(pid, :kill)`).

        Its in-memory state is gone. The exit is claimed (the test did it on purpose) and
        returned, or the earlier one of a channel that already exited; a simulated client sees
        `phx_error` and rejoins with backoff.
        """
        self._check()
        return self._core.crash(socket, reason)

    def push(self, socket: Socket, event: str, payload: Any = None) -> str:
        """Send `event` to the channel behind `socket`, as the client would; returns the ref.

        The channel handles it the next time the test waits (any `assert_*`, `refute_*`,
        `settle`, `advance`, `get_state`). The payload is normalized as the wire would
        (string keys, a fresh copy). A channel that has exited ignores it.
        """
        __tracebackhide__ = True
        self._check()
        return self._core.push(socket, event, payload)

    def cast(self, socket: Socket, message: Any) -> None:
        """Send `message` to the channel's `handle_cast` (GenServer.cast); it runs at the next wait.

        A cast to a channel that has exited is dropped, as in OTP; on a stopped node it raises
        `NodeStopped`.
        """
        self._check()
        self._core.cast(socket, message)

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

    def presence_list(self, presence: type[Presence], topic: str, *, node: str | None = None) -> Presences:
        """What `presence.list(topic)` returns on `node` (the test's runtime by default) now.

        Nothing runs: `settle` or `advance` first, or wait with `assert_presence`.
        """
        self._check()
        return _presence.presence_list(self._core, presence, topic, node)


class Interrupts:
    """The loop exception handler of one harness; install it around the task that waits.

    asyncio runs callbacks (a timer's, a future's) through `Handle._run`, which re-raises only
    `KeyboardInterrupt` and `SystemExit`: anything else, pytest's outcome exceptions included,
    goes to the loop's exception handler, which logs "Exception in callback" and carries on.
    When pytest-timeout's signal alarm lands there, the callback that would have woken the
    waiting task never finishes, the loop sleeps in `select()` with nothing to wake it, and the
    alarm fires only once: the test hangs. This handler turns that into the end of the wait
    instead: the waiting task is cancelled, and the wait raises the swallowed exception in its place.
    """

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
