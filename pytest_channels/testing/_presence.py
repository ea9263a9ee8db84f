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

import pytest_channels.testing._nodes as _nodes

from .._runtime._presence import Presence, Presences, PresenceServer
from ._format import describe_tracker, presence_mismatch

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
    return bool(set(keys(expected)) == set(presences))


def keys(expected: Any) -> Iterable[Any]:
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
