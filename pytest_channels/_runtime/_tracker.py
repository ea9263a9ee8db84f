"""Phoenix.Tracker: who is present on which topic, replicated to every node by heartbeats and deltas.

Each node runs one tracker per presence module. It owns the presences tracked on it, and only
it changes them; every change bumps its clock and joins the delta that its next heartbeat (every
`broadcast_period`) carries to the other nodes, through the node's PubSub, so the network's
delays, drops and partitions apply to replication as they do to any broadcast. A receiver
applies a delta that starts at or before where its copy of the sender ends; on a gap (a lost
packet, a partition, a node it has just met) it asks the sender for a transfer of its whole
state at the next clock sample, and applies deltas again from there. A silent node still sends
an empty heartbeat every `max_silent_periods` periods. Nodes not heard from for `down_period`
are down (their presences leave, and come back if they are heard again); after `permdown_period`
their state is discarded. All of it runs on the runtime's clock, so in tests every period passes
in virtual time.

Phoenix replicates with a delta CRDT (causal contexts, clouds, delta generations) in which
nodes may also pass on each other's values. Here every node's entries travel only from that
node: simpler, and it converges the same way once the network lets each pair talk, which is
what a presence list needs (docs/presence.md lists the differences).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import logging
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._clock import Clock, Timer, to_ns
from ._errors import PresenceError
from ._messages import Broadcast
from ._payload import copy_wire

if TYPE_CHECKING:
    from ._process import ChannelProcess
    from ._runtime import Runtime

logger = logging.getLogger("pytest_channels")

Diff = dict[str, tuple[list["Entry"], list["Entry"]]]
"""Joins and leaves by topic, as Phoenix's tracker hands them to `handle_diff`."""


class Entry:
    """One tracked presence: a process on a topic under a key, with its meta (which holds `phx_ref`)."""

    __slots__ = ("key", "meta", "owner", "pid", "ref", "topic")

    def __init__(self, ref: str, pid: ChannelProcess | str, topic: str, key: str, meta: dict[str, Any], owner: str):
        self.ref, self.pid, self.topic, self.key, self.meta, self.owner = ref, pid, topic, key, meta, owner

    def __repr__(self) -> str:
        return f"Entry({self.topic!r}, {self.key!r}, {self.meta!r}, on {self.owner!r})"

    def wire(self, node: str) -> list[Any]:
        # Another node cannot reach the process: it gets a label, as a remote pid prints.
        pid = self.pid if isinstance(self.pid, str) else f"{node}:{self.pid.name}:{self.pid.socket.join_ref}"
        return [self.ref, pid, self.topic, self.key, self.meta]


class Replica:
    """What this node knows of another node's tracker (Phoenix's `Replica`, with that node's entries)."""

    __slots__ = ("clock", "entries", "last_heard_ns", "name", "needs_sync", "status", "vsn")

    def __init__(self, name: str, vsn: int, now_ns: int) -> None:
        self.name, self.vsn = name, vsn
        self.status = "up"
        self.last_heard_ns = now_ns
        self.clock = 0  # the sender's clock that `entries` reflects
        self.entries: dict[str, Entry] = {}
        self.needs_sync = False

    def __repr__(self) -> str:
        return f"<Replica {self.name!r} vsn={self.vsn} {self.status} clock={self.clock} entries={len(self.entries)}>"


# Tracker versions are drawn per clock, so a test's refs repeat from run to run.
_starts: weakref.WeakKeyDictionary[Clock, itertools.count[int]] = weakref.WeakKeyDictionary()


class Tracker:
    """One node's tracker for one presence module. Made by `Presence`; not public.

    Args:
        runtime: the node.
        name: the presence module's name, the same on every node (replication topic `phx_presence:<name>`).
        report: called with every diff, as Phoenix calls the tracker's `handle_diff`.
        broadcast_period, max_silent_periods, down_period, permdown_period, clock_sample_periods:
            seconds and counts, with Phoenix's meaning and defaults (see `Presence`).
    """

    def __init__(
        self,
        runtime: Runtime,
        name: str,
        report: Callable[[Diff], None],
        *,
        broadcast_period: float,
        max_silent_periods: int,
        down_period: float,
        permdown_period: float,
        clock_sample_periods: int,
    ) -> None:
        self.runtime = runtime
        self.name = name
        self.topic = f"phx_presence:{name}"
        self._report = report
        self.broadcast_period_ns = to_ns(broadcast_period, name="broadcast_period")
        self.down_period_ns = to_ns(down_period, name="down_period")
        self.permdown_period_ns = to_ns(permdown_period, name="permdown_period")
        self.max_silent_periods = max_silent_periods
        self.clock_sample_periods = clock_sample_periods
        clock = runtime.clock
        self.vsn = clock.now_ns() * 1000 + next(_starts.setdefault(clock, itertools.count(1))) % 1000
        self._ref_seed = hashlib.blake2b(f"{self.node}/{self.name}/{self.vsn}".encode(), digest_size=6).digest()
        self._refs = itertools.count(1)
        self.clock = 0
        self.local: dict[str, Entry] = {}
        self.by_pid: dict[ChannelProcess, dict[tuple[str, str], Entry]] = {}
        self.replicas: dict[str, Replica] = {}
        self.visible: dict[str, dict[str, Entry]] = {}
        """Entries by topic, of this node and of the nodes up: what `list` shows."""
        self._delta_start = 0
        self._delta_joins: dict[str, Entry] = {}
        self._delta_leaves: list[str] = []
        self._silent = max_silent_periods  # the first heartbeat goes out at once: others learn of us
        self._samples = clock_sample_periods
        self.stopped = False
        self.events: list[tuple[int, str, str]] = []
        """(virtual ns, "up" | "down" | "permdown", node): what this tracker saw of the others."""
        runtime.pubsub.subscribe(self.topic, self)
        self._schedule(0)

    def __repr__(self) -> str:
        return (
            f"<Tracker {self.name!r} on {self.node!r} clock={self.clock} local={len(self.local)} "
            f"replicas={list(self.replicas.values())}>"
        )

    @property
    def node(self) -> str:
        """This node's name, read when used: the test's runtime is renamed when it becomes a cluster's node."""
        return self.runtime.pubsub.node_name

    # -- local changes (Phoenix.Tracker.track/untrack/update) ------------------------------------

    def _new_ref(self) -> str:
        raw = self.runtime.clock.now_ns().to_bytes(8, "big") + self._ref_seed + next(self._refs).to_bytes(4, "big")
        return base64.urlsafe_b64encode(raw).decode()

    def find(self, pid: ChannelProcess, topic: str, key: str) -> Entry | None:
        tracked = self.by_pid.get(pid)
        return None if tracked is None else tracked.get((topic, key))

    def track(self, pid: ChannelProcess, topic: str, key: str, meta: dict[str, Any]) -> str:
        if self.find(pid, topic, key) is not None:
            raise PresenceError(
                f"{pid.name} already tracks key {key!r} on {topic!r} in {self.name} (Phoenix: already_tracked); "
                "change its meta with update(...), or track several metas for one key from several channels"
            )
        ref = self._new_ref()
        entry = self._add(pid, topic, key, {**meta, "phx_ref": ref}, ref)
        if len(self.by_pid[pid]) == 1:
            pid.on_exit(self.untrack_all)
        self._report({topic: ([entry], [])})
        return ref

    def untrack(self, pid: ChannelProcess, topic: str, key: str) -> None:
        entry = self.find(pid, topic, key)
        if entry is None:
            raise PresenceError(
                f"{pid.name} tracks nothing under key {key!r} on {topic!r} in {self.name}, so there is nothing to "
                f"untrack (it tracks {self._tracked_by(pid)}). Phoenix returns :ok here; a mistyped key would go unseen"
            )
        self._remove(entry)
        self._report({topic: ([], [entry])})

    def untrack_all(self, pid: ChannelProcess) -> None:
        """Drop every presence of `pid`: it exited (Phoenix's linked tracker sees its EXIT)."""
        entries = list(self.by_pid.get(pid, {}).values())
        if not entries or self.stopped:
            return
        diff: Diff = {}
        for entry in entries:
            self._remove(entry)
            diff.setdefault(entry.topic, ([], []))[1].append(entry)
        self._report(diff)

    def update(self, pid: ChannelProcess, topic: str, key: str, meta: Callable[[dict[str, Any]], Any]) -> str:
        previous = self.find(pid, topic, key)
        if previous is None:
            raise PresenceError(
                f"{pid.name} tracks nothing under key {key!r} on {topic!r} in {self.name}, so there is nothing to "
                f"update (Phoenix: nopresence; it tracks {self._tracked_by(pid)}). Track it first"
            )
        new_meta = meta(copy_wire(previous.meta))  # a copy: the old meta is still listed, and leaves as it was
        ref = self._new_ref()
        self._remove(previous)
        entry = self._add(pid, topic, key, {**new_meta, "phx_ref": ref, "phx_ref_prev": previous.ref}, ref)
        self._report({topic: ([entry], [previous])})
        return ref

    def _tracked_by(self, pid: ChannelProcess) -> str:
        tracked = self.by_pid.get(pid)
        return ", ".join(f"{k!r} on {t!r}" for t, k in tracked) if tracked else "nothing"

    def _add(self, pid: ChannelProcess, topic: str, key: str, meta: dict[str, Any], ref: str) -> Entry:
        entry = Entry(ref, pid, topic, key, meta, self.node)
        self.local[ref] = entry
        self.by_pid.setdefault(pid, {})[(topic, key)] = entry
        self.visible.setdefault(topic, {})[ref] = entry
        self.clock += 1
        self._delta_joins[ref] = entry
        return entry

    def _remove(self, entry: Entry) -> None:
        del self.local[entry.ref]
        assert not isinstance(entry.pid, str)
        tracked = self.by_pid[entry.pid]
        del tracked[(entry.topic, entry.key)]
        if not tracked:
            del self.by_pid[entry.pid]
        self._hide(entry)
        self.clock += 1
        self._delta_joins.pop(entry.ref, None)
        # Even a ref that joined within this period: a node whose copy came from a transfer in
        # the middle of it has the entry, and the delta must take it away there too.
        self._delta_leaves.append(entry.ref)

    def _show(self, entry: Entry) -> None:
        self.visible.setdefault(entry.topic, {})[entry.ref] = entry

    def _hide(self, entry: Entry) -> None:
        topic = self.visible.get(entry.topic)
        if topic is not None:
            topic.pop(entry.ref, None)
            if not topic:
                del self.visible[entry.topic]

    # -- reading ---------------------------------------------------------------------------------

    def entries(self, topic: str) -> list[Entry]:
        """The presences on `topic` of this node and of every node up, oldest first."""
        return list(self.visible.get(topic, {}).values())

    # -- the heartbeat -----------------------------------------------------------------------------

    def _schedule(self, delay_ns: int) -> None:
        clock = self.runtime.clock
        self._timer: Timer = clock.call_at(
            clock.now_ns() + delay_ns, self._tick, f"presence {self.name} heartbeat on {self.node}"
        )

    def stop(self) -> None:
        """Stop heartbeating and listening: the other nodes see this one go down after `down_period`."""
        if self.stopped:
            return
        self.stopped = True
        self._timer.cancel()
        self.runtime.pubsub.unsubscribe(self.topic, self)

    def graceful_permdown(self) -> None:
        """Tell the other nodes to drop this node's presences now, then stop (Phoenix's `graceful_permdown`)."""
        if not self.stopped and self.runtime.stopped is None:
            self._send({"type": "permdown"})
        self.stop()

    def _tick(self) -> None:
        if self.runtime.stopped is not None:
            self.stop()  # a stopped node's tracker died with it: it sends nothing more
            return
        if self.stopped:
            return
        # Phoenix's order: send the delta (or a heartbeat), ask for transfers, detect downs.
        if self._delta_joins or self._delta_leaves:
            self._send(
                {
                    "type": "heartbeat",
                    "clock": self.clock,
                    "delta": {
                        "start": self._delta_start,
                        "joins": [e.wire(self.node) for e in self._delta_joins.values()],
                        "leaves": self._delta_leaves,
                    },
                }
            )
            self._delta_start, self._delta_joins, self._delta_leaves = self.clock, {}, []
            self._silent = 0
        elif self._silent >= self.max_silent_periods:
            self._send({"type": "heartbeat", "clock": self.clock, "delta": None})
            self._silent = 0
        else:
            self._silent += 1
        self._samples -= 1
        if self._samples <= 0:
            self._samples = self.clock_sample_periods
            for replica in self.replicas.values():
                if replica.needs_sync and replica.status == "up":
                    self._send({"type": "transfer_req", "to": replica.name, "known": replica.clock})
        self._detect_downs()
        self._schedule(self.broadcast_period_ns)

    def _send(self, message: dict[str, Any]) -> None:
        message["from"] = [self.node, self.vsn]
        failure = self.runtime.broadcast(self.topic, "tracker", message, from_=self)
        if failure is not None:  # the broker is away: the next heartbeat or transfer makes up for it
            logger.debug("presence %s on %s could not send %s: %s", self.name, self.node, message["type"], failure)

    def _detect_downs(self) -> None:
        now = self.runtime.clock.now_ns()
        for replica in list(self.replicas.values()):
            silent_for = now - replica.last_heard_ns
            if silent_for > self.permdown_period_ns:
                self._permdown(replica)
            elif silent_for > self.down_period_ns and replica.status == "up":
                self._down(replica)

    def _event(self, what: str, replica: Replica) -> None:
        self.events.append((self.runtime.clock.now_ns(), what, replica.name))
        logger.debug("presence %s on %s: replica %s %s", self.name, self.node, replica.name, what)

    def _down(self, replica: Replica) -> None:
        replica.status = "down"
        self._event("down", replica)
        self._report_entries([], list(replica.entries.values()))

    def _up(self, replica: Replica) -> None:
        replica.status = "up"
        self._event("up", replica)
        self._report_entries(list(replica.entries.values()), [])

    def _permdown(self, replica: Replica) -> None:
        if replica.status == "up":
            self._down(replica)
        self._event("permdown", replica)
        del self.replicas[replica.name]

    def _report_entries(self, joins: list[Entry], leaves: list[Entry]) -> None:
        diff: Diff = {}
        for entry in joins:
            self._show(entry)
            diff.setdefault(entry.topic, ([], []))[0].append(entry)
        for entry in leaves:
            self._hide(entry)
            diff.setdefault(entry.topic, ([], []))[1].append(entry)
        if diff:
            self._report(diff)

    # -- what the other nodes send -------------------------------------------------------------------

    def receive_broadcast(self, broadcast: Broadcast) -> None:
        message = broadcast.payload
        if self.stopped or not isinstance(message, dict) or broadcast.event != "tracker":
            return
        try:  # all of it read before anything changes: a malformed message changes nothing
            name, vsn = message["from"]
            kind = message["type"]
            if name == self.node or message.get("to", self.node) != self.node:
                return
            clock = int(message.get("clock", 0))
            delta = message.get("delta")
            if kind == "heartbeat" and delta is not None:
                start = int(delta["start"])
                joins = [self._entry(value, name) for value in delta["joins"]]
                leaves = [str(ref) for ref in delta["leaves"]]
            values = [self._entry(value, name) for value in message["values"]] if kind == "transfer_ack" else []
        except (KeyError, TypeError, ValueError):
            logger.warning("presence %s on %s ignored a malformed message: %r", self.name, self.node, message)
            return
        if kind == "permdown":
            replica = self.replicas.get(name)
            if replica is not None and replica.vsn == vsn:
                self._permdown(replica)
            return
        replica = self._heard(name, vsn)
        if kind == "heartbeat":
            if delta is not None and start <= replica.clock:
                if clock > replica.clock:  # else: nothing this node does not have yet
                    self._apply(replica, clock, joins, leaves)
            elif clock > replica.clock:
                replica.needs_sync = True  # a gap: a delta was lost, or this node is new to the sender's state
        elif kind == "transfer_req":
            node = self.node
            state = [e.wire(node) for e in self.local.values()]
            self._send({"type": "transfer_ack", "to": name, "clock": self.clock, "values": state})
        elif kind == "transfer_ack":
            self._transfer(replica, clock, values)

    def _heard(self, name: str, vsn: int) -> Replica:
        """Phoenix's `put_heartbeat`: a node heard from is up; a new version means the old one restarted."""
        now = self.runtime.clock.now_ns()
        replica = self.replicas.get(name)
        if replica is not None and replica.vsn != vsn:
            self._permdown(replica)
            replica = None
        if replica is None:
            replica = self.replicas[name] = Replica(name, vsn, now)
            self._event("up", replica)
        elif replica.status == "down":
            self._up(replica)
        replica.last_heard_ns = now
        return replica

    def _apply(self, replica: Replica, clock: int, joins: list[Entry], leaves: list[str]) -> None:
        """A delta from at or before this node's copy of the sender to past it.

        The delta holds every entry added since its start that is still there, and every ref
        removed since (refs are never reused), so it brings a copy taken anywhere in its range,
        such as a transfer that arrived in the middle of the sender's period, to its end.
        """
        left = [e for ref in leaves if (e := replica.entries.pop(ref, None)) is not None]
        joins = [entry for entry in joins if entry.ref not in replica.entries]
        for entry in joins:
            replica.entries[entry.ref] = entry
        replica.clock = clock
        replica.needs_sync = False  # caught up: a transfer asked for earlier would bring nothing new
        self._report_entries(joins, left)

    def _transfer(self, replica: Replica, clock: int, values: list[Entry]) -> None:
        if clock < replica.clock:
            return  # older than what this node applied since it asked
        received = {entry.ref: entry for entry in values}
        joins = [entry for ref, entry in received.items() if ref not in replica.entries]
        leaves = [entry for ref, entry in replica.entries.items() if ref not in received]
        kept = {ref: replica.entries.get(ref, entry) for ref, entry in received.items()}
        replica.entries, replica.clock, replica.needs_sync = kept, clock, False
        self._report_entries(joins, leaves)

    @staticmethod
    def _entry(value: Any, owner: str) -> Entry:
        ref, pid, topic, key, meta = value
        if not (isinstance(ref, str) and isinstance(topic, str) and isinstance(key, str) and isinstance(meta, dict)):
            raise TypeError(f"not a presence entry: {value!r}")
        return Entry(ref, str(pid), topic, key, meta, owner)
