"""The channel actor: one mailbox, one handler at a time, its own socket, contained failure."""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
import traceback
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from ._calls import CallRef
from ._channel import Channel, SocketRef
from ._clock import LoopClock, Timer, VirtualClock, to_ns
from ._errors import BroadcastError, InvalidReturn, NotJoined, PayloadError
from ._eventloop import LIBRARIES
from ._messages import Broadcast, Close, Exit, Message, Reason, is_graceful, new_push, new_reply
from ._payload import copy_wire, to_wire
from ._pubsub import publisher
from ._results import CallReplied, Error, NoReply, Ok, Replied, Stop, check_result
from ._runner import AGAIN, HANDOFF
from ._socket import Socket
from ._telemetry import CHANNEL_HANDLED_IN, CHANNEL_JOINED, Event, filter_values, format_duration

if TYPE_CHECKING:
    from ._runtime import Runtime

logger = logging.getLogger("pytest_channels")

KILLED = "killed"
"""The exit reason of a channel whose `terminate` outlived its bound (Erlang's `:killed`)."""


class _Killed(Exception):
    """Raised where a killed channel's callback was cut: ends its handling without a crash report."""


class Transport(Protocol):
    """The client side of a connection: where a channel's output goes.

    The test harness is one transport; a WebSocket connection is another. A transport that
    also has `fastlane(broadcast)` gets the broadcasts nobody intercepted as they are, so it
    can send every subscriber the same encoded frame (Phoenix's fastlane); others get a Push.
    One that has `joined(process)` is called once the join's result is known, so that it can
    answer the join without waiting for it. One that has `send_reply(topic, ref, status, payload,
    join_ref)` encodes a reply at once, so it gets a dict payload as the channel gave it.
    """

    def deliver(self, message: Message) -> None:
        """Take a push, reply, broadcast or close for the client. Must not block."""
        ...

    def exited(self, exit: Exit) -> None:
        """Learn that a joined channel ended, and why."""
        ...


# Mailbox entries: plain slotted classes, since one is built for every message handled (and
# intercepted broadcasts, the one Broadcast shared by all its receivers).
class _Join:
    __slots__ = ("payload",)

    def __init__(self, payload: Any) -> None:
        self.payload = payload


class _In:
    __slots__ = ("event", "payload", "ref")

    def __init__(self, event: str, payload: Any, ref: str) -> None:
        self.event, self.payload, self.ref = event, payload, ref


class _Message:
    __slots__ = ("args", "callback")

    def __init__(self, callback: str, *args: Any) -> None:  # handle_info's, handle_cast's or handle_call's
        self.callback, self.args = callback, args  # the message, and a call's caller; then the socket


class _Close:
    __slots__ = ("reason", "ref", "timeout")

    def __init__(self, reason: Reason, timeout: float | None = None, ref: str | None = None) -> None:
        self.reason, self.timeout, self.ref = reason, timeout, ref  # a leave's: the ref of the client's push


async def _resolve(value: Any) -> Any:
    __tracebackhide__ = True
    if inspect.isawaitable(value):
        return await value
    return value


class _Extra:
    """A channel's own subscriptions to other topics: broadcasts arrive in `handle_info`."""

    __slots__ = ("process", "topics")

    def __init__(self, process: ChannelProcess) -> None:
        self.process = process
        self.topics: set[str] = set()

    def receive_broadcast(self, broadcast: Broadcast) -> None:
        self.process.send(broadcast.copy())


# A channel may push and broadcast once joined, and still inside terminate (as in Phoenix).
_SENDING = ("joined", "stopping")

_PLAIN_RESULTS = frozenset({Ok, Error, NoReply, Replied, CallReplied, Stop, type(None)})

# A channel that keeps sending itself messages never leaves its drain loop; yielding now and
# then lets the real-time idle guard cancel it instead of hanging the test run.
_YIELD_EVERY = 64

_NO_INTERCEPTS: frozenset[str] = frozenset()  # shared: an empty frozenset of its own is 216 bytes a channel


class ChannelProcess:
    """Runs one joined channel. Created by `Runtime.join`; users see it as `socket.channel_pid`.

    Its state goes joining -> joined -> stopping (inside `terminate`, where push and
    broadcast still work, as in Phoenix) -> exited.
    """

    # Slots: a test or a server may hold a hundred thousand of these. Without them each has a
    # dict, which CPython shares keys for only up to 30 attributes: one more cost every
    # channel 1.3 KiB. The sets most channels never use are made on first use, for the same reason.
    __slots__ = (
        "__weakref__",
        "_deadline",
        "_doing",
        "_extra",
        "_fastlane",
        "_idle_timer",
        "_log_in",
        "_log_join",
        "_on_exit",
        "_terminating",
        "_timers",
        "_waiting_at",
        "callers",
        "channel",
        "exit",
        "inline",
        "intercepts",
        "join_done",
        "join_error",
        "join_result",
        "kill_note",
        "mailbox",
        "name",
        "room",
        "runtime",
        "scheduled",
        "socket",
        "state",
        "transport",
    )

    def __init__(self, runtime: Runtime, channel: type[Channel], socket: Socket, transport: Transport) -> None:
        self.runtime = runtime
        self.name = channel.__qualname__
        self.channel = channel()
        self.channel._process = self
        self.intercepts = frozenset(channel.intercept) if channel.intercept else _NO_INTERCEPTS
        self.transport = transport
        self._fastlane: Callable[[Broadcast], None] | None = getattr(transport, "fastlane", None)
        self.socket = socket._replace(channel=channel, channel_pid=self)
        self.mailbox: deque[Any] = deque()
        self.room: anyio.Event | None = None
        """Set when a message leaves the mailbox, for a transport that waits for room in it."""
        self.scheduled = False
        self.state = "joining"
        self._doing: str | tuple[str, Any] | None = None  # what it is handling now, for NotIdle
        self.join_result: Ok | Error | None = None
        self.join_error: BaseException | None = None
        self.exit: Exit | None = None
        self.join_done: anyio.Event | None = None  # set once join_result is known, when serving
        self._timers: set[Timer] | None = None  # made on the first timer: most channels never set one
        self._deadline: float | None = None
        self.inline = channel._plain_callbacks
        self._extra: _Extra | None = None  # made on the first subscribe: most channels never make one
        self.kill_note: str | None = None  # why terminate was cut short, once it was
        self._waiting_at = ""  # where terminate was when its bound cancelled it
        self._terminating: anyio.CancelScope | None = None  # the bound of a terminate now awaited, for kill
        self._on_exit: list[Callable[[ChannelProcess], None]] | None = None
        self._idle_timer: Timer | None = None  # the timeout of a noreply(socket, timeout=...)
        self.callers: list[CallRef] = []  # calls waiting for an answer, woken if the channel exits
        # Phoenix.Logger never logs channels on "phoenix..." topics (its own, such as LiveReload).
        quiet = socket.topic is not None and socket.topic.startswith("phoenix")
        self._log_join, self._log_in = (None, None) if quiet else channel._log_levels

    def _timer_set(self) -> set[Timer]:
        if self._timers is None:
            self._timers = set()
        return self._timers

    def __repr__(self) -> str:
        return f"<ChannelProcess {self.name} topic={self.socket.topic!r} {self.state}>"

    @property
    def doing(self) -> str | None:
        """What the channel is handling now, as `handle_in('ping')`; None between messages."""
        if isinstance(self._doing, tuple):
            callback, detail = self._doing
            return f"{callback}({detail!r})"
        return self._doing

    @property
    def topic(self) -> str:
        assert self.socket.topic is not None
        return self.socket.topic

    @property
    def alive(self) -> bool:
        return self.state in ("joining", "joined")

    # -- called from outside the actor ---------------------------------------------------------

    def receive_broadcast(self, broadcast: Broadcast) -> None:
        """Fastlane: intercepted events go through handle_out, the rest straight to the client.

        Each receiver gets its own copy, so no channel or client can change what another sees.
        """
        if broadcast.event in self.intercepts:
            self.runtime._enqueue(self, broadcast)  # shared until handled: _handle copies the payload
        elif self._fastlane is not None:
            self._fastlane(broadcast)  # a network transport encodes it once for every subscriber
        else:
            payload = copy_wire(broadcast.payload)
            push = new_push(broadcast.topic, broadcast.event, payload, None, broadcast.at_ns, broadcast.origin)
            self.transport.deliver(push)

    def send(self, message: Any) -> None:
        if self.alive:
            self.runtime._enqueue(self, _Message("handle_info", message))

    def send_after(self, seconds: float, message: Any) -> Timer:
        return self._after(seconds, "send_after delay", f"handle_info({message!r})", lambda: self.send(message))

    def _after(self, seconds: float, name: str, description: str, fire: Callable[[], None]) -> Timer:
        """Call `fire` after `seconds` of runtime time; the channel's exit cancels it (`_discard`)."""
        clock = self.runtime.clock

        def fired() -> None:
            self._timer_set().discard(timer)
            fire()

        description = f"{self.name} (topic {self.topic!r}) {description}"
        timer = clock.call_at(clock.now_ns() + to_ns(seconds, name=name), fired, description)
        self._timer_set().add(timer)
        return timer

    def on_exit(self, callback: Callable[[ChannelProcess], None]) -> None:
        """Call `callback(process)` once it has exited, for any reason (Erlang's link, as a tracker uses it)."""
        if self._on_exit is None:
            self._on_exit = []
        self._on_exit.append(callback)

    # -- channel functions --------------------------------------------------------------------

    def _require_joined(self, function: str, argument: Any) -> None:
        """Refuse `function(argument)` before the channel joined or after it exited."""
        if self.state in _SENDING:  # the common case: the message below is built only on error
            return
        what = f"{function}({argument!r})"
        if self.state == "joining":
            raise NotJoined(
                f"{self.name}.{what} was called inside join, before the channel joined. "
                "Call self.send('after_join') in join and do it from handle_info instead."
            )
        raise NotJoined(f"{self.name}.{what} was called after the channel on {self.topic!r} exited")

    def push(self, event: str, payload: Any) -> None:
        self._require_joined("push", event)
        runtime, name = self.runtime, self.name  # locals: the closure below would make `self` a cell
        wire = to_wire(payload, where=lambda: f"{name} push {event!r}", check=runtime.check_payloads)
        socket = self.socket
        push = new_push(self.topic, event, wire, socket.join_ref, runtime.clock.now_ns(), runtime.pubsub.node)
        self.transport.deliver(push)

    def reply(self, ref: str, status: str, payload: Any) -> None:
        if not isinstance(status, str):
            raise TypeError(f"{self.name} reply status must be a str (got {status!r})")
        send_reply = getattr(self.transport, "send_reply", None)
        if send_reply is not None and type(payload) is dict:
            socket = self.socket
            try:  # encoded at once, the frame is the copy: none is made first
                send_reply(socket.topic, ref, status, payload, socket.join_ref)
                return
            except PayloadError:
                pass  # to_wire says below what cannot travel, as it says it for every other transport
        wire = to_wire(payload, where=lambda: f"{self.name} reply to ref {ref!r}", check=self.runtime.check_payloads)
        now = self.runtime.clock.now_ns()
        self.transport.deliver(new_reply(self.topic, ref, status, wire, self.socket.join_ref, now))

    def broadcast(self, event: str, payload: Any, *, exclude_self: bool) -> BroadcastError | None:
        self._require_joined("broadcast", event)
        token = publisher.set(self)  # adapters keep this channel's broadcasts in order (per publisher)
        try:
            return self.runtime.broadcast(self.topic, event, payload, from_=self if exclude_self else None)
        finally:
            publisher.reset(token)

    def subscribe(self, topic: str) -> None:
        # Allowed inside join, as in Phoenix (its ChannelTest's "external subscriptions"); a
        # refused or crashed join drops it again in _discard.
        if self.state != "joining":
            self._require_joined("subscribe", topic)
        if self._extra is None:
            self._extra = _Extra(self)
        if topic not in self._extra.topics:
            self._extra.topics.add(topic)
            self.runtime.pubsub.subscribe(topic, self._extra)

    def unsubscribe(self, topic: str) -> None:
        if self._extra is not None:  # else it never subscribed: nothing to undo
            self._extra.topics.discard(topic)
            self.runtime.pubsub.unsubscribe(topic, self._extra)

    def socket_ref(self, socket: Socket) -> SocketRef:
        if socket.ref is None:
            raise NotJoined(
                f"{self.name}.socket_ref needs the socket given to handle_in (a socket with a push ref); got {socket!r}"
            )
        return SocketRef(self, socket.ref)

    # -- the actor loop -------------------------------------------------------------------------

    async def drain(self, deadline: float | None = None) -> None:
        """Handle queued messages one at a time until the mailbox is empty.

        With a `deadline` (`time.monotonic()` seconds) the drain runs inline in its caller's
        task and checks the deadline itself; without one it runs in its own task and yields
        now and then, so that a deadline outside can cancel it.
        """
        runtime = self.runtime
        handled = 0
        self._deadline = deadline
        try:
            while self.mailbox:
                message = self.mailbox.popleft()
                if self.room is not None:
                    self.room.set()
                    self.room = None
                try:
                    if self.alive:
                        await self._handle(message)
                finally:
                    runtime._inflight -= 1
                    if not runtime._inflight and runtime._idle is not None:
                        runtime._idle.set()
                # Left set when cancelled, so that NotIdle can say what was stuck.
                self._doing = None
                handled += 1
                if handled % _YIELD_EVERY == 0:
                    if runtime._stepping is self:
                        await AGAIN  # the runner's other channels go first
                    elif deadline is None:
                        await anyio.lowlevel.checkpoint()
                    elif time.monotonic() > deadline:
                        self._doing = f"its mailbox ({handled} messages handled, {len(self.mailbox)} still queued)"
                        raise runtime._not_idle([self])
        except BaseException:
            if self._doing is None:  # cancelled between messages: it was busy with its own mailbox
                self._doing = f"its mailbox ({handled} messages handled, {len(self.mailbox)} still queued)"
            raise
        finally:
            self.scheduled = False
            self._deadline = None

    async def _handle(self, message: Any) -> None:
        __tracebackhide__ = True  # the runtime's frames say nothing about the channel's failure
        if isinstance(message, _Join):
            with contextlib.suppress(_Killed):
                await self._join(message.payload)
            return
        if self._idle_timer is not None:  # a message arrived: no timeout (GenServer's rule)
            self._idle_timer.cancel()
            self._timer_set().discard(self._idle_timer)
            self._idle_timer = None
        result: Any = None  # an entry of another kind (none exists yet) would do nothing
        try:
            if isinstance(message, _In):
                self._doing = ("handle_in", message.event)
                socket = self.socket._replace(ref=message.ref)
                observed = self._observed(self._log_in, CHANNEL_HANDLED_IN)
                started = self.runtime.clock.now_ns() if observed else 0
                result = await self._call("handle_in", message.event, message.payload, socket)
                if observed:
                    self._handled_in(started, message, socket)
                self._apply("handle_in", result, socket, ref=message.ref)
            elif isinstance(message, Broadcast):
                self._doing = ("handle_out", message.event)
                socket = self.socket
                result = await self._call("handle_out", message.event, copy_wire(message.payload), socket)
                self._apply("handle_out", result, socket)
            elif isinstance(message, _Message):
                callback, args = message.callback, message.args
                self._doing = (callback, args[0])
                socket = self.socket
                result = await self._call(callback, *args, socket)
                if type(result) is CallReplied:  # from handle_call only: check_result refuses it elsewhere
                    args[1].reply(result.value)
                self._apply(callback, result, socket)
            elif isinstance(message, _Close):  # a leave (answered, then closed as Phoenix does) or a close
                if message.ref is not None:
                    self.reply(message.ref, "ok", {})
                await self._exit(message.reason, graceful_close=message.ref is not None, within=message.timeout)
                return
            if isinstance(result, Stop):
                await self._exit(result.reason)
        except _Killed:
            return  # nothing more of it runs: kill has said how it ended
        except Exception as exc:
            logger.error(
                "%s (topic %r) crashed in %s: an exception was raised", self.name, self.topic, self.doing, exc_info=exc
            )
            await self._exit(exc)

    async def _call(self, callback: str, *args: Any) -> Any:
        __tracebackhide__ = True  # the runtime's frames say nothing about the channel's failure
        function = getattr(self.channel, callback)
        result = function(*args)
        if type(result) not in _PLAIN_RESULTS and inspect.isawaitable(result):  # a coroutine, say: not the common case
            # A drain running inline has no task of its own for a deadline to cancel, so a plain
            # function that returns something awaitable is awaited under the deadline here.
            runtime = self.runtime
            if runtime._stepping is self:
                await HANDOFF  # the runner's task must not wait for one channel: go on in a task of its own
            scope = (
                anyio.CancelScope()
                if self._deadline is None
                else anyio.move_on_after(self._deadline - time.monotonic())
            )
            runtime._awaiting[self] = scope  # in the runtime: a process attribute more costs every channel
            try:
                with scope:
                    result = await result
            finally:
                runtime._awaiting.pop(self, None)
            if scope.cancelled_caught:
                if not self.alive:  # killed (a duplicate join): cut where it waited, as Erlang's exit signal cuts
                    raise _Killed
                raise runtime._not_idle([self])
        try:
            return check_result(self.name, callback, result)
        except InvalidReturn as exc:
            raise InvalidReturn(f"{exc} ({_where(function)})") from None

    def _apply(
        self, callback: str, result: NoReply | Replied | CallReplied | Stop, given: Socket, ref: str | None = None
    ) -> None:
        """Take the socket a callback returned and send its reply; the caller runs a Stop's exit.

        `given` is the socket the callback was called with: returned as it is, nothing changed.
        """
        __tracebackhide__ = True  # the runtime's frames say nothing about the channel's failure
        socket = result.socket
        if type(result) is NoReply:
            if result.timeout is not None:
                self._arm_timeout(result.timeout)
            if socket is given:  # nothing changed, nothing to send
                return
        if not isinstance(socket, Socket):
            raise InvalidReturn(
                f"{self.name}.{callback} returned {type(result).__name__.lower()}({result.socket!r}, ...); "
                "the first argument must be the socket"
            )
        if socket is not given:
            self.socket = (
                socket
                if socket.ref is None and socket.channel_pid is self
                else socket._replace(ref=None, channel_pid=self)
            )
        if isinstance(result, Replied):
            assert ref is not None
            self.reply(ref, result.status, result.payload)
        elif isinstance(result, Stop) and result.reply is not None:
            assert ref is not None  # check_result accepts stop(..., reply=) from handle_in only
            self.reply(ref, *result.reply)

    def _arm_timeout(self, seconds: float) -> None:
        def fire() -> None:
            self._idle_timer = None
            if not self.mailbox:  # a message queued but not yet handled still beats the timeout
                self.send("timeout")

        description = f"handle_info('timeout') after {seconds}s without a message"
        self._idle_timer = self._after(seconds, "noreply timeout", description, fire)

    # -- what observers see: Phoenix's telemetry events and Phoenix.Logger's lines ---------------

    def _observed(self, level: int | None, event: Event) -> bool:
        return (level is not None and logger.isEnabledFor(level)) or self.runtime.telemetry.observed(event)

    def _handled_in(self, started_ns: int, message: _In, socket: Socket) -> None:
        metadata = {"ref": message.ref, "event": message.event, "params": message.payload, "socket": socket}
        what = f"HANDLED {message.event} INCOMING ON {self.topic} ({self.name})"
        self._emit(CHANNEL_HANDLED_IN, self._log_in, started_ns, what, metadata)

    def _emit(self, event: Event, level: int | None, started_ns: int, what: str, metadata: dict[str, Any]) -> None:
        """Execute `event` with the duration since `started_ns`, and log `what` took it, as Phoenix.Logger does."""
        duration = self.runtime.clock.now_ns() - started_ns
        if level is not None and logger.isEnabledFor(level):
            params = filter_values(metadata["params"])
            logger.log(level, "%s in %s\n  Parameters: %r", what, format_duration(duration), params)
        self.runtime.telemetry.execute(event, {"duration": duration}, metadata)

    async def _join(self, payload: Any) -> None:
        __tracebackhide__ = True  # the runtime's frames say nothing about the channel's failure
        self._doing = "join"
        socket = self.socket
        observed = self._observed(self._log_join, CHANNEL_JOINED)
        started = self.runtime.clock.now_ns()
        try:
            result = await self._call("join", socket.topic, payload, socket)
            if observed:
                outcome, what = ("ok", "JOINED") if isinstance(result, Ok) else ("error", "REFUSED JOIN")
                metadata = {"params": payload, "socket": socket, "result": outcome}
                self._emit(CHANNEL_JOINED, self._log_join, started, f"{what} {socket.topic}", metadata)
            if isinstance(result, Ok):
                if not isinstance(result.socket, Socket):
                    raise InvalidReturn(f"{self.name}.join returned ok({result.socket!r}); expected ok(socket)")
                check = self.runtime.check_payloads
                reply = to_wire(result.reply, where=f"{self.name} join reply", check=check)
                self.socket = result.socket._replace(
                    topic=socket.topic, join_ref=socket.join_ref, joined=True, channel=socket.channel, channel_pid=self
                )
                self.state = "joined"
                self.runtime.pubsub.subscribe(self.topic, self)
                self.runtime._processes[self] = None
                self.join_result = Ok(self.socket, reply)
            else:
                refusal = to_wire(result.reply, where=f"{self.name} join refusal", check=self.runtime.check_payloads)
                self.join_result = Error(refusal)
                await self._terminate("shutdown")
                if self.state != "exited":  # unless killed meanwhile
                    self._discard()
        except Exception as exc:
            logger.error("%s.join crashed on topic %r: an exception was raised", self.name, socket.topic, exc_info=exc)
            self.join_result = Error({"reason": "join crashed"})
            self.join_error = exc
            self._discard()
        finally:
            if self.join_done is not None:
                self.join_done.set()
            joined = getattr(self.transport, "joined", None)
            if joined is not None:
                joined(self)

    async def _terminate(self, reason: Reason, within: float | None = None) -> Reason:
        """Run the channel's terminate for at most `within` seconds (default: the channel's `shutdown`).

        Returns the exception it raised, KILLED when it outlived its bound, else `reason`.
        """
        __tracebackhide__ = True
        self.state = "stopping"
        self._doing = ("terminate", reason)
        try:
            ending = self.channel.terminate(reason, self.socket)
            if ending is None or not inspect.isawaitable(ending):
                return reason
            if self.runtime._stepping is self:
                await HANDOFF  # before the bound's cancel scope: that belongs to the task that waits
            try:
                cancelled = anyio.get_cancelled_exc_class()
            except RuntimeError:  # no event loop (a hand-built case stopped outside one): nothing to bound by
                await ending
                return reason
            seconds, bound = self._bound(within)
            with anyio.move_on_after(seconds) as scope:
                self._terminating = scope
                try:
                    await ending
                except cancelled as exc:  # by this bound or by a guard outside: remember where it waited
                    self._waiting_at = _waiting_at(exc.__traceback__)
                    raise
                finally:
                    self._terminating = None
            if not scope.cancel_called or self.state == "exited":  # returned in time, or `kill` cut it
                return reason
            self._note_kill(reason, bound)
            return KILLED
        except Exception as exc:
            logger.error("%s.terminate(%r) raised", self.name, reason, exc_info=exc)
            return exc

    def _bound(self, within: float | None) -> tuple[float, str]:
        """How long terminate may take, and that bound in words (for the message when it passes)."""
        seconds = self.channel.shutdown if within is None else within
        source = f"{self.name}.shutdown" if within is None else "the close timeout"
        clock = self.runtime.clock
        # On a loop clock the loop's time is virtual: so are terminate's own waits.
        kind = "virtual " if isinstance(clock, LoopClock) else "real " if isinstance(clock, VirtualClock) else ""
        if isinstance(clock, VirtualClock):
            # A virtual runtime clock on a real loop: terminate can only be waiting for something
            # real, and virtual time cannot move while it runs. The real-time guard bounds it too.
            left = self.runtime.idle_timeout if self._deadline is None else max(0.0, self._deadline - time.monotonic())
            if left < seconds:
                return left, self._guard_words()
        return seconds, f"{seconds:g} {kind}seconds ({source})"

    def _guard_words(self) -> str:
        return f"the real-time guard (idle_timeout={self.runtime.idle_timeout:g} real seconds)"

    def _note_kill(self, reason: Reason, bound: str) -> None:
        self.kill_note = (
            f"its terminate({reason!r}) did not return within {bound} and was cut short. It was waiting at:\n"
            f"{self._waiting_at or '  (no frame outside the event loop libraries)'}\n"
            f"Make terminate return sooner, or give it more time: {self.name}.shutdown = <seconds> "
            f"(now {self.channel.shutdown:g})."
        )
        logger.error("%s (topic %r) was killed: %s", self.name, self.socket.topic, self.kill_note)

    def killed_in_terminate(self) -> Exit:
        """End a channel whose terminate the runtime's real-time guard cancelled (its drain is gone): killed."""
        reason = self._doing[1] if isinstance(self._doing, tuple) else "shutdown"
        self._note_kill(reason, self._guard_words())
        self.runtime._inflight -= len(self.mailbox)
        self.mailbox.clear()
        return self._end(KILLED)

    def _discard(self) -> None:
        self.state = "exited"
        for timer in self._timers or ():
            timer.cancel()
        self._timers = None
        if self.socket.topic is not None:
            self.runtime.pubsub.unsubscribe(self.socket.topic, self)
        for topic in list(self._extra.topics if self._extra is not None else ()):
            self.unsubscribe(topic)
        self.runtime._processes.pop(self, None)
        callbacks, self._on_exit = self._on_exit, None
        for callback in callbacks or ():
            callback(self)
        for caller in self.callers:  # calls still waiting learn that no answer will come
            caller.wake()
        self.callers.clear()

    def _end(self, reason: Reason, *, report: bool = True) -> Exit:
        """Every way out ends here: clean up (`_discard`), keep the exit, and tell the transport if `report`."""
        self._discard()
        self.exit = Exit(self.topic, self.name, reason, self.runtime.clock.now_ns(), self)
        if report:
            self.transport.exited(self.exit)
        return self.exit

    async def _exit(
        self, reason: Reason, *, graceful_close: bool = True, report: bool = True, within: float | None = None
    ) -> None:
        """Stop: tell the client (graceful reasons only), terminate (for `within` seconds at most),
        then clean up and report.

        Phoenix's order: the client hears of the close first; terminate still has a joined
        socket (it may push or broadcast a farewell); timers and subscriptions go last.
        """
        if not self.alive:
            return
        now = self.runtime.clock.now_ns()
        if graceful_close and is_graceful(reason):
            self.transport.deliver(Close(self.topic, reason, self.socket.join_ref, now))
        elif not isinstance(reason, BaseException) and not is_graceful(reason):
            logger.error("%s (topic %r) stopped with abnormal reason %r", self.name, self.topic, reason)
        final = await self._terminate(reason, within)
        if self.state == "exited":  # killed inside terminate: `kill` has reported it
            return
        # A terminate that raised or hung is never silent.
        self._end(final, report=report or final is not reason or self.kill_note is not None)

    async def shutdown(self, reason: Reason) -> None:
        """Stop from outside (teardown), without telling the client."""
        self.mailbox.clear()
        if self.room is not None:
            self.room.set()
        await self._exit(reason, graceful_close=False, report=False)

    def kill(self, reason: Reason = "killed") -> Exit | None:
        """Stop at once, without `terminate` (Erlang's `Process.exit(pid, :kill)`), and report the exit.

        Its in-memory state, timers and subscriptions are gone; messages still queued are
        dropped when the runtime next runs. A callback or a terminate it is awaiting is cut
        where it waits, as Erlang's exit signal ends a process mid-callback: none of its code
        runs on. Returns the exit (the earlier one if it had ended).
        """
        if not self.alive and self._terminating is None:
            return self.exit
        awaited = self.runtime._awaiting.get(self)
        for scope, where in ((self._terminating, "in terminate"), (awaited, "where its callback waits")):
            if scope is None:
                continue
            try:
                anyio.get_current_task()
            except RuntimeError:  # between the loop's runs (a sync test): cut it once the loop runs again
                clock = self.runtime.clock
                clock.call_at(clock.now_ns(), scope.cancel, f"{self.name}: killed {where}")
            else:
                scope.cancel()
        return self._end(reason)


def _where(function: Any) -> str:
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    return f"defined at {code.co_filename}:{code.co_firstlineno}" if code else "defined in a builtin"


def _waiting_at(tb: TracebackType | None) -> str:
    """The frames a cancellation passed through on its way out of terminate, outside the libraries."""
    frames = []
    while tb is not None:
        frame = tb.tb_frame
        if not str(frame.f_globals.get("__name__", "")).startswith(LIBRARIES):
            frames.append(traceback.FrameSummary(frame.f_code.co_filename, tb.tb_lineno, frame.f_code.co_name))
        tb = tb.tb_next
    return "".join(traceback.StackSummary.from_list(frames).format()).rstrip()
