"""Phoenix.Presence: who is on a topic, as channels and their clients see it, on every node.

`Presence` is what users subclass and call; `PresenceServer` is one presence on one node: the
node's `Tracker`, and the queue that turns its diffs into `presence_diff` broadcasts.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar, Final, cast, overload

import anyio

from ._clock import format_ns
from ._errors import NotJoined, PresenceError
from ._messages import new_broadcast
from ._payload import copy_wire, to_wire
from ._process import ChannelProcess
from ._socket import Socket
from ._tracker import Diff, Entry, Tracker

if TYPE_CHECKING:
    from ._runtime import Nodes, Runtime

logger = logging.getLogger("pytest_channels")

Presences = dict[str, dict[str, Any]]
"""A topic's presences as `list` returns them: `{key: {"metas": [meta, ...], ...}}`."""

MetaChange = Mapping[str, Any] | Callable[[dict[str, Any]], Any]
"""What `update` takes: the new meta, or a function of the current one that returns it."""

HISTORY: Final = 200
"""How many dispatched diffs each server keeps for failure output."""


class Presence:
    """Presence tracking for channels, as `use Phoenix.Presence` declares it.

    Subclass it once; override `fetch` to enrich presences in one batch, and `init` with
    `handle_metas` to react to changes on the server. Then, in a channel that has joined:
    `MyPresence.track(socket, key, meta)`; and anywhere: `MyPresence.list(socket)`.

    Every node of a cluster runs its own tracker of the class, which replicates through the
    node's PubSub (in a cluster: through the simulated network) with Phoenix's periods.

    Attributes:
        name: the name shared by every node's tracker; the class's full name by default.
        broadcast_period: seconds between heartbeats (Phoenix: 1.5 s).
        max_silent_periods: heartbeats without changes before an empty one is sent (10).
        down_period: seconds without news before a node is down and its presences leave
            (`broadcast_period * max_silent_periods * 2`, 30 s).
        permdown_period: seconds without news before a node's state is discarded (1200 s).
        clock_sample_periods: heartbeats between requests for missing state (2).

    Example:
        >>> class RoomPresence(Presence):
        ...     def fetch(self, topic, presences):
        ...         return {key: {**p, "name": key.title()} for key, p in presences.items()}
        >>> RoomPresence.down_period
        30.0
    """

    name: ClassVar[str] = ""
    broadcast_period: ClassVar[float] = 1.5
    max_silent_periods: ClassVar[int] = 10
    down_period: ClassVar[float | None] = None
    permdown_period: ClassVar[float] = 1200.0
    clock_sample_periods: ClassVar[int] = 2
    _down_period_given: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = f"{cls.__module__}.{cls.__qualname__}"
        for setting in ("broadcast_period", "permdown_period"):
            value = getattr(cls, setting)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{cls.__name__}.{setting} must be a number of seconds > 0 (got {value!r})")
        for setting in ("max_silent_periods", "clock_sample_periods"):
            value = getattr(cls, setting)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{cls.__name__}.{setting} must be a whole number >= 1 (got {value!r})")
        if cls.__dict__.get("down_period") is not None:
            given = cls.down_period
            if isinstance(given, bool) or not isinstance(given, (int, float)) or not given > 0:
                raise ValueError(f"{cls.__name__}.down_period must be a number of seconds > 0 (got {given!r})")
            cls._down_period_given = True
        if not cls._down_period_given:  # Phoenix's default follows the other two settings
            cls.down_period = float(cls.broadcast_period * cls.max_silent_periods * 2)
        assert cls.down_period is not None
        if cls.down_period < 2 * cls.broadcast_period:
            raise ValueError(
                f"{cls.__name__}.down_period must be at least twice the broadcast_period "
                f"(got {cls.down_period!r} and {cls.broadcast_period!r}), as Phoenix.Tracker requires"
            )
        if cls.permdown_period <= cls.down_period:
            raise ValueError(
                f"{cls.__name__}.permdown_period must be larger than the down_period "
                f"(got {cls.permdown_period!r} and {cls.down_period!r}), as Phoenix.Tracker requires"
            )
        for callback in ("fetch", "init", "handle_metas"):
            if inspect.iscoroutinefunction(getattr(cls, callback)):
                raise TypeError(
                    f"{cls.__name__}.{callback} must be a plain function, not async def: presence runs it "
                    "synchronously (list() calls fetch as Phoenix's list/1 does). Load what it needs "
                    "beforehand, or cache it."
                )

    # -- callbacks ---------------------------------------------------------------------------------

    def init(self) -> Any:
        """The state `handle_metas` starts with on this node (Phoenix's `init/1`). Default: None.

        Called when the presence starts on a node, and only if it defines `handle_metas`.
        """
        return None

    def fetch(self, topic: str, presences: Presences) -> Presences:
        """Extend presences in one batch before they are listed or broadcast. Default: unchanged.

        It gets `{key: {"metas": [...]}}` and returns the same shape, keeping each presence's
        `"metas"` (a `PresenceError` says so when it does not; a key left out is hidden); it is
        called by `list`, `get_by_key`, and for the joins and the leaves of every diff.
        """
        return presences

    def handle_metas(self, topic: str, diff: dict[str, Presences], presences: dict[str, list[Any]], state: Any) -> Any:
        """React to a diff on this node (Phoenix 1.8's `handle_metas/4`); return the new state.

        `presences` holds every key's metas on `topic` after the diff. Defining it is what turns it on.
        """
        return state

    # -- the functions channels call -------------------------------------------------------------

    @overload
    @classmethod
    def track(cls, socket: Socket, key: str | int, meta: Mapping[str, Any], /) -> str: ...
    @overload
    @classmethod
    def track(cls, pid: ChannelProcess, topic: str, key: str | int, meta: Mapping[str, Any], /) -> str: ...
    @classmethod
    def track(cls, *args: Any) -> str:
        """Track the channel as present under `key` with `meta`: `track(socket, key, meta)` or
        `track(pid, topic, key, meta)`; returns the new meta's `phx_ref`.

        The presence leaves when the channel exits, for any reason, or on `untrack`.

        Raises:
            NotJoined: the channel has not joined yet (inside `join`) or has exited.
            PresenceError: this channel already tracks `key` on the topic (use `update`).
            PayloadError: `meta` could not cross the wire as JSON.
        """
        pid, topic, (key, meta) = _target("track", args, 2)
        key = _key(key)
        wire = _meta(meta, f"{cls.__name__}.track({key!r}) meta")
        return _server(cls, pid.runtime, "track").tracker.track(pid, topic, key, wire)

    @overload
    @classmethod
    def untrack(cls, socket: Socket, key: str | int, /) -> None: ...
    @overload
    @classmethod
    def untrack(cls, pid: ChannelProcess, topic: str, key: str | int, /) -> None: ...
    @classmethod
    def untrack(cls, *args: Any) -> None:
        """Stop tracking: `untrack(socket, key)` or `untrack(pid, topic, key)`.

        Raises:
            PresenceError: nothing is tracked under `key` by this channel on the topic.
        """
        pid, topic, (key,) = _target("untrack", args, 1, joined=False)
        _server(cls, pid.runtime, "untrack").tracker.untrack(pid, topic, _key(key))

    @overload
    @classmethod
    def update(cls, socket: Socket, key: str | int, meta: MetaChange, /) -> str: ...
    @overload
    @classmethod
    def update(cls, pid: ChannelProcess, topic: str, key: str | int, meta: MetaChange, /) -> str: ...
    @classmethod
    def update(cls, *args: Any) -> str:
        """Replace the meta (a new dict, or a function of the current one); returns the new `phx_ref`.

        The new meta carries `phx_ref_prev`, the ref it replaces; subscribers see a diff with
        the new meta in `joins` and the old one in `leaves`, as in Phoenix.

        Raises:
            PresenceError: nothing is tracked under `key` by this channel on the topic.
            PayloadError: the new meta could not cross the wire as JSON.
        """
        pid, topic, (key, meta) = _target("update", args, 2)
        key = _key(key)
        where = f"{cls.__name__}.update({key!r}) meta"
        fixed = None if callable(meta) else _meta(meta, where)  # a new dict is checked now, a function's on use

        def updater(current: dict[str, Any]) -> dict[str, Any]:
            return fixed if fixed is not None else _meta(meta(current), where)

        return _server(cls, pid.runtime, "update").tracker.update(pid, topic, key, updater)

    @classmethod
    def list(cls, socket_or_topic: Socket | str, *, runtime: Runtime | None = None) -> Presences:
        """The presences on the socket's topic (or `topic` on `runtime`), through `fetch`.

        `{key: {"metas": [meta, ...]}}`, metas oldest first, each with its `phx_ref`; presences of
        nodes that are down are left out, as in Phoenix.
        """
        server, topic = _lookup(cls, "list", socket_or_topic, runtime)
        return server.list(topic)

    @classmethod
    def get_by_key(cls, socket_or_topic: Socket | str, key: str | int, *, runtime: Runtime | None = None) -> Any:
        """One key's presence, `{"metas": [...], ...}` through `fetch`; `[]` when absent, as in Phoenix."""
        server, topic = _lookup(cls, "get_by_key", socket_or_topic, runtime)
        key = _key(key)
        entries = [entry for entry in server.tracker.entries(topic) if entry.key == key]
        if not entries:
            return []
        fetched = server.fetch(topic, group(entries))
        if key not in fetched:
            raise PresenceError(f"{cls.__name__}.fetch({topic!r}, ...) left out {key!r}, which get_by_key asked for")
        return fetched[key]

    # -- the server on each node -----------------------------------------------------------------------

    @classmethod
    def start(cls, runtime: Runtime) -> PresenceServer:
        """Run this presence on `runtime` now (it starts on first use otherwise); returns its server.

        In a cluster (`channels.cluster(...)`, or any runtimes sharing a group) it then runs on
        every node, and on each node started later, as every node runs the same application.
        A runtime of its own (production, the Redis adapter) has no such group: start it there
        when the application starts, as Phoenix's supervision tree does, or a node whose
        channels never call it would not forward the other nodes' diffs to its subscribers.
        """
        return _server(cls, runtime, "start")

    @classmethod
    def server(cls, runtime: Runtime) -> PresenceServer | None:
        """The server of this presence on `runtime`, if it was started."""
        return _servers.get(runtime, {}).get(cls)


_servers: weakref.WeakKeyDictionary[Runtime, dict[type[Presence], PresenceServer]] = weakref.WeakKeyDictionary()


def _server(cls: type[Presence], runtime: Runtime, function: str = "start") -> PresenceServer:
    if not (isinstance(cls, type) and issubclass(cls, Presence)) or cls is Presence:
        raise TypeError(f"use a subclass of Presence, declared once for the application (got {cls!r})")
    runtime.check_running(f"{cls.__name__}.{function}")  # its presence died with the node
    servers = _servers.setdefault(runtime, {})
    server = servers.get(cls)
    if server is None or server.tracker.stopped:
        server = servers[cls] = PresenceServer(cls, runtime)
        _run_everywhere(cls, runtime)
    return server


_declared: weakref.WeakKeyDictionary[Nodes, dict[type[Presence], None]] = weakref.WeakKeyDictionary()
"""The presences that run on every runtime of a group (a cluster's nodes, the test's runtime)."""


def _run_everywhere(cls: type[Presence], runtime: Runtime) -> None:
    """Once a presence runs on one node of a group, it runs on all (see `Presence.start` for why)."""
    nodes = runtime.nodes
    if nodes is None:
        return  # a runtime of its own (production, Redis): the application starts it on each node
    declared = _declared.get(nodes)
    if declared is None:
        declared = _declared[nodes] = {}
        nodes.when_joined(_start_declared)
    if cls in declared:
        return
    declared[cls] = None
    for other in nodes.runtimes:
        if other.stopped is None:
            _server(cls, other)


def _start_declared(runtime: Runtime) -> None:
    for cls in list(_declared.get(runtime.nodes, ()) if runtime.nodes is not None else ()):
        _server(cls, runtime)


def _target(
    function: str, args: tuple[Any, ...], rest: int, *, joined: bool = True
) -> tuple[Any, str, tuple[Any, ...]]:
    """The (process, topic, other arguments) of a socket form or a process form of `function`."""
    if args and isinstance(args[0], Socket) and len(args) == rest + 1:
        socket: Socket = args[0]
        process = socket.channel_pid
        if process is None or socket.topic is None:
            raise NotJoined(
                f"{function} needs the socket of a joined channel (got {socket!r}); "
                "call it from handle_info after join, as in send('after_join')"
            )
        pid, topic, others = process, socket.topic, args[1:]
    elif args and isinstance(args[0], ChannelProcess) and len(args) == rest + 2:
        pid, topic, others = args[0], args[1], args[2:]
        if not isinstance(topic, str):
            raise TypeError(f"{function}(pid, topic, ...) needs a str topic (got {topic!r})")
    else:
        forms = ("socket, key", "pid, topic, key") if rest == 1 else ("socket, key, meta", "pid, topic, key, meta")
        raise TypeError(f"{function} takes ({forms[0]}) or ({forms[1]}), where pid is socket.channel_pid; got {args!r}")
    if joined and pid.state != "joined":
        if pid.state == "joining":
            raise NotJoined(
                f"{pid.name}: {function} was called inside join, before the channel joined. "
                "Call self.send('after_join') in join and track from handle_info, as Phoenix's guides do"
            )
        raise NotJoined(f"{pid.name}: {function} was called after the channel on {topic!r} exited")
    return pid, topic, others


def _key(key: Any) -> str:
    if type(key) is str:
        return key
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"a presence key must be a str or an int, as a user id (got {key!r})")
    return str(key)  # Phoenix's list casts keys to strings, and clients only ever see strings


def _meta(meta: Any, where: str) -> dict[str, Any]:
    if not isinstance(meta, Mapping):
        raise TypeError(f"{where} must be a dict (got {type(meta).__name__} {meta!r})")
    wire = to_wire(meta, where=where, check=True)  # always: metas cross to other nodes and to clients as JSON
    assert isinstance(wire, dict)
    return wire


def _lookup(
    cls: type[Presence], function: str, socket_or_topic: Socket | str, runtime: Runtime | None
) -> tuple[PresenceServer, str]:
    if isinstance(socket_or_topic, Socket):
        topic = socket_or_topic.topic
        if topic is None or socket_or_topic.runtime is None:
            raise NotJoined(f"{cls.__name__}.{function} needs a joined socket or a topic (got {socket_or_topic!r})")
        return _server(cls, runtime or socket_or_topic.runtime, function), topic
    if not isinstance(socket_or_topic, str):
        raise TypeError(f"{cls.__name__}.{function} takes a socket or a str topic (got {socket_or_topic!r})")
    if runtime is None:
        raise TypeError(
            f"{cls.__name__}.{function}({socket_or_topic!r}) needs to know which node to ask: pass the socket "
            f"instead, or runtime= the node's runtime"
        )
    return _server(cls, runtime, function), socket_or_topic


def group(entries: list[Entry], *, copy: bool = True) -> Presences:
    """Phoenix's `Presence.group`: metas by key, in tracking order; copies of them unless `copy=False`."""
    grouped: Presences = {}
    for entry in entries:
        meta = copy_wire(entry.meta) if copy else entry.meta
        found = grouped.get(entry.key)
        if found is None:
            grouped[entry.key] = {"metas": [meta]}
        else:
            found["metas"].append(meta)
    return grouped


class PresenceServer:
    """One presence's server on one node: its tracker, and the queue that turns diffs into broadcasts.

    For every diff the tracker reports it runs `fetch` on the joins and on the leaves, broadcasts
    `presence_diff` to the topic's subscribers on this node, then calls `handle_metas`, one diff at
    a time and in order, as Phoenix's presence process does with its fetch tasks. The runtime
    schedules it like a channel process (a mailbox it drains, counted while busy), so the
    harness's waits see that work through.

    Attributes:
        presence: the instance whose callbacks run on this node.
        tracker: the node's tracker.
        history: the last diffs broadcast, as (virtual ns, topic, payload), for failure output.
    """

    inline = True  # every callback is a plain function (see Presence.__init_subclass__)

    def __init__(self, cls: type[Presence], runtime: Runtime) -> None:
        self.runtime = runtime
        self.presence = cls()
        self.name = f"{cls.__name__} presence"
        self.mailbox: deque[Diff] = deque()
        self.scheduled = False
        self._doing: tuple[str, str] | None = None  # (callback, topic): formatted only when asked
        self.history: deque[tuple[int, str, dict[str, Presences]]] = deque(maxlen=HISTORY)
        self._handles_metas = type(self.presence).handle_metas is not Presence.handle_metas
        self._fetches = type(self.presence).fetch is not Presence.fetch
        self.state = self.presence.init() if self._handles_metas else None  # Phoenix: only for handle_metas
        """The `handle_metas` state on this node."""
        self._topics: dict[str, dict[str, list[Any]]] = {}
        self.tracker = Tracker(
            runtime,
            cls.name,
            self._diff,
            broadcast_period=cls.broadcast_period,
            max_silent_periods=cls.max_silent_periods,
            down_period=float(cls.down_period or 0),
            permdown_period=cls.permdown_period,
            clock_sample_periods=cls.clock_sample_periods,
        )
        self.socket = SimpleNamespace(topic=self.tracker.topic)  # what the runtime's NotIdle message names

    def __repr__(self) -> str:
        return f"<PresenceServer {self.name} on {self.tracker.node!r} queued={len(self.mailbox)}>"

    @property
    def doing(self) -> str | None:
        """What it is running now, as `fetch('room:1', ...)`, for NotIdle and error messages."""
        return None if self._doing is None else f"{self._doing[0]}({self._doing[1]!r}, ...)"

    def list(self, topic: str) -> Presences:
        return self.fetch(topic, group(self.tracker.entries(topic)))

    def fetch(self, topic: str, presences: Presences) -> Presences:
        """The presence's `fetch`, checked: what it returns is listed and sent to clients as it is."""
        if not self._fetches:
            return presences
        fetched = self.presence.fetch(topic, presences)
        # Keys it leaves out are hidden, as in Phoenix; a presence without its metas is unreadable.
        bad = [key for key, value in fetched.items() if not _is_presence(value)] if isinstance(fetched, dict) else [""]
        if bad:
            shown = repr(fetched.get(bad[0]) if isinstance(fetched, dict) else fetched)
            raise PresenceError(
                f"{type(self.presence).__name__}.fetch({topic!r}, ...) must return {{key: {{'metas': [...], ...}}}}, "
                f"keeping each presence's 'metas' (phoenix.js reads them); for {bad[0]!r} it returned {shown[:200]}"
            )
        return fetched

    def _diff(self, diff: Diff) -> None:
        if self.runtime.stopped is not None:
            return  # the node is gone, and this server with it
        # Queued as a channel's message is: counted until handled, so waits see it through.
        self.runtime._enqueue(cast("ChannelProcess", self), diff)

    async def drain(self, deadline: float | None = None) -> None:
        runtime = self.runtime
        try:
            while self.mailbox:
                diff = self.mailbox.popleft()
                try:
                    self._dispatch(diff)
                except Exception as exc:
                    logger.error("%s: a presence_diff was not sent (%s raised)", self.name, self.doing, exc_info=exc)
                finally:
                    self._doing = None
                    runtime._inflight -= 1
                    if not runtime._inflight and runtime._idle is not None:
                        runtime._idle.set()
                if deadline is None:  # in a task of its own: let a deadline outside cancel it
                    await anyio.lowlevel.checkpoint()
        finally:
            self.scheduled = False

    def _dispatch(self, diff: Diff) -> None:
        runtime, fetches = self.runtime, self._fetches
        if runtime.stopped is not None:
            return  # the node stopped since the diff was queued: its presence died with it
        # As Phoenix's presence process: every topic's diff fetched, then broadcast, then handle_metas.
        payloads: list[tuple[str, dict[str, Presences]]] = []
        for topic, (joins, leaves) in diff.items():
            if fetches:
                self._doing = ("fetch", topic)
                # fetch is user code: it gets copies, and what it adds is checked on the way out.
                payloads.append(
                    (topic, {"joins": self.fetch(topic, group(joins)), "leaves": self.fetch(topic, group(leaves))})
                )
            else:
                # The metas are never changed in place, and receivers copy what they keep.
                payloads.append((topic, {"joins": group(joins, copy=False), "leaves": group(leaves, copy=False)}))
        self._doing = None
        now = runtime.clock.now_ns()
        for topic, payload in payloads:
            self.history.append((now, topic, payload))
            if fetches:
                runtime.local_broadcast(topic, "presence_diff", payload)
            else:  # made here of checked metas and string keys: nothing to check again
                runtime.pubsub.local_broadcast(new_broadcast(topic, "presence_diff", payload, now, runtime.pubsub.node))
        if self._handles_metas:
            for topic, payload in payloads:
                self._doing = ("handle_metas", topic)
                # User code, after the broadcast: a copy, or what it changes would reach the channels.
                mine = copy_wire(payload)
                presences = _merge(self._topics, topic, mine)
                self.state = self.presence.handle_metas(topic, mine, presences, self.state)

    def describe_history(self, topic: str | None = None) -> str:
        """The diffs broadcast on this node (on `topic`), one per line with their virtual time."""
        lines = []
        for at_ns, on, payload in self.history:
            if topic is None or on == topic:
                joins = {k: len(p.get("metas", ())) for k, p in payload["joins"].items()}
                leaves = {k: len(p.get("metas", ())) for k, p in payload["leaves"].items()}
                lines.append(f"  - t={format_ns(at_ns)} {on!r} joins {joins or '{}'} leaves {leaves or '{}'}")
        return "\n".join(lines) or "  (none)"


def _is_presence(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("metas"), list)


def _merge(topics: dict[str, dict[str, list[Any]]], topic: str, diff: dict[str, Presences]) -> dict[str, list[Any]]:
    """Phoenix's `merge_diff`: the metas per key after `diff`, as `handle_metas` receives them."""
    presences = topics.setdefault(topic, {})
    for key, presence in diff["joins"].items():
        metas = presences.setdefault(key, [])
        metas += [meta for meta in presence.get("metas", []) if meta not in metas]
    for key, presence in diff["leaves"].items():
        gone = presence.get("metas", [])
        remaining = [meta for meta in presences.get(key, []) if meta not in gone]
        if remaining:
            presences[key] = remaining
        else:
            presences.pop(key, None)
    if not presences:
        del topics[topic]
    return {key: list(metas) for key, metas in presences.items()}
