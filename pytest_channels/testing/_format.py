"""Failure output: what was expected, everything received (with virtual times), where to look."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._runtime._clock import NS_PER_SECOND, Timer, format_ns
from .._runtime._messages import Message

if TYPE_CHECKING:
    from ._cluster import Cluster

SHOWN = 20


def describe_expected(kind: str, fields: Sequence[tuple[str, Any]]) -> str:
    shown = ", ".join(f"{name}={value!r}" for name, value in fields)
    return f"{kind}({shown})"


def _bullets(messages: Sequence[Message], label: Callable[[Message], str]) -> list[str]:
    lines = [f"  - {message!r}{label(message)}" for message in messages[:SHOWN]]
    if len(messages) > SHOWN:
        lines.append(f"  ... and {len(messages) - SHOWN} more")
    return lines


def explain_missing(
    *,
    call: str,
    expected: str,
    start_ns: int,
    end_ns: int,
    mailbox: Sequence[Message],
    consumed: Sequence[Message],
    score: Callable[[Message], int],
    differences: Callable[[Message], list[str] | None],
    timers: Sequence[Timer],
    close: str = "same event",
    notes: Sequence[str] = (),
) -> str:
    """The message for an `assert_*` that found nothing, with hints ranked by how near they are.

    `differences(message)` says what keeps a near message (the same event, or the same ref)
    from matching, or None for one that is not near. The nearest mismatch comes first, and
    is the hint; a timer due after the deadline is the hint only when nothing near arrived.
    """
    waited_ms = (end_ns - start_ns) / NS_PER_SECOND * 1000
    lines = [
        f"{call}: nothing matched within {waited_ms:g} ms of virtual time "
        f"(t={format_ns(start_ns)} to t={format_ns(end_ns)}).",
        f"Expected: {expected}",
    ]
    near = {id(m): d for m in mailbox if (d := differences(m)) is not None}

    def rank(message: Message) -> tuple[int, int]:
        found = near.get(id(message))
        return (0, len(found)) if found is not None else (1, -score(message))

    ranked = sorted(mailbox, key=rank)  # sorted() is stable: ties keep arrival order
    if ranked:
        lines.append(f"The mailbox holds {len(ranked)} unconsumed message(s), closest first:")
        lines += _bullets(ranked, lambda m: f"  <- {close}" if id(m) in near else "")
    else:
        lines.append("The mailbox is empty.")
    if consumed:
        lines.append(f"Consumed earlier by other assertions ({len(consumed)}):")
        lines += _bullets(consumed, lambda m: "")
    if timers:
        lines.append("Timers still pending:")
        lines += [f"  - at {format_ns(t.deadline_ns)}: {t.description}" for t in timers[:SHOWN]]
    nearest = near.get(id(ranked[0])) if ranked else None
    if nearest is not None:
        what = "; ".join(nearest) if nearest else "nothing this harness can name (a matcher said no)"
        lines.append(f"Hint: the nearest message ({close}) differs in {what}.")
    else:
        later = [t for t in timers if t.deadline_ns > end_ns]
        if later:
            lines.append(
                f"Hint: a timer fires at {format_ns(later[0].deadline_ns)}, after the deadline. "
                "Pass a longer timeout= or call channels.advance(...) first."
            )
    lines += notes
    return "\n".join(lines)


def field_differences(expected: Sequence[tuple[str, Any]], actual: Any) -> list[str]:
    """What differs between the expected fields and a message's, each said as `name: ...`."""
    found = []
    for name, value in expected:
        got = getattr(actual, name, None)
        if value == got:
            continue
        if name == "payload":
            detail = _payload_difference(value, got) or f"expected {value!r}, got {got!r}"
            found.append(f"payload ({detail})")
        else:
            found.append(f"{name} (expected {value!r}, got {got!r})")
    return found


def _payload_difference(expected: Any, actual: Any) -> str:
    if not (isinstance(expected, dict) and isinstance(actual, dict)):
        return ""
    parts = [f"missing key {key!r}" for key in expected if key not in actual]
    parts += [f"unexpected key {key!r}" for key in actual if key not in expected]
    parts += [
        f"{key!r}: expected {value!r}, got {actual[key]!r}"
        for key, value in expected.items()
        if key in actual and not value == actual[key]  # noqa: SIM201 -- a matcher may define only __eq__
    ]
    return "; ".join(parts)


def explain_unexpected(*, call: str, expected: str, found: Message, at_ns: int) -> str:
    """The message for a `refute_*` that found a match."""
    return f"{call}: unexpectedly received {found!r} (checked at t={format_ns(at_ns)}), which matches {expected}."


def left_a_task(task: object) -> str:
    """The teardown problem of a task that channel code (or an async test itself) started and left running."""
    return (
        f"channel code left a task running: {task!r}. Await it or cancel it before the channel stops "
        "(in terminate), or before the test ends"
    )


def cluster_note(cluster: Cluster | None) -> str | None:
    """What a failing test with a cluster must print to be repeated: the network's seed, and what it lost."""
    if cluster is None:
        return None
    stats = cluster.network.statistics()
    lost = cluster.network.lost()
    lines = [
        f"cluster seed {cluster.seed}: repeat this run with channels.cluster(..., seed={cluster.seed})",
        f"nodes: {', '.join(cluster.names) or 'none running'}; network: {cluster.network.describe()}; "
        f"packets: {stats.sent} sent, {stats.delivered} delivered, {stats.lost} lost, {stats.in_flight} in flight",
        *(f"  - lost: {packet!r}" for packet in lost[: SHOWN // 2]),
    ]
    if len(lost) > SHOWN // 2:
        lines.append(f"  ... and {len(lost) - SHOWN // 2} more lost")
    return "\n".join(lines)


def teardown_problems(problems: Sequence[str]) -> str:
    """The failure of a test whose teardown found problems (leftovers, crashes, forgotten awaits)."""
    listing = "\n".join(f"  - {p}" for p in problems)
    return f"channels teardown found problems:\n{listing}"
