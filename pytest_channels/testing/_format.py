"""Every failure text of the harness: what was expected, everything received (with virtual times), where to look.

The harness raises what these build and words none of its own
(tests/harness/test_failure_texts_live_in_one_module.py), so the texts stay alike.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from unittest.mock import ANY

from .._runtime._clock import NS_PER_SECOND, Timer, format_ns
from .._runtime._messages import Broadcast, Exit, Message, Push, Reply
from ._mailbox import Addressee
from ._matchers import same

if TYPE_CHECKING:
    from .._runtime._tracker import Tracker
    from ._cluster import Cluster

SHOWN = 20
"""How many messages, timers or exits a failure lists before it says how many more there are."""


def _window(start_ns: int, end_ns: int) -> str:
    waited_ms = (end_ns - start_ns) / NS_PER_SECOND * 1000
    return f"{waited_ms:g} ms of virtual time (t={format_ns(start_ns)} to t={format_ns(end_ns)})"


def listed(
    items: Sequence[Any], line: Callable[[Any], str] = repr, *, shown: int = SHOWN, indent: str = "  ", more: str = ""
) -> list[str]:
    """The first `shown` items as bullets, each as `line` writes it, then how many `more` there are."""
    bullets = [f"{indent}- {line(item)}" for item in items[:shown]]
    if len(items) > shown:
        bullets.append(f"{indent}... and {len(items) - shown} more{more}")
    return bullets


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
    lines = [
        f"{call}: nothing matched within {_window(start_ns, end_ns)}.",
        f"Expected: {expected}",
    ]
    near = {id(m): d for m in mailbox if (d := differences(m)) is not None}

    def rank(message: Message) -> tuple[int, int]:
        found = near.get(id(message))
        return (0, len(found)) if found is not None else (1, -score(message))

    ranked = sorted(mailbox, key=rank)  # sorted() is stable: ties keep arrival order
    if ranked:
        lines.append(f"The mailbox holds {len(ranked)} unconsumed message(s), closest first:")
        lines += listed(ranked, lambda m: f"{m!r}  <- {close}" if id(m) in near else repr(m))
    else:
        lines.append("The mailbox is empty.")
    if consumed:
        lines.append(f"Consumed earlier by other assertions ({len(consumed)}):")
        lines += listed(consumed)
    lines += pending_timers(timers)
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


_OTHER_KIND = {
    Push: "a Push, not a Broadcast: a channel sent it to the client, and assert_push takes it",
    Broadcast: "a Broadcast, not a Push: the test's own subscription received it, and assert_broadcast takes it",
}


def event_differences(
    kind: type[Message], event: Any, payload: Any, topic: str | None, to: Addressee | None = None
) -> Callable[[Message], list[str] | None]:
    """What keeps each message with the expected event from matching a Push or Broadcast (None: not near).

    With `to` (an assertion's `socket=`), a message that went to another client differs in that first.
    """
    expected = [("topic", topic)] if topic is not None else []
    expected.append(("payload", payload))

    def differences(message: Message) -> list[str] | None:
        if not isinstance(message, Push | Broadcast) or not same(event, message.event):
            return None
        found = [] if to is None or to.received(message) else [f"socket (it went to another client than {to!r})"]
        if not isinstance(message, kind):
            found.append(f"kind ({_OTHER_KIND[type(message)]})")
        return found + field_differences(expected, message)

    return differences


def reply_differences(ref: str, status: Any, payload: Any, topic: str | None) -> Callable[[Message], list[str] | None]:
    """What keeps each reply to `ref` from matching (None: a message that is no reply to it)."""
    expected = [("topic", topic)] if topic is not None else []
    expected += [("status", status), ("payload", payload)]

    def differences(message: Message) -> list[str] | None:
        if not isinstance(message, Reply) or message.ref != ref:
            return None
        return field_differences(expected, message)

    return differences


def describe_expected(kind: str, topic: str | None, **fields: Any) -> str:
    """What an assertion expected, as `Push(topic='room:1', event='new_msg', payload={...})`: what it was given."""
    shown = [
        (name, value)
        for name, value in fields.items()
        if (value is not ANY or name == "event") and not (name == "socket" and value is None)
    ]
    if topic is not None:
        shown.insert(0, ("topic", topic))
    return f"{kind}({', '.join(f'{name}={value!r}' for name, value in shown)})"


def scorer(kind: type[Message], event: Any, topic: str | None) -> Callable[[Message], int]:
    """How near each message is to the expected one, to list the nearest first: kind, then event, then topic."""

    def score(message: Message) -> int:
        same_kind = isinstance(message, kind)
        same_event = same(event, getattr(message, "event", None))
        return 4 * same_kind + 2 * same_event + (topic is not None and message.topic == topic)

    return score


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
        *listed(lost, lambda packet: f"lost: {packet!r}", shown=SHOWN // 2, more=" lost"),
    ]
    return "\n".join(lines)


def teardown_problems(problems: Sequence[str]) -> str:
    """The failure of a test whose teardown found problems (leftovers, crashes, forgotten awaits)."""
    listing = "\n".join(f"  - {p}" for p in problems)
    return f"channels teardown found problems:\n{listing}"


def pending_timers(timers: Sequence[Timer]) -> list[str]:
    """The timers still pending, soonest first, as failure lines (none if there are none)."""
    if not timers:
        return []
    return ["Timers still pending:", *(f"  - at {format_ns(t.deadline_ns)}: {t.description}" for t in timers[:SHOWN])]


def subscription_notes(subscriptions: Mapping[str, int]) -> list[str]:
    """A note for each topic the test subscribed to more than once."""
    return [
        f"Note: the test is subscribed to {topic!r} {count} times (each subscribe and subscribe_and_join "
        f"adds one, as in Phoenix), so every broadcast on it arrives {count} times."
        for topic, count in subscriptions.items()
        if count > 1
    ]


def missing_exit(topic: str | None, reason: Any, start_ns: int, end_ns: int, seen: Sequence[Exit]) -> str:
    """The failure of an `assert_exit` that found no matching exit."""
    listing = "\n".join(f"  - {e!r}" for e in seen) or "  (none)"
    return (
        f"assert_exit({topic!r}): no matching exit within {_window(start_ns, end_ns)}.\n"
        f"Expected: Exit(topic={topic!r}, reason={reason!r})\nExits so far:\n{listing}"
    )


def still_false(condition: Callable[[], object], start_ns: int, end_ns: int, timers: Sequence[Timer]) -> str:
    """The failure of a `wait_until` whose condition never came true."""
    return "\n".join(
        [
            f"wait_until({_condition(condition)}): still false after {_window(start_ns, end_ns)}.",
            *pending_timers(timers),
        ]
    )


def _condition(condition: Callable[[], object]) -> str:
    """A condition as the test wrote it: its name, or the source of its lambda."""
    name = getattr(condition, "__qualname__", None)
    if isinstance(name, str) and "<lambda>" not in name:
        return name
    try:
        line = inspect.getsource(condition).strip()
    except (OSError, TypeError):
        return repr(condition)
    start = line.find("lambda")
    if start < 0:
        return line
    shown = line[start:]
    end = shown.find(", timeout=")
    return (shown if end < 0 else shown[:end]).rstrip(",) ")


def unclaimed_crash(crashes: Sequence[Exit], kill_note: str | None) -> str:
    """The failure of a test whose channel crashed (or stopped abnormally) and nobody claimed the exit."""
    first = crashes[0]
    others = "".join(f"\n  and {c.channel} on {c.topic!r}: {c.reason!r}" for c in crashes[1:])
    raised = isinstance(first.reason, BaseException)
    how = "crashed" if raised else "stopped abnormally"
    return (
        f"{first.channel} on {first.topic!r} {how} at t={format_ns(first.at_ns)} with {first.reason!r}{others}.\n"
        + (f"It was killed: {kill_note}\n" if kill_note else "")
        + ("Its traceback is shown above. " if raised else "")
        + "If the test expects this exit, claim it with channels.assert_exit(socket, reason=...)."
    )


def not_running(call: str, name: str, topic: str | None, exit: Exit) -> str:
    """The failure of a wait that needs a live channel (`get_state`) on one that has exited."""
    return (
        f"{call}: {name} on {topic!r} is not running: it exited at t={format_ns(exit.at_ns)} "
        f"with reason {exit.reason!r}"
    )


def join_refused(topic: str, reply: Any, *, raised: bool) -> str:
    """The failure of a `subscribe_and_join_or_raise` that the channel refused (or whose join raised)."""
    hint = " (the join raised: its traceback is shown above)" if raised else ""
    return f"could not join channel {topic!r}, got error: {reply!r}{hint}"


def join_unanswered(topic: str) -> str:
    """The failure of a join on the wire that no reply ever answered."""
    return f"the join of {topic!r} was never answered (its connection closed: see the log)"


def left_in_the_mailbox(left: Sequence[Message]) -> str:
    """The teardown problem of `strict_mailbox`: what no assertion consumed."""
    listing = "\n".join(listed(left, indent="    "))
    return (
        f"strict_mailbox: {len(left)} message(s) were left that no assertion consumed:\n{listing}\n"
        "  Assert on them, or channels.flush() the ones that do not matter."
    )


def time_limit(max_time: float, now_ns: int, busy: Sequence[tuple[str, str | None, str]], timers: str) -> str:
    """Why a test on a virtual loop reached its virtual end of time (`VirtualTimeLimit`), and where to look."""
    channels = "\n".join(f"  - {name} (topic {topic!r}) in {doing}" for name, topic, doing in busy)
    return (
        f"virtual time reached max_time={max_time:g}s while the test was still waiting "
        f"(t={format_ns(now_ns)}). Either nothing can ever wake up (a deadlock: something "
        "awaits an event nobody sets), or timers keep firing while a wait is never satisfied (a periodic "
        "refresh). Raise max_time (@pytest.mark.channels(max_time=...)) if the test really spans that long.\n"
        f"Channels busy:\n{channels or '  (none)'}\nRuntime timers pending:\n{timers or '  (none)'}"
    )


def never_awaited(wheres: Sequence[str]) -> str:
    """The failure of async harness calls that were made and never awaited, so they checked nothing."""
    where = "\n".join(f"  - {w}" for w in wheres)
    return (
        f"{len(wheres)} harness call(s) were never awaited, so they checked nothing:\n{where}\n"
        "Add `await` in front of each."
    )


def used_unawaited(where: str, name: str) -> str:
    """The failure of an async harness call whose result was used without `await`."""
    return (
        f"channels.{where} was used as its result ({name!r}) without being awaited. "
        "Add `await`: `(await channels.connect(...)).socket`."
    )


def describe_presences(presences: Mapping[str, Any]) -> str:
    """A list of presences, one key a line, with its metas (and what `fetch` added)."""
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


def _expected_presences(expected: Any) -> str:
    if isinstance(expected, Mapping):
        return describe_presences({k: {"metas": v} if isinstance(v, list) else v for k, v in expected.items()})
    return "  keys " + repr(sorted(expected, key=str))


def describe_tracker(tracker: Tracker) -> str:
    """What a node's tracker knows of the other nodes, for a presence failure."""
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


def presence_mismatch(
    where: str,
    expected: Any,
    start_ns: int,
    end_ns: int,
    now_ns: int,
    listed: Mapping[str, Any],
    context: Sequence[str],
    network: str | None,
) -> str:
    """The failure of an `assert_presence`: the list, the expected one, and what explains the difference."""
    lines = [
        f"assert_presence: {where} is not the expected one after {(end_ns - start_ns) / NS_PER_SECOND:g}s of "
        f"virtual time (t={format_ns(start_ns)} to t={format_ns(end_ns)}).",
        f"Expected:\n{_expected_presences(expected)}",
        f"Listed at t={format_ns(now_ns)}:\n{describe_presences(listed)}",
        *context,
    ]
    if network is not None:
        lines.append(f"Network: {network}")
    return "\n".join(lines)
