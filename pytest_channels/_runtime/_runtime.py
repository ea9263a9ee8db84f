"""The runtime: connects sockets, joins channels, runs their mailboxes, and knows when it is idle.

Work runs only inside `settle()` (tests) or inside `serving()` (production). Every message is
counted when it is queued and uncounted when its handler returns or raises, so "idle" is a
fact the runtime knows, never a guess from a wall-clock window.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

import anyio
import anyio.abc

import pytest_channels._runtime._runner as _runner

from ._calls import CallRef, refuse_exited
from ._channel import Channel
from ._clock import NS_PER_SECOND, Clock, LoopClock, SystemClock, VirtualClock, format_ns, to_ns
from ._errors import BroadcastError, InvalidReturn, NodeStopped, NotIdle, or_raise
from ._messages import Broadcast, Reason
from ._payload import to_wire
from ._process import ChannelProcess, Transport, _Close, _In, _Join, _Message, _resolve
from ._pubsub import Dispatcher, PubSub, Subscriber, publisher
from ._results import Error, Ok, check_result
from ._socket import Socket, SocketHandler
from ._telemetry import SOCKET_CONNECTED, Telemetry
from ._token import Tokens

logger = logging.getLogger("pytest_channels")


class Nodes(Protocol):
    """Runtimes that run one application together, as the nodes of a cluster do.

    The runtime knows no cluster: whatever runs several runtimes as the nodes of one
    application (the harness's simulated cluster) says so through this, so that what every
    node of a Phoenix application starts, such as a `Presence`, starts on each of them.
    """

    @property
    def runtimes(self) -> Sequence[Runtime]:
        """The runtimes of the application, in the order they joined (stopped ones included)."""
        ...

    def when_joined(self, callback: Callable[[Runtime], None]) -> None:
        """Call `callback` with every runtime that joins from now on."""
        ...


class Peers(Protocol):
    """Other runtimes that share a runtime's clock and ready queue, and settle with it (the harness's nodes).

    A runtime alone settles by running its ready queue. When it shares the queue with others,
    whoever runs them all (the harness's group) becomes its peers, and every wait of the runtime
    settles them all; a runtime without peers never calls out.
    """

    def settle(self) -> Coroutine[Any, Any, None]:
        """Run every member until none has anything left to do at this instant."""
        ...

    def wait_begins(self) -> None:
        """A wait starts: time spent between waits is nobody's busy time."""
        ...

    def check(self) -> None:
        """Raise what went wrong in the runner, which it could not raise there, since the last check."""
        ...


class Runtime:
    """Sockets, channels, PubSub and tokens on one clock.

    Args:
        clock: the system clock by default (production); a `VirtualClock()` to drive time yourself
            (the harness passes its own).
        pubsub: defaults to a single-node `PubSub()`.
        secret_key_base: the token secret (at least 20 characters), or a list of them, newest
            first, to rotate: the first signs and all verify. Without one, the `SECRET_KEY_BASE`
            environment variable; without that, a random secret, which suits tests but not a
            server: `ChannelsApp` refuses to start with one (`ephemeral_secret`).
        check_payloads: refuse payloads that could not cross the wire as JSON.
        idle_timeout: real seconds `settle()` waits for channels to finish before failing.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        pubsub: PubSub | None = None,
        secret_key_base: str | Sequence[str] | None = None,
        check_payloads: bool = True,
        idle_timeout: float = 5.0,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.pubsub = pubsub if pubsub is not None else PubSub()
        if not secret_key_base:
            secret_key_base = os.environ.get("SECRET_KEY_BASE") or None
        self.ephemeral_secret = secret_key_base is None
        """Whether the token secret was drawn at random: tokens die with this runtime."""
        self.tokens = Tokens(secret_key_base or secrets.token_urlsafe(32), self._wall_ms)
        self.telemetry = Telemetry()
        """Phoenix's telemetry events for this runtime: attach observers here."""
        self.check_payloads = check_payloads
        self.idle_timeout = idle_timeout
        self._runq: deque[Any] = deque()
        """The one ready queue: channels with mail, (serving) drains paused to let others run, and
        whatever else shares it (the harness's nodes share one, with their network and clients)."""
        self._tg: anyio.abc.TaskGroup | None = None  # where drains that wait get tasks (serving, or settling)
        self._inflight = 0
        self._processes: dict[ChannelProcess, None] = {}
        self._refs = itertools.count(1)
        self._serving = False
        self._idle: anyio.Event | None = None  # set when the last in-flight message is handled
        self._changed: anyio.Event | None = None  # set by notify()
        self._stepping: object | None = None  # the process whose drain the runner runs now (see _runner)
        self._wake: _runner.Wake | None = None  # set when work is queued while the runner waits for some
        self._waking: _runner.Waking = self  # who holds that event: the group, for runtimes sharing its queue
        self._awaiting: dict[ChannelProcess, anyio.CancelScope] = {}  # callbacks now awaited: kill cuts them
        self._stalled: NotIdle | None = None  # why the runner paused (see `stall`), for the next wait to raise
        self._resume: anyio.Event | None = None  # set once it has, and the runner goes on
        self.nodes: Nodes | None = None
        """The application's other nodes, when this runtime is one of several (see `Nodes`)."""
        self.stopped: str | None = None
        """Why this runtime may no longer be used (its node stopped), or None."""
        self.draining = False
        """True while a stopped node finishes its work: its channels may still broadcast."""
        self.peers: Peers | None = None
        """Who settles with this runtime, when it shares its clock with others (see `Peers`)."""

    def __repr__(self) -> str:
        return f"<Runtime clock={self.clock!r} channels={len(self._processes)} in_flight={self._inflight}>"

    def _wall_ms(self) -> int:
        return int(self.clock.wall().timestamp() * 1000)

    def make_ref(self) -> str:
        """A fresh reference, as a string, like the ones clients put on the wire."""
        return str(next(self._refs))

    @property
    def channels(self) -> list[ChannelProcess]:
        """The channel processes that are joined now."""
        return list(self._processes)

    @property
    def idle(self) -> bool:
        """Whether no message is queued or being handled."""
        return self._inflight == 0

    # -- scheduling -------------------------------------------------------------------------------

    def _enqueue(self, process: ChannelProcess, message: Any) -> None:
        process.mailbox.append(message)
        self._inflight += 1
        if not process.scheduled:
            process.scheduled = True
            self._runq.append(process)
            waking = self._waking
            wake = waking._wake
            if wake is not None:  # the runner waits for work (also set from outside the loop: a sync test)
                waking._wake = None
                wake.set()

    def settle(self) -> Coroutine[Any, Any, None]:
        """Run every channel (and every peer, if it has any) until nothing is queued or being handled.

        Awaitable, as `await runtime.settle()`: it returns the coroutine that does the work, its
        own or its peers', so that every wait is one frame shorter.

        Raises:
            NotIdle: the channels were still busy after `idle_timeout` real seconds (a handler
                awaits something that never comes); the message names them.
        """
        return self.settle_own() if self.peers is None else self.peers.settle()

    async def settle_own(self) -> None:
        """`settle` without the peers: run the ready queue until it is empty (peers sharing it run it this way)."""
        if self._serving:
            # Messages run as they arrive: wait for the last one to be handled.
            while self._inflight:
                self._idle = anyio.Event()
                await self._idle.wait()
                self.raise_stalled()
            return
        runq = self._runq
        if not runq:
            return
        deadline = time.monotonic() + self.idle_timeout
        drains = 0
        while runq:
            process = runq[0]
            if not process.inline:
                await self._settle_stepped()
                continue  # what the tasks queued for runtimes sharing the queue is still to run
            # Plain callbacks never wait: run the drain right here, without a task of its own.
            runq.popleft()
            await process.drain(deadline)
            drains += 1
            # Channels that answer each other forever hand the work back and forth one message
            # at a time, so no single drain ever runs long: the guard is checked here too.
            if drains % 64 == 0 and time.monotonic() > deadline:
                raise self._busy_forever(process)

    def stall(self, entry: Any) -> Awaitable[None]:
        """The runner kept busy at one virtual instant too long (`_runner.Guard`): a wait raises why.

        The runner pauses until then, so the loop goes idle and the waiting wait wakes.
        """
        process: Any = entry.process if type(entry) is _runner.Resumption else entry
        return self._keep_stalled(self._busy_forever(process))

    def _keep_stalled(self, failure: NotIdle) -> Awaitable[None]:
        # Kept for this runtime's next wait, which the set events wake (a group keeps it for every member's).
        self._stalled, self._resume = failure, anyio.Event()
        if self._idle is not None:
            self._idle.set()
        self.notify()
        return self._resume.wait()

    def raise_stalled(self) -> None:
        """Raise what `stall` kept, once: the runner goes on (the next wait guards it again)."""
        __tracebackhide__ = True
        failure, self._stalled = self._stalled, None
        if failure is not None:
            if self._resume is not None:
                self._resume.set()
            raise failure

    def _busy_forever(self, process: ChannelProcess) -> NotIdle:
        """The NotIdle of a queue that never empties although each drain ends: `process` ran last."""
        process._doing = "answering other channels, which answer back"
        # The queue's other work (a group's packets, say) has no channel to name.
        return self._not_idle(dict.fromkeys([process, *(p for p in self._runq if hasattr(p, "socket"))]))

    async def _settle_stepped(self) -> None:
        # Channels with async callbacks may wait on one another: the queue is stepped as serving
        # steps it, and a drain that must wait goes on in a task of its own, under the guard.
        handed: list[ChannelProcess] = []
        try:
            with anyio.move_on_after(self.idle_timeout) as scope:
                async with anyio.create_task_group() as tg:
                    self._tg = tg  # a call from a drain in a task waits for its answer there
                    await _runner.run(self._runq, self._waking, tg, handed=handed)
        finally:
            self._tg = None
        if scope.cancelled_caught:
            busy = dict.fromkeys(p for p in handed if p.doing is not None)
            # A terminate that outlived the guard ends as its own bound would have ended it: killed.
            for process in [p for p in busy if p.state == "stopping"]:
                del busy[process]
                process.killed_in_terminate()
            if busy:
                raise self._not_idle(busy)

    def _not_idle(self, busy: Iterable[ChannelProcess]) -> NotIdle:
        described = "\n".join(f"  - {p.name} (topic {p.socket.topic!r}) {_doing(p)}" for p in busy)
        return NotIdle(
            f"the channels were still busy after {self.idle_timeout}s of real time:\n{described or '  (unknown)'}\n"
            "A handler is awaiting something that never completes (real I/O, an event nobody sets). "
            "Raise idle_timeout if the wait is real and slow."
        )

    async def run_until(self, limit_ns: int, done: Callable[[], bool]) -> bool:
        """The one wait loop: let channels work, check `done()`, let time move, repeat.

        Returns True as soon as `done()` is true after the channels went idle; False once
        time has reached `limit_ns` (inclusive: what happens at that instant still counts),
        with time left at `limit_ns`.

        On a `VirtualClock`, time moves only here, by firing the next timer due by the limit
        (lazy autojump). On a `LoopClock` the runtime is serving and the event loop moves
        time whenever everything waits, so channel code's own sleeps share the timeline.

        Raises:
            NotIdle: timers kept firing at one instant for `idle_timeout` real seconds (a
                zero-delay timer that re-arms itself), so time could never move on.
        """
        __tracebackhide__ = True  # a plain local: pytest hides this frame, the runtime needs no pytest
        peers = self.peers
        if peers is not None:
            peers.wait_begins()
        clock = self.clock if isinstance(self.clock, LoopClock) else self.virtual_clock()
        instant, since = -1, 0.0
        while True:
            await (clock.wait_idle() if isinstance(clock, LoopClock) else self.settle())
            if peers is not None:
                peers.check()  # what the runner found, which it cannot raise in this wait
            elif isinstance(clock, LoopClock):  # only the runner serving on a loop stalls (see `stall`)
                self.raise_stalled()
            if done():
                return True
            if isinstance(clock, LoopClock):  # the loop moves time: wait until something happens, or the limit
                now = clock.now_ns()
                if now >= limit_ns:
                    return False
                self._changed = anyio.Event()
                with anyio.move_on_after((limit_ns - now) / NS_PER_SECOND):
                    await self._changed.wait()
                continue
            timer = clock.fire_next(limit_ns)
            if timer is None:
                clock.move_to_ns(max(limit_ns, clock.now_ns()))
                return False
            if clock.now_ns() != instant:
                instant, since = clock.now_ns(), time.monotonic()
            elif time.monotonic() - since > self.idle_timeout:
                raise NotIdle(
                    f"timers kept firing at t={format_ns(instant)} for {self.idle_timeout}s of real time without "
                    f"time moving on; the last one: {timer.description}\n"
                    "A timer with no delay that sets itself again never lets time move: give it a delay."
                )

    def check_running(self, action: str) -> None:
        """Raise `NodeStopped` if this runtime's node has stopped (and is not finishing its work).

        Every way in from outside checks first: a stopped node is gone, and saying so beats a silent no-op.
        """
        if self.stopped is not None and not self.draining:
            raise NodeStopped(f"{action}: {self.stopped}")

    def notify(self) -> None:
        """Wake a `run_until` on a loop clock: something it may be waiting for has happened."""
        if self._changed is not None:
            self._changed.set()

    async def advance_to_ns(self, instant_ns: int) -> None:
        """Fire every timer due by `instant_ns` in order, letting channels finish after each; end there.

        Raises:
            ValueError: the instant lies in the past.
        """
        now = self.clock.now_ns()
        if instant_ns < now:
            raise ValueError(f"time can't go backwards: now is {format_ns(now)}, asked for {format_ns(instant_ns)}")
        await self.run_until(instant_ns, lambda: False)

    def virtual_clock(self) -> VirtualClock:
        """The runtime's clock, which must be virtual."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError(f"only a runtime on a VirtualClock can be advanced (this one runs on {self.clock!r})")
        return self.clock

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[Runtime]:
        """Run channels as messages arrive and fire timers in real time, until the block exits.

        This is how the runtime runs in production (a network transport calls `connect`,
        `join` and `push` inside it). On exit every channel is stopped with reason "shutdown".
        """
        if self._serving:
            raise RuntimeError("this runtime is already serving")
        async with anyio.create_task_group() as tg:
            self.serve_in(tg)
            clock = self.clock
            # The runner fires the timers of a clock that has no event loop to fire them (see _clock).
            tg.start_soon(
                _runner.run,
                self._runq,
                self._waking,
                tg,
                clock if isinstance(clock, (SystemClock, LoopClock)) else None,
                None,
                self if isinstance(clock, LoopClock) else None,  # only a virtual clock's instant can last
            )
            try:
                yield self
            finally:
                self.stop_serving()
                tg.cancel_scope.cancel()
        await self.aclose()

    def serve_in(self, tg: anyio.abc.TaskGroup) -> None:
        """Run channels as messages arrive, from now on: `tg`'s tasks carry the drains that wait.

        `serving()` does this for itself, and starts the runner; a runtime sharing another's
        ready queue (as the harness's nodes do) is served this way, by that runtime's runner.
        """
        self._tg, self._serving = tg, True

    def stop_serving(self) -> None:
        """Back to running channels only inside `settle()`."""
        self._tg, self._serving, self._waking._wake = None, False, None

    # -- connections and joins ----------------------------------------------------------------------

    async def connect(
        self,
        handler: type[SocketHandler],
        params: Mapping[str, Any] | None = None,
        connect_info: Mapping[str, Any] | None = None,
    ) -> Ok | Error:
        """Run `handler.connect` then `handler.id`; returns `Ok(socket)` or `Error(reason)`.

        An invalid return from either is logged as an error and refuses the connection, as in Phoenix.
        """
        self.check_running("connect")
        name = handler.__qualname__
        wire_params = to_wire(params, where=f"{name} connect params", check=self.check_payloads)
        started = self.clock.now_ns()
        instance = handler()
        socket = Socket(handler=handler, runtime=self)
        returned = await _resolve(instance.connect(wire_params, socket, dict(connect_info or {})))
        result: Ok | Error
        try:
            result = check_result(name, "connect", returned)
            if isinstance(result, Error):
                logger.info("%s refused the connection: %r", name, result.reply)
            elif not isinstance(result.socket, Socket):
                raise InvalidReturn(f"{name}.connect returned ok({result.socket!r}); expected ok(socket)")
            else:
                socket_id = await _resolve(instance.id(result.socket))
                if socket_id is not None and not isinstance(socket_id, str):
                    raise InvalidReturn(f"{name}.id returned {socket_id!r}; expected a str or None")
                result = Ok(result.socket._replace(handler=handler, runtime=self, id=socket_id))
        except InvalidReturn as exc:
            logger.error("%s; the connection is refused", exc)
            result = Error()
        if self.telemetry.observed(SOCKET_CONNECTED):
            metadata = {
                "user_socket": handler,
                "params": wire_params,
                "connect_info": dict(connect_info or {}),
                "result": "ok" if isinstance(result, Ok) else "error",
            }
            self.telemetry.execute(SOCKET_CONNECTED, {"duration": self.clock.now_ns() - started}, metadata)
        return result

    def socket(
        self,
        handler: type[SocketHandler] | None = None,
        id: str | None = None,
        assigns: Mapping[str, Any] | None = None,
    ) -> Socket:
        """A socket that skips `connect` (Phoenix's `socket/3`)."""
        self.check_running("socket")
        return Socket(handler=handler, id=id, assigns=dict(assigns or {}), runtime=self)

    def start_join(
        self,
        socket: Socket,
        topic: str,
        payload: Any,
        transport: Transport,
        *,
        channel: type[Channel] | None = None,
        join_ref: str | None = None,
    ) -> ChannelProcess | Error:
        """Route `topic` and queue the join; the result is on the process once settled."""
        self.check_running("join")
        if not isinstance(topic, str):
            raise TypeError(f"a topic must be a str (got {topic!r})")
        route_assigns: Mapping[str, Any] = {}
        if channel is None:
            found = socket.handler.route_for(topic) if socket.handler is not None else None
            if found is None:
                owner = socket.handler.__qualname__ if socket.handler else "this socket (it has no handler)"
                logger.warning("%s has no channel route for topic %r: unmatched topic", owner, topic)
                return Error({"reason": "unmatched topic"})
            channel, route_assigns = found.channel, found.assigns
        elif not (isinstance(channel, type) and issubclass(channel, Channel)):
            raise TypeError(f"channel must be a Channel subclass (got {channel!r})")
        wire = to_wire(payload, where=f"join payload for {topic!r}", check=self.check_payloads)
        joining = socket._replace(
            topic=topic,
            join_ref=join_ref or self.make_ref(),
            assigns={**socket.assigns, **route_assigns},
            runtime=self,
            joined=False,
            ref=None,
        )
        process = ChannelProcess(self, channel, joining, transport)
        self._enqueue(process, _Join(wire))
        return process

    async def join(
        self,
        socket: Socket,
        topic: str,
        payload: Any,
        transport: Transport,
        *,
        channel: type[Channel] | None = None,
        join_ref: str | None = None,
    ) -> Ok | Error:
        """Join `topic` and settle; returns `Ok(joined_socket, reply)` or `Error(reply)`.

        `join_ref` is the client's reference for this join (a fresh one by default); a
        network transport passes the one from the client's `phx_join` frame.
        """
        started = self.start_join(socket, topic, payload, transport, channel=channel, join_ref=join_ref)
        if isinstance(started, Error):
            return started
        if self._serving:
            started.join_done = anyio.Event()
            await started.join_done.wait()
        else:
            await self.settle()
        assert started.join_result is not None
        if isinstance(started.join_result, Ok):
            return Ok(started.socket, started.join_result.reply)
        return started.join_result

    def push(self, socket: Socket, event: str, payload: Any, ref: str | None = None) -> str:
        """Queue a client push for the channel behind `socket`; returns its ref. A dead channel ignores it."""
        __tracebackhide__ = True
        process = self._process_of(socket, "push")
        ref = ref or self.make_ref()
        wire = to_wire(payload, where=lambda: f"push {event!r} to {process.name}", check=self.check_payloads)
        if process.alive:
            self._enqueue(process, _In(event, wire, ref))
        return ref

    def _push_decoded(self, process: ChannelProcess, event: str, payload: Any, ref: str | None) -> None:
        """`push` for a transport, to a channel it started: `payload` was decoded from the client's frame
        just now, for this channel alone, so it is already what `to_wire` would make of it and is not
        copied again."""
        if self.stopped is not None:
            self.check_running("push")
        if process.alive:
            self._enqueue(process, _In(event, payload, ref or self.make_ref()))

    def leave(self, socket: Socket, ref: str | None = None) -> str:
        """Queue a leave; the channel replies ok, closes with ("shutdown", "left") and terminates."""
        process = self._process_of(socket, "leave")
        ref = ref or self.make_ref()
        if process.alive:
            self._enqueue(process, _Close(("shutdown", "left"), ref=ref))
        return ref

    def close(self, socket: Socket, reason: Reason = ("shutdown", "closed"), *, timeout: float | None = None) -> None:
        """Queue a close: the channel terminates with `reason`, without a Close message.

        The default is what a channel sees when its transport goes away; a transport closing
        the old channel of a duplicate join passes ("shutdown", "duplicate_join"). A
        `terminate` still running after `timeout` seconds (default: the channel's
        `shutdown`) is cut short, and the channel exits with reason "killed".
        """
        process = self._process_of(socket, "close")
        if timeout is not None:
            to_ns(timeout, name="close timeout")
        if process.alive:
            self._enqueue(process, _Close(reason, timeout))

    def _process_of(self, socket: Socket, action: str) -> ChannelProcess:
        """The channel behind `socket`, for `action` from outside, once this node is known to run."""
        if self.stopped is not None:
            self.check_running(action)
        if not isinstance(socket, Socket):
            raise TypeError(f"{action} needs a joined Socket (got {socket!r})")
        if socket.channel_pid is None:
            raise TypeError(f"{action} needs a joined socket, from join or subscribe_and_join (got {socket!r})")
        return socket.channel_pid

    # -- calls and casts -------------------------------------------------------------------------

    async def call(self, socket: Socket, message: Any, *, timeout: float = 5.0) -> Any:
        """Ask the channel behind `socket` a question and return its answer (GenServer.call).

        The channel handles it in `handle_call(message, from_, socket)`, in mailbox order.
        `timeout` is in seconds of this runtime's time (virtual in tests); the default is
        GenServer's 5 s. From a channel's own async callback on a runtime that is not serving,
        the wait is bounded by the real-time idle guard (`NotIdle`) instead.

        Raises:
            ChannelExited: the channel had exited, or exited before it answered.
            CallTimeout: no answer within `timeout`.
        """
        __tracebackhide__ = True
        process = self._process_of(socket, "call")
        delay = to_ns(timeout, name="call timeout")
        refuse_exited(process, "call", message)
        caller = CallRef(process, message)
        process.callers.append(caller)
        started = self.clock.now_ns()
        process.runtime._enqueue(process, _Message("handle_call", message, caller))
        if self._serving or self._tg is not None:
            await caller.wait(timeout, guarded=not self._serving and isinstance(self.clock, VirtualClock))
        else:
            await self.run_until(started + delay, lambda: caller.done)
        return caller.outcome(timeout, started)

    def cast(self, socket: Socket, message: Any) -> None:
        """Send `message` to the channel's `handle_cast` and return at once (GenServer.cast).

        As in OTP, a cast to a channel that has exited is dropped without a word.
        """
        process = self._process_of(socket, "cast")
        if process.alive:
            process.runtime._enqueue(process, _Message("handle_cast", message))

    # -- broadcasts ------------------------------------------------------------------------------

    def broadcast(
        self,
        topic: str,
        event: str,
        payload: Any = None,
        *,
        from_: Subscriber | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> BroadcastError | None:
        """Broadcast to every subscriber of `topic` (except `from_`), on every node.

        `dispatcher` delivers to this node's subscribers instead of the default (see
        `PubSub.local_broadcast`); other nodes use the default. Returns a BroadcastError
        when the adapter could not publish to other nodes.
        """
        __tracebackhide__ = True
        if self.stopped is not None:
            sender = publisher.get()
            # A stopped node's own channels still finish what was queued for them, broadcasts
            # included, however the loop orders that work before the stop's own step.
            if not (isinstance(sender, ChannelProcess) and sender.runtime is self):
                self.check_running("broadcast")
        message = self._message(topic, event, payload)
        self.pubsub.local_broadcast(message, from_=from_, dispatcher=dispatcher)
        try:
            self.pubsub.adapter.publish(message)
        except Exception as exc:
            failure = BroadcastError(f"broadcast {event!r} on {topic!r} could not reach other nodes: {exc!r}")
            failure.__cause__ = exc
            return failure
        return None

    broadcast_or_raise = or_raise(broadcast)

    def local_broadcast(
        self,
        topic: str,
        event: str,
        payload: Any = None,
        *,
        from_: Subscriber | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        """Broadcast to this node's subscribers only."""
        self.check_running("local_broadcast")
        self.pubsub.local_broadcast(self._message(topic, event, payload), from_=from_, dispatcher=dispatcher)

    def direct_broadcast(self, node: str, topic: str, event: str, payload: Any = None) -> BroadcastError | None:
        """Broadcast to the subscribers of `topic` on the node named `node` only (`direct_broadcast`).

        This node's own name delivers here. Returns a BroadcastError when the node cannot
        be reached: unknown, or an adapter that cannot address one node. Delivery is at most
        once, as for every broadcast.
        """
        __tracebackhide__ = True
        self.check_running("direct_broadcast")
        if not isinstance(node, str):
            raise TypeError(f"direct_broadcast needs a node name, a str (got {node!r})")
        message = self._message(topic, event, payload)
        if node == self.pubsub.node_name:
            self.pubsub.local_broadcast(message)
            return None
        adapter = self.pubsub.adapter
        what = f"direct_broadcast {event!r} on {topic!r} to node {node!r}"
        send = getattr(adapter, "direct_publish", None)
        if send is None:
            return BroadcastError(
                f"{what}: this node is {self.pubsub.node_name!r} and its adapter {type(adapter).__name__} "
                "cannot send to one node"
            )
        try:
            send(node, message)
        except Exception as exc:
            failure = BroadcastError(f"{what} failed: {exc}")
            failure.__cause__ = exc
            return failure
        return None

    direct_broadcast_or_raise = or_raise(direct_broadcast)

    def _message(self, topic: str, event: str, payload: Any) -> Broadcast:
        __tracebackhide__ = True
        if not isinstance(topic, str) or not isinstance(event, str):
            raise TypeError(f"broadcast needs a str topic and event (got topic={topic!r}, event={event!r})")
        wire = to_wire(payload, where=lambda: f"broadcast {event!r} on {topic!r}", check=self.check_payloads)
        return Broadcast(topic, event, wire, self.clock.now_ns(), origin=self.pubsub.node)

    # -- teardown --------------------------------------------------------------------------------

    async def aclose(self, reason: str = "shutdown") -> None:
        """Stop every channel (calling `terminate`) and cancel every timer.

        Each `terminate` gets the channel's `shutdown` seconds; one that is still running
        then is cut short, and its channel exits with reason "killed" (reported, and logged
        with where it was waiting). On a virtual clock the real-time guard bounds them all
        together: `idle_timeout` real seconds for the whole teardown.
        """
        self._runq.clear()
        guard = time.monotonic() + self.idle_timeout if isinstance(self.clock, VirtualClock) else None
        for process in list(self._processes):
            process._deadline = guard
            try:
                await process.shutdown(reason)
            finally:
                process._deadline = None
        self._inflight = 0
        cancel_all = getattr(self.clock, "cancel_all", None)
        if cancel_all is not None:
            cancel_all()

    def describe_timers(self) -> str:
        """Pending timers, for failure messages."""
        return "\n".join(f"  - at {format_ns(t.deadline_ns)}: {t.description}" for t in self.clock.pending_timers())


def _doing(process: ChannelProcess) -> str:
    # A channel queued behind the one that ran last is doing nothing yet: it has mail waiting.
    return f"in {process.doing}" if process.doing is not None else "with mail waiting its turn"
