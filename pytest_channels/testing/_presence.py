"""The harness's presence helpers: the list a node sees, and a wait until it is the expected one.

`assert_presence` compares keys, or keys and metas (or whole presences, as `fetch` extends
them: `{"metas": [...], "name": ...}`); metas are compared without the
`phx_ref` / `phx_ref_prev` that the tracker adds (unless the expected meta names them), so
tests say who is there with what, not which refs the run happened to draw. When the list
never matches, the failure shows the list, every diff broadcast on that node with its virtual
time, what the node's tracker knows of the others, and the network's conditions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._runtime._clock import format_ns
from .._runtime._presence import Presence, Presences, PresenceServer
from . import _nodes

if TYPE_CHECKING:
    from ._client_presence import ClientPresence
    from ._core import Core

REFS = ("phx_ref", "phx_ref_prev")


def server_on(core: Core, presence: type[Presence], node: str | None, action: str) -> PresenceServer:
    """The presence's server on `node` (the test's runtime by default), started if it was not."""
    if not (isinstance(presence, type) and issubclass(presence, Presence)):
        raise TypeError(f"{action} needs your Presence subclass first, as in {action}(RoomPresence, 'room:1', ...)")
    return presence.start(_nodes.runtime_for(core, node, action))


def presence_list(core: Core, presence: type[Presence], topic: str, node: str | None) -> Presences:
    """`presence.list(topic)` as `node` sees it now (nothing runs: settle or wait first)."""
    if not isinstance(topic, str):
        raise TypeError(f"presence_list needs a str topic (got {topic!r})")
    return server_on(core, presence, node, "presence_list").list(topic)


def matches(expected: Any, presences: Mapping[str, Any]) -> bool:
    """Whether a list of presences (server's or client's) is the `expected` one (see `assert_presence`)."""
    if isinstance(expected, Mapping):
        if set(expected) != set(presences):
            return False
        return all(_same_presence(expected[key], presences[key]) for key in expected)
    return bool(set(_keys(expected)) == set(presences))


def _keys(expected: Any) -> Iterable[Any]:
    if isinstance(expected, str) or not isinstance(expected, Iterable):
        raise TypeError(
            "the expected presences are keys, as in {'alice', 'bob'}, or keys and metas, as in "
            f"{{'alice': [{{'status': 'away'}}]}} (got {expected!r})"
        )
    return expected


def _same_presence(expected: Any, presence: Any) -> bool:
    metas = presence.get("metas", []) if isinstance(presence, Mapping) else None
    if isinstance(expected, list) and metas is not None:
        return len(expected) == len(metas) and all(_same_meta(e, m) for e, m in zip(expected, metas, strict=True))
    if isinstance(expected, Mapping) and isinstance(expected.get("metas"), list) and metas is not None:
        # A whole presence, as fetch extends it: its metas without refs, the rest as it is.
        def rest(whole: Mapping[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in whole.items() if k != "metas"}

        return _same_presence(expected["metas"], presence) and rest(expected) == rest(presence)
    return bool(expected == presence)


def _same_meta(expected: Any, meta: Any) -> bool:
    if isinstance(expected, Mapping) and isinstance(meta, Mapping):
        meta = {k: v for k, v in meta.items() if k not in REFS or k in expected}
    return bool(expected == meta)


def describe_presences(presences: Mapping[str, Any]) -> str:
    if not presences:
        return "  (nobody)"
    lines = []
    for key, presence in presences.items():
        metas = presence.get("metas") if isinstance(presence, Mapping) else presence
        lines.append(f"  - {key!r}: {metas!r}")
        extra = {k: v for k, v in presence.items() if k != "metas"} if isinstance(presence, Mapping) else {}
        if extra:
            lines[-1] += f" with {extra!r}"
    return "\n".join(lines)


def describe_expected(expected: Any) -> str:
    if isinstance(expected, Mapping):
        return describe_presences({k: {"metas": v} if isinstance(v, list) else v for k, v in expected.items()})
    return "  keys " + repr(sorted(_keys(expected), key=str))


def describe_tracker(server: PresenceServer) -> str:
    tracker = server.tracker
    lines = [f"Its tracker ({tracker.node!r}, clock {tracker.clock}) knows of:"]
    for replica in tracker.replicas.values():
        lines.append(
            f"  - {replica.name!r}: {replica.status}, last heard t={format_ns(replica.last_heard_ns)}, "
            f"{len(replica.entries)} presences at its clock {replica.clock}"
            + (", waiting for a transfer" if replica.needs_sync else "")
        )
    if not tracker.replicas:
        lines.append("  no other node")
    if tracker.events:
        lines.append(
            "Replica events: " + ", ".join(f"t={format_ns(at)} {name} {what}" for at, what, name in tracker.events)
        )
    return "\n".join(lines)


async def assert_presence(
    core: Core, source: type[Presence] | ClientPresence, args: tuple[Any, ...], node: str | None, timeout: float | None
) -> Presences:
    """Wait in virtual time until the list is `expected`; returns it. See `ChannelCase.assert_presence`."""
    __tracebackhide__ = True
    from ._client_presence import ClientPresence

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
            return [f"Diffs broadcast on {topic!r} there:\n{server.describe_history(topic)}", describe_tracker(server)]

    start = core.clock.now_ns()
    deadline = core._deadline(timeout, core.settings.assert_timeout)
    found: list[Presences] = []

    def done() -> bool:
        __tracebackhide__ = True
        current = listed()
        if matches(expected, current):
            found.append(current)
            return True
        core.raise_crashes()
        return False

    if await core.runtime.run_until(deadline, done):
        return found[0]
    lines = [
        f"assert_presence: {where} is not the expected one after {(deadline - start) / 1e9:g}s of virtual time "
        f"(t={format_ns(start)} to t={format_ns(deadline)}).",
        f"Expected:\n{describe_expected(expected)}",
        f"Listed at t={format_ns(core.clock.now_ns())}:\n{describe_presences(listed())}",
        *context(),
    ]
    if core.cluster is not None:
        lines.append(f"Network: {core.cluster.network.describe()}")
    raise AssertionError("\n".join(lines))
