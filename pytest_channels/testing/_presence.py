"""Presence in the harness: the JavaScript client's list, and the waits on what a node or a client lists.

`ClientPresence` is the JavaScript client's `Presence`: a list kept in sync from
`presence_state` and `presence_diff`. It follows `presence.js` rule for rule: a state replaces
the list (keys missing from it leave, metas are matched by `phx_ref`), a diff merges joins (new
metas after the current ones kept) then removes leaves, walking keys in JavaScript's object
order (integer keys first); diffs that arrive before the state of the current join are held
and applied after it, in order. `on_join`, `on_leave` and `on_sync` are called as phoenix.js
calls `onJoin`, `onLeave` and `onSync`.

`assert_presence` (see `ChannelCase.assert_presence`) compares metas without the `phx_ref` /
`phx_ref_prev` that the tracker adds, unless the expected meta names them, so tests say who is
there with what, not which refs the run happened to draw.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._runtime._clock import format_ns
from .._runtime._presence import Presence, Presences, PresenceServer
from ._client import ClientChannel
from ._format import describe_tracker, presence_mismatch

if TYPE_CHECKING:
    from ._core import Core

OnChange = Callable[[str, "dict[str, Any] | None", "dict[str, Any]"], None]


_MAX_INDEX = 2**32 - 2


def _index(key: str) -> int | None:
    """The key as a JavaScript array index ("0", "42"; not "01" or "-1"), or None."""
    if key.isascii() and key.isdigit() and (key == "0" or key[0] != "0"):
        number = int(key)
        if number <= _MAX_INDEX:
            return number
    return None


def js_keys(presences: dict[str, Any]) -> list[str]:
    """The keys in the order a JavaScript object holds them: integer keys ascending, then the rest
    in insertion order. presence.js walks its objects in this order, so user ids come sorted.

    Example:
        >>> js_keys({"10": 1, "bob": 2, "9": 3})
        ['9', '10', 'bob']
    """
    indexes = sorted((i, key) for key in presences if (i := _index(key)) is not None)
    if not indexes:
        return list(presences)
    return [key for _, key in indexes] + [key for key in presences if _index(key) is None]


def _refs(metas: list[dict[str, Any]]) -> list[Any]:
    return [meta.get("phx_ref") for meta in metas]


def sync_state(
    state: Presences, new_state: Presences, on_join: OnChange | None = None, on_leave: OnChange | None = None
) -> Presences:
    """presence.js's `Presence.syncState`: the list after a full `presence_state`.

    Example:
        >>> alice = {"metas": [{"phx_ref": "1"}]}
        >>> sorted(sync_state({"bob": {"metas": [{"phx_ref": "2"}]}}, {"alice": alice}))
        ['alice']
    """
    state = copy.deepcopy(state)
    new_state = copy.deepcopy(new_state)
    joins: Presences = {}
    leaves: Presences = {}
    for key in js_keys(state):
        if key not in new_state:
            leaves[key] = state[key]
    for key in js_keys(new_state):
        new_presence = new_state[key]
        current = state.get(key)
        if current is None:
            joins[key] = new_presence
            continue
        new_refs, current_refs = _refs(new_presence["metas"]), _refs(current["metas"])
        joined = [m for m in new_presence["metas"] if m.get("phx_ref") not in current_refs]
        left = [m for m in current["metas"] if m.get("phx_ref") not in new_refs]
        if joined:
            joins[key] = {**new_presence, "metas": joined}
        if left:
            leaves[key] = {**copy.deepcopy(current), "metas": left}
    return sync_diff(state, {"joins": joins, "leaves": leaves}, on_join, on_leave)


def sync_diff(
    state: Presences, diff: dict[str, Presences], on_join: OnChange | None = None, on_leave: OnChange | None = None
) -> Presences:
    """presence.js's `Presence.syncDiff`: the list after one `presence_diff`.

    Example:
        >>> state = {"alice": {"metas": [{"phx_ref": "1"}]}}
        >>> sync_diff(state, {"joins": {"alice": {"metas": [{"phx_ref": "2"}]}}, "leaves": {}})
        {'alice': {'metas': [{'phx_ref': '1'}, {'phx_ref': '2'}]}}
    """
    diff = copy.deepcopy(diff)
    joins, leaves = diff.get("joins", {}), diff.get("leaves", {})
    for key in js_keys(joins):
        new_presence = joins[key]
        current = state.get(key)
        state[key] = copy.deepcopy(new_presence)
        if current is not None:
            joined_refs = _refs(state[key]["metas"])
            kept = [m for m in current["metas"] if m.get("phx_ref") not in joined_refs]
            state[key]["metas"][:0] = kept
        if on_join is not None:
            on_join(key, current, new_presence)
    for key in js_keys(leaves):
        left_presence = leaves[key]
        current = state.get(key)
        if current is None:
            continue
        removed = _refs(left_presence["metas"])
        current["metas"] = [m for m in current["metas"] if m.get("phx_ref") not in removed]
        if on_leave is not None:
            on_leave(key, current, left_presence)
        if not current["metas"]:
            del state[key]
    return state


class ClientPresence:
    """A simulated client's synced presence list: phoenix.js's `new Presence(channel)`.

    Make it before the channel joins, as in JavaScript, so that it sees the first state.

    Args:
        channel: the simulated client's channel.
        state_event, diff_event: phoenix.js's `opts.events` (`presence_state`, `presence_diff`).

    Attributes:
        state: the synced list, `{key: {"metas": [...]}}`.
        pending_diffs: diffs held until the current join's state arrives.
        events: what it received, as (virtual seconds, event, payload), for failure output.
    """

    def __init__(
        self, channel: ClientChannel, *, state_event: str = "presence_state", diff_event: str = "presence_diff"
    ) -> None:
        if not isinstance(channel, ClientChannel):
            raise TypeError(
                f"ClientPresence needs a simulated client's channel, from client.channel(topic) (got {channel!r})"
            )
        self.channel = channel
        self.state: Presences = {}
        self.pending_diffs: list[dict[str, Presences]] = []
        self.join_ref: str | None = None
        self.events: list[tuple[float, str, Any]] = []
        self.on_join: OnChange | None = None
        self.on_leave: OnChange | None = None
        self.on_sync: Callable[[], None] | None = None
        channel.on(state_event, lambda payload: self._receive("presence_state", payload))
        channel.on(diff_event, lambda payload: self._receive("presence_diff", payload))

    def __repr__(self) -> str:
        return f"<ClientPresence {self.describe()} keys={sorted(self.state)}>"

    def describe(self) -> str:
        return f"the simulated client's presence on {self.channel.topic!r}"

    def list(self, by: Callable[[str, dict[str, Any]], Any] | None = None) -> list[Any]:
        """presence.js's `list(by)`: one entry per key, `by(key, presence)` or the presence itself,
        in JavaScript's key order (integer keys such as user ids first, ascending)."""
        state = self.state
        return [state[key] if by is None else by(key, state[key]) for key in js_keys(state)]

    @property
    def in_pending_sync_state(self) -> bool:
        """Whether diffs are held: no state yet for the channel's current join."""
        return self.join_ref is None or self.join_ref != self.channel.join_ref

    def _receive(self, event: str, payload: Any) -> None:
        # presence.js's two handlers: a state replaces the list, then the diffs held for it apply;
        # a diff before the state of the current join is held.
        self.events.append((self.channel.client._now(), event, payload))
        diffs = [payload]
        if event == "presence_state":
            self.join_ref = self.channel.join_ref
            self.state = sync_state(self.state, payload, self.on_join, self.on_leave)
            diffs, self.pending_diffs = self.pending_diffs, []
        elif self.in_pending_sync_state:
            self.pending_diffs.append(payload)
            return
        for diff in diffs:
            self.state = sync_diff(self.state, diff, self.on_join, self.on_leave)
        if self.on_sync is not None:
            self.on_sync()

    def describe_events(self) -> str:
        lines = []
        for at, event, payload in self.events:
            if event == "presence_state":
                lines.append(f"  - t={format_ns(round(at * 1e9))} presence_state keys {sorted(payload)}")
            else:
                joins, leaves = sorted(payload.get("joins", {})), sorted(payload.get("leaves", {}))
                lines.append(f"  - t={format_ns(round(at * 1e9))} presence_diff joins {joins} leaves {leaves}")
        if self.pending_diffs:
            lines.append(
                f"  ({len(self.pending_diffs)} diffs held, waiting for the state of join {self.channel.join_ref})"
            )
        return "\n".join(lines) or "  (none)"


# -- the harness's presence calls: what a node lists, and the wait until a list is the expected one --


REFS = ("phx_ref", "phx_ref_prev")


def server_on(core: Core, presence: type[Presence], node: str | None, action: str) -> PresenceServer:
    """The presence's server on `node` (the test's runtime by default), started if it was not."""
    if not (isinstance(presence, type) and issubclass(presence, Presence)):
        raise TypeError(f"{action} needs your Presence subclass first, as in {action}(RoomPresence, 'room:1', ...)")
    return presence.start(core.runtime_for(node, action))


def presence_list(core: Core, presence: type[Presence], topic: str, node: str | None) -> Presences:
    """`presence.list(topic)` as `node` sees it now (nothing runs: settle or wait first)."""
    if not isinstance(topic, str):
        raise TypeError(f"presence_list needs a str topic (got {topic!r})")
    return server_on(core, presence, node, "presence_list").list(topic)


def matches(expected: Any, presences: Mapping[str, Any]) -> bool:
    """Whether a list of presences (server's or client's) is the `expected` one (see `assert_presence`)."""
    if isinstance(expected, Mapping):
        return set(expected) == set(presences) and all(_same_presence(expected[k], presences[k]) for k in expected)
    if isinstance(expected, str) or not isinstance(expected, Iterable):
        raise TypeError(
            "the expected presences are keys, as in {'alice', 'bob'}, or keys and metas, as in "
            f"{{'alice': [{{'status': 'away'}}]}} (got {expected!r})"
        )
    return set(expected) == set(presences)


def _same_presence(expected: Any, presence: Any) -> bool:
    metas = presence.get("metas", []) if isinstance(presence, Mapping) else None
    if isinstance(expected, list) and metas is not None:
        return len(expected) == len(metas) and all(_same_meta(e, m) for e, m in zip(expected, metas, strict=True))
    if isinstance(expected, Mapping) and isinstance(expected.get("metas"), list) and metas is not None:
        # A whole presence, as fetch extends it: its metas without refs, the rest as it is.
        return _same_presence(expected["metas"], presence) and {**expected, "metas": 0} == {**presence, "metas": 0}
    return bool(expected == presence)


def _same_meta(expected: Any, meta: Any) -> bool:
    if isinstance(expected, Mapping) and isinstance(meta, Mapping):
        meta = {k: v for k, v in meta.items() if k not in REFS or k in expected}
    return bool(expected == meta)


async def assert_presence(
    core: Core, source: type[Presence] | ClientPresence, args: tuple[Any, ...], node: str | None, timeout: float | None
) -> Presences:
    """Wait in virtual time until the list is `expected`; returns it. See `ChannelCase.assert_presence`."""
    __tracebackhide__ = True
    if isinstance(source, ClientPresence):
        if len(args) != 1:
            raise TypeError("assert_presence(client_presence, expected) takes the expected presences only")
        if node is not None:
            raise TypeError("a simulated client's presence list has no node: drop node=")
        (expected,) = args
        matches(expected, {})  # a malformed expectation fails now, not after the wait

        def listed() -> Presences:
            return source.state

        where = f"as {source.describe()} has synced it"

        def context() -> list[str]:
            return [f"Events it received:\n{source.describe_events()}"]

    else:
        if not (isinstance(source, type) and issubclass(source, Presence)):
            raise TypeError(
                "assert_presence needs your Presence subclass first, as in assert_presence(RoomPresence, 'room:1', "
                f"{{'alice'}}), or a simulated client's ClientPresence (got {source!r})"
            )
        if len(args) != 2:
            raise TypeError("assert_presence(Presence, topic, expected) takes a topic and the expected presences")
        topic, expected = args
        matches(expected, {})
        server = server_on(core, source, node, "assert_presence")
        name = node or core.first_node or "the test's runtime"

        def listed() -> Presences:
            return server.list(topic)

        where = f"{source.__name__}.list({topic!r}) on {name}"

        def context() -> list[str]:
            return [
                f"Diffs broadcast on {topic!r} there:\n{server.describe_history(topic)}",
                describe_tracker(server.tracker),
            ]

    def look() -> Presences | None:
        current = listed()
        return current if matches(expected, current) else None

    def explain(start_ns: int, end_ns: int) -> str:
        network = core.cluster.network.describe() if core.cluster is not None else None
        return presence_mismatch(where, expected, start_ns, end_ns, core.clock.now_ns(), listed(), context(), network)

    return await core.wait_for(timeout, look, explain)
