"""A simulated official Phoenix JavaScript client, so a test can assert what a real client would see.

It follows `phoenix.js` as `../shared/reference/phoenix.md` section 7 describes it: channel
states (closed, errored, joined, joining, leaving), one `join` per channel, pushes buffered
until joined, replies and timeouts (10 s), stale `join_ref` messages dropped, a crashed
channel (`phx_error`) rejoined after 1, 2, 5 then every 10 seconds, and a lost connection
retried after 10, 50, 100, 150, 200, 250, 500, 1000, 2000 then every 5000 ms, errored
channels rejoining as soon as it opens again. Its timers run on the test's virtual clock.

Its connection is the server's own state machine (`Connection`, the one `ChannelsApp` runs):
the client sends it frames as phoenix.js does, and reads what it sends back as phoenix.js
decodes it, at the next wait, with no network delay between client and node. Not simulated:
heartbeats, the long-poll fallback, and the encoding of the client's own frames.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .._runtime._clock import NS_PER_SECOND, Timer, check_seconds, to_ns
from .._runtime._errors import NodeStopped
from .._runtime._messages import Broadcast, Close, Exit, Message, Push, Reply
from .._runtime._results import Error, Ok
from .._runtime._runtime import Runtime
from .._runtime._socket import Socket, SocketHandler
from .._server._multiplexer import Connection
from .._server._serializer import Frame, decode_client
from ._wire import message_of

if TYPE_CHECKING:
    from ._core import Core

RECONNECT_AFTER = (0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.0)
"""phoenix.js `reconnectAfterMs`, in seconds: the delay before reconnect attempt n (then 5 s)."""
REJOIN_AFTER = (1.0, 2.0, 5.0)
"""phoenix.js `rejoinAfterMs`, in seconds: the delay before rejoin attempt n (then 10 s)."""
DEFAULT_TIMEOUT = 10.0
"""phoenix.js `DEFAULT_TIMEOUT`, in seconds: how long a join, push or leave waits for its reply."""

Params = Mapping[str, Any] | Callable[[], Mapping[str, Any]]
"""A join payload, or a function that returns it (called at every join and rejoin)."""

ChannelState = Literal["closed", "errored", "joined", "joining", "leaving"]
ConnectionState = Literal["closed", "connecting", "open"]


def reconnect_after(tries: int) -> float:
    """Seconds before reconnect attempt `tries` (1-based), as phoenix.js waits."""
    return RECONNECT_AFTER[tries - 1] if tries <= len(RECONNECT_AFTER) else 5.0


def rejoin_after(tries: int) -> float:
    """Seconds before rejoin attempt `tries` (1-based), as phoenix.js waits."""
    return REJOIN_AFTER[tries - 1] if tries <= len(REJOIN_AFTER) else 10.0


def _timer(client: Client, seconds: float, callback: Callable[[], None], description: str) -> Timer:
    """A timer of `client`'s, `seconds` from now on the test's clock (cancelling a fired one is harmless)."""
    clock = client._core.clock
    return clock.call_at(clock.now_ns() + to_ns(seconds), callback, f"{client.name}{description}")


class ClientEvent(NamedTuple):
    """Something that happened to a simulated client or one of its channels, at a virtual instant."""

    at: float
    """Virtual seconds since the test started."""
    what: str
    """A channel state (`"joining"`, `"joined"`, ...) or a connection event (`"open"`, `"closed 1006"`, ...)."""

    def __repr__(self) -> str:
        return f"{self.what}@{self.at:g}s"


class _Backoff:
    """phoenix.js's Timer: `schedule` waits `after(tries + 1)` then counts a try; `reset` starts over."""

    def __init__(self, client: Client, callback: Callable[[], None], after: Callable[[int], float], what: str) -> None:
        self._client = client
        self._callback = callback
        self._after = after
        self._what = what
        self.tries = 0
        self._timer: Timer | None = None

    def reset(self) -> None:
        self.tries = 0
        if self._timer is not None:
            self._timer.cancel()

    def schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        after = self._after(self.tries + 1)
        self._timer = _timer(self._client, after, self._fire, f": {self._what} attempt {self.tries + 1}")

    def _fire(self) -> None:
        self.tries += 1
        self._callback()


class ClientPush:
    """A join, push or leave sent by a simulated client, and what came back.

    Attributes:
        event: the event pushed (`"phx_join"` and `"phx_leave"` for joins and leaves).
        payload: what was pushed.
        ref: the reference of the latest send (None before it was sent, and after a reset).
        status: None while waiting; then the reply's status (`"ok"`, `"error"`, ...) or `"timeout"`.
        response: the reply's payload.
    """

    def __init__(self, channel: ClientChannel, event: str, payload: Any, timeout: float) -> None:
        self.channel = channel
        self.event = event
        self.payload = payload
        self.timeout = timeout
        self.ref: str | None = None
        self.status: str | None = None
        self.response: Any = None
        self._timer: Timer | None = None
        self.hooks: dict[str, Callable[[Any], None]] = {}  # by the reply's status: what the channel does then

    def __repr__(self) -> str:
        got = "waiting" if self.status is None else f"{self.status} {self.response!r}"
        return f"<ClientPush {self.channel.topic!r} {self.event!r} ref={self.ref!r} {got}>"

    def _send(self) -> None:
        if self.status == "timeout":
            return
        self._start_timeout()
        self.channel._client._send(self)

    def _reset(self) -> None:
        self._cancel_timeout()
        self.ref = None
        self.status = self.response = None

    def _start_timeout(self) -> None:
        """A new ref, under which the channel takes the reply, and its timeout."""
        self._cancel_timeout()
        channel = self.channel
        self.ref = ref = str(next(channel._client._refs))
        channel._pushes[ref] = self
        description = f" {channel.topic!r}: {self.event!r} ref {ref} times out"
        self._timer = _timer(channel._client, self.timeout, lambda: self._receive("timeout", {}), description)

    def _cancel_timeout(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _receive(self, status: str, response: Any) -> None:
        self._cancel_timeout()
        self.status, self.response = status, response
        hook = self.hooks.get(status)
        if hook is not None:
            hook(response)


class ClientChannel:
    """One channel of a simulated client (phoenix.js's `Channel`). Get it with `client.channel(topic)`.

    Attributes:
        topic: the topic.
        params: the join payload, or a function returning it, called for every (re)join, as
            phoenix.js allows (send what the client has seen so far, to catch up on rejoin).
        state: "closed", "joining", "joined", "errored" or "leaving", as in phoenix.js.
        history: every state change, with its virtual time.
        messages: every event the server sent to this channel (pushes and broadcasts), in order.
        join_push: the join, whose `ref` is the current join ref.
    """

    def __init__(self, client: Client, topic: str, params: Params | None) -> None:
        self._client = client
        self.topic = topic
        self.params: Params = params if callable(params) else dict(params or {})
        self.state: ChannelState = "closed"
        self.history: list[ClientEvent] = []
        self.messages: list[Push] = []
        self.timeout = DEFAULT_TIMEOUT
        self.joined_once = False
        self.join_push = ClientPush(self, "phx_join", self.params, self.timeout)
        self._buffer: list[ClientPush] = []
        self._pushes: dict[str, ClientPush] = {}
        self._rejoin = _Backoff(client, self._rejoin_due, client.rejoin_after, f"{topic!r} rejoin")
        self._bindings: list[tuple[str, int, Callable[[Any], None]]] = []
        self._binding_refs = itertools.count(1)
        self.join_push.hooks.update(ok=self._joined, error=self._rejoin_later, timeout=self._join_timed_out)

    def __repr__(self) -> str:
        return f"<ClientChannel {self.topic!r} {self.state} join_ref={self.join_ref!r}>"

    @property
    def client(self) -> Client:
        """The client this channel belongs to."""
        return self._client

    @property
    def join_ref(self) -> str | None:
        """The ref of the current join: messages with another join ref are stale and dropped."""
        return self.join_push.ref

    @property
    def socket(self) -> Socket | None:
        """The server-side socket of the channel this client joined now, for `crash` or `get_state`."""
        connection = self._client._connection
        process = connection.process(self.topic) if connection is not None else None
        if process is None or process.socket.join_ref != self.join_ref:
            return None
        return process.socket

    @property
    def states(self) -> list[str]:
        """The states it went through, in order (`history` without the times)."""
        return [event.what for event in self.history]

    # -- what a test calls (phoenix.js's public API) --------------------------------------------------

    def join(self, timeout: float | None = None) -> ClientPush:
        """Join, once per channel instance; it rejoins by itself after errors.

        Raises:
            RuntimeError: `join` was already called on this channel.
        """
        if self.joined_once:
            raise RuntimeError(
                f"tried to join {self.topic!r} multiple times. 'join' can only be called a single time per channel"
                " instance: make a new one with client.channel(topic)"
            )
        if timeout is not None:
            self.timeout = check_seconds(timeout, name="join timeout")
        self.joined_once = True
        self._rejoin_now()
        return self.join_push

    def push(self, event: str, payload: Any = None, timeout: float | None = None) -> ClientPush:
        """Push an event; sent at once when joined, else buffered until the join succeeds (its timeout runs now).

        Raises:
            RuntimeError: `join` was never called.
        """
        if not self.joined_once:
            raise RuntimeError(
                f"tried to push {event!r} to {self.topic!r} before joining. Use channel.join() before pushing events"
            )
        wait = check_seconds(DEFAULT_TIMEOUT if timeout is None else timeout, name="push timeout")
        push = ClientPush(self, event, payload or {}, wait)
        if self._client.connected and self.state == "joined":
            push._send()
        else:
            push._start_timeout()
            self._buffer.append(push)
        return push

    def leave(self, timeout: float | None = None) -> ClientPush:
        """Leave: the channel is closed on the client at once, and `phx_leave` tells the server."""
        self.join_push._cancel_timeout()
        self._set("leaving")
        wait = self.timeout if timeout is None else check_seconds(timeout, name="timeout")
        leave = ClientPush(self, "phx_leave", {}, wait)
        leave._send()
        leave._receive("ok", {})  # as in phoenix.js: a leaving channel cannot push, so its close is local and at once
        self._closed()
        return leave

    def on(self, event: str, callback: Callable[[Any], None]) -> int:
        """Call `callback(payload)` for every `event` the server sends (phoenix.js's `channel.on`); returns a ref."""
        ref = next(self._binding_refs)
        self._bindings.append((event, ref, callback))
        return ref

    def off(self, event: str, ref: int | None = None) -> None:
        """Remove the callbacks bound to `event` (only the one with `ref`, if given), as phoenix.js's `channel.off`."""
        self._bindings = [b for b in self._bindings if not (b[0] == event and ref in (None, b[1]))]

    # -- reactions -------------------------------------------------------------------------------

    def _set(self, state: ChannelState) -> None:
        self.state = state
        self.history.append(ClientEvent(self._client._now(), state))

    def _rejoin_now(self) -> None:
        if self.state == "leaving":
            return
        for channel in self._client.channels:  # phoenix.js's leaveOpenTopic: one live channel a topic
            if channel is not self and channel.topic == self.topic and channel.state in ("joined", "joining"):
                channel.leave()
                break
        self._set("joining")
        self.join_push.timeout = self.timeout
        self.join_push._reset()
        self.join_push._send()

    def _rejoin_due(self) -> None:
        if self._client.connected:
            self._rejoin_now()

    def _joined(self, _: Any) -> None:
        self._set("joined")
        self._rejoin.reset()
        buffered, self._buffer = self._buffer, []
        for push in buffered:
            push._send()

    def _rejoin_later(self, _: Any = None) -> None:
        """Errored: rejoin with backoff, once connected (a refused join's hook, and the end of the two below)."""
        self._set("errored")
        if self._client.connected:
            self._rejoin.schedule()

    def _join_timed_out(self, _: Any) -> None:
        ClientPush(self, "phx_leave", {}, self.timeout)._send()
        self.join_push._reset()
        self._rejoin_later()

    def _errored(self) -> None:
        if self.state == "joining":
            self.join_push._reset()
        self._rejoin_later()

    def _closed(self) -> None:
        self._rejoin.reset()
        self._set("closed")
        if self in self._client.channels:
            self._client.channels.remove(self)

    def _receive(self, message: Message | Frame) -> None:
        """A message from the server, or the `phx_error` frame of a crash, which phoenix.js handles itself."""
        if isinstance(message, Reply):
            push = self._pushes.get(message.ref)
            if push is not None and push.ref == message.ref:
                del self._pushes[message.ref]
                push._receive(message.status, message.payload)
        elif isinstance(message, Close):
            self._closed()
        elif isinstance(message, Frame):
            self._errored()
        elif isinstance(message, Push):
            self.messages.append(message)
            for event, _, callback in list(self._bindings):
                if event == message.event:
                    callback(message.payload)


class _ClientConnection(Connection):
    """The server's state machine of one client connection, with the simulated client at its other end.

    The client sends it frames as phoenix.js sends them over a socket, and what it sends back
    is decoded as phoenix.js decodes it and read by the client at the next wait, in its turn on
    the group's queue. Crashes reach the test's mailbox too, to be claimed as for its own channels.
    """

    def __init__(self, client: Client, runtime: Runtime, socket: Socket) -> None:
        super().__init__(runtime, socket, name=f"{client.name}'s connection")
        self.client = client
        self._origin: str | None = None  # the node of what is being sent now, for the client's failure output

    def exited(self, exit: Exit) -> None:
        super().exited(exit)
        self.client._core.mailbox.exited(exit)

    def deliver(self, message: Message) -> None:
        self._from(getattr(message, "origin", None), super().deliver, message)

    def fastlane(self, broadcast: Broadcast) -> None:
        self._from(broadcast.origin, super().fastlane, broadcast)

    def _from(self, origin: str | None, send: Callable[[Any], None], message: Message) -> None:
        self._origin = origin
        try:
            send(message)
        finally:
            self._origin = None

    def _put(self, data: str | bytes) -> None:
        # Arrives at the client at once, decoded as phoenix.js decodes it; the client reads it at the next wait.
        frame = decode_client(data)
        message = message_of(frame, self.runtime.clock.now_ns(), origin=self._origin)
        self.client._receive(message if message is not None else frame)  # None: phx_error

    def request_close(self, code: int, reason: str) -> None:
        # The server closes the connection (a disconnect by id): the client hears the code.
        super().request_close(code, reason)
        self.close(code=code)

    def close(self, *, code: int, node_down: bool = False) -> None:
        """Drop the connection: its channels end with ("shutdown", "closed"), and the client hears `code`."""
        if self.gone:
            return
        if node_down:  # a stopped node shuts its channels down itself
            self.gone = True
        else:
            self.shutdown()
        self.client._group.submit(functools.partial(self.client._closed, self, code), self.client.name)


class Client:
    """A simulated official Phoenix JavaScript client. Make one with `channels.client(handler, params)`.

    Drive it as a browser would (`connect`, `channel(topic).join()`, `push`, `leave`,
    `disconnect`), break it as a network would (`lose_connection`), and read what it saw:
    `state`, each channel's `state`, `history` and `messages`. Everything happens at the
    test's next wait; its retries are timers on the virtual clock.

    Attributes:
        name: "client 1", "client 2", ... in the order the test made them (timers show it).
        node: the node the next connection goes to (None: the test's own runtime). Set it to
            send a reconnect elsewhere, as a load balancer would.
        history: connection events with their virtual times: "connecting", "open",
            "refused", "closed 1000" (clean), "closed 1001" (server disconnect), "closed 1006" (lost).
    """

    def __init__(
        self,
        core: Core,
        handler: type[SocketHandler],
        params: Mapping[str, Any] | None,
        *,
        node: str | None,
        connect_info: Mapping[str, Any] | None,
        number: int,
    ) -> None:
        self._core = core
        self._group = core.runtime.group  # whose queue runs the client's work
        self.name = f"client {number}"
        self.handler = handler
        self.params = dict(params or {})
        self.connect_info = dict(connect_info or {})
        self.node = node
        self.history: list[ClientEvent] = []
        self.channels: list[ClientChannel] = []
        self.reconnect_after: Callable[[int], float] = reconnect_after
        self.rejoin_after: Callable[[int], float] = rejoin_after
        self._connection: _ClientConnection | None = None
        self._connecting = False
        self._clean_close = False
        self._refs = itertools.count(1)
        self._send_buffer: list[ClientPush] = []
        self._reconnect = _Backoff(self, self._reconnect_due, lambda n: self.reconnect_after(n), "reconnect")

    def __repr__(self) -> str:
        where = "" if self.node is None else f" node={self.node!r}"
        return f"<Client {self.name!r} {self.handler.__qualname__} {self.state}{where}>"

    @property
    def state(self) -> ConnectionState:
        """ "closed", "connecting" or "open" (phoenix.js's `connectionState`)."""
        if self._connection is not None and not self._connection.gone:
            return "open"
        return "connecting" if self._connecting else "closed"

    @property
    def connected(self) -> bool:
        return self.state == "open"

    @property
    def socket(self) -> Socket | None:
        """The server-side socket of the open connection, or None."""
        return self._connection.socket if self.connected and self._connection is not None else None

    @property
    def events(self) -> list[str]:
        """The connection events, in order (`history` without the times)."""
        return [event.what for event in self.history]

    def channel(self, topic: str, params: Params | None = None) -> ClientChannel:
        """A new channel on `topic`; call `join()` on it.

        `params` is the join payload, or a function returning it, called at every (re)join.
        """
        if not isinstance(topic, str):
            raise TypeError(f"a topic must be a str (got {topic!r})")
        channel = ClientChannel(self, topic, params)
        self.channels.append(channel)
        return channel

    def connect(self) -> None:
        """Open the connection at the next wait; if it is refused or lost, retry with backoff."""
        if self.state != "closed":
            return
        self._clean_close = False
        self._start_connecting()

    def disconnect(self) -> None:
        """Close the connection cleanly (code 1000), as `socket.disconnect()` does: no reconnect.

        The server-side channels end with ("shutdown", "closed").
        """
        self._clean_close = True
        self._connecting = False
        self._reconnect.reset()
        if self._connection is not None:
            self._connection.close(code=1000)

    def lose_connection(self) -> None:
        """Drop the connection abruptly (code 1006), as a network failure does.

        The server-side channels end with ("shutdown", "closed") and their in-memory state is
        gone; the client reconnects with backoff and its channels rejoin.
        """
        if self._connection is None or self._connection.gone:
            raise RuntimeError(f"{self.name} has no open connection to lose (it is {self.state})")
        self._connection.close(code=1006)

    # -- internals -----------------------------------------------------------------------------------

    def _receive(self, message: Message | Frame) -> None:
        # Read at the next wait, in its turn on the group's queue, as a browser reads a frame.
        self._group.submit(functools.partial(self._handle, message), self.name)

    async def _connect_now(self) -> None:
        if self._connecting:  # not disconnected since
            self._connecting = False
            await self._open()

    def _now(self) -> float:
        return self._core.clock.now_ns() / NS_PER_SECOND

    def _log(self, what: str) -> None:
        self.history.append(ClientEvent(self._now(), what))

    def _start_connecting(self) -> None:
        self._connecting = True
        self._log("connecting")
        self._group.submit(self._connect_now, self.name)

    def _reconnect_due(self) -> None:
        if not self.connected and not self._clean_close:
            self._start_connecting()

    async def _open(self) -> None:
        try:
            runtime = self._core.runtime_for(self.node, "connect")
            result = await runtime.connect(self.handler, self.params, self.connect_info)
        except NodeStopped:
            result = Error({"reason": "node down"})
        if not isinstance(result, Ok):
            self._log("refused")
            for channel in self.channels:  # phoenix.js's onConnError, then onConnClose with code 1006
                channel._rejoin.reset()
            for channel in self._live_channels():
                channel._errored()
            self._reconnect.schedule()
            return
        connection = self._connection = _ClientConnection(self, runtime, result.socket)
        if self.node is not None and self._core.cluster is not None:
            self._core.cluster.node(self.node).on_stop(lambda: connection.close(code=1006, node_down=True))
        self._log("open")
        buffered, self._send_buffer = self._send_buffer, []
        for push in buffered:
            self._send(push)
        self._reconnect.reset()
        for channel in list(self.channels):
            channel._rejoin.reset()
            if channel.state == "errored":
                channel._rejoin_now()

    def _send(self, push: ClientPush) -> None:
        connection = self._connection
        if connection is None or connection.gone:
            self._send_buffer.append(push)
            return
        channel, ref = push.channel, push.ref
        assert ref is not None
        payload = push.payload() if callable(push.payload) else push.payload  # the runtime copies it to the wire
        join_ref = ref if push.event == "phx_join" else channel.join_ref
        connection.handle(Frame(join_ref, ref, channel.topic, push.event, payload))

    def _handle(self, message: Message | Frame) -> None:
        join_ref = message.join_ref if isinstance(message, (Push, Reply, Close, Frame)) else None
        for channel in list(self.channels):
            if channel.topic == message.topic and join_ref in (None, channel.join_ref):
                channel._receive(message)

    def _closed(self, connection: _ClientConnection, code: int) -> None:
        """Read at the next wait, as `_receive`'s frames are: the connection closed with `code`."""
        if connection is not self._connection:  # an older one
            return
        self._log(f"closed {code}")
        for channel in self._live_channels():
            channel._errored()
        if not self._clean_close and code != 1000:
            self._reconnect.schedule()

    def _live_channels(self) -> list[ClientChannel]:
        return [c for c in self.channels if c.state not in ("errored", "leaving", "closed")]
