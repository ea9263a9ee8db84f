"""What a failing assertion prints: the expectation, the virtual time waited, the mailbox with
virtual timestamps (closest first), what earlier assertions consumed, and the pending timers."""

from __future__ import annotations

import pytest

GREETING_SCENARIO = """
    socket = {await_}channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
    ref = channels.push(socket, "ping", {{"n": 1}})
    {await_}channels.assert_reply(ref, "ok", {{"pong": 1}})
    {await_}channels.advance(1.5)
    channels.push(socket, "remind", {{"after": 5, "text": "tea"}})
    channels.push(socket, "greet", {{"name": "ada"}})
    {await_}channels.assert_push("greeting", {{"hello": "bob"}})
"""

ASSERT_PUSH_FAILURE = [
    "E       AssertionError: assert_push('greeting'): nothing matched within 100 ms of virtual time "
    "(t=1.500s to t=1.600s).",
    "E       Expected: Push(event='greeting', payload={'hello': 'bob'})",
    "E       The mailbox holds 3 unconsumed message(s), closest first:",
    "E         - Push(topic='room:1', event='greeting', payload={'hello': 'ada'}, t=1.500s)  <- same event",
    "E         - Push(topic='room:1', event='welcome', payload={'topic': 'room:1'}, t=0.000s)",
    "E         - Reply(topic='room:1', ref='3', status='ok', payload={'in': 5}, t=1.500s)",
    "E       Consumed earlier by other assertions (1):",
    "E         - Reply(topic='room:1', ref='2', status='ok', payload={'pong': 1}, t=0.000s)",
    "E       Timers still pending:",
    "E         - at 6.500s: RoomChannel (topic 'room:1') handle_info(('remind', 'tea'))",
    "E       Hint: the nearest message (same event) differs in payload ('hello': expected 'bob', got 'ada').",
]


@pytest.mark.parametrize(
    ("header", "await_"),
    [
        pytest.param("def test_greeting(channels):", "", id="def test"),
        pytest.param("@pytest.mark.asyncio\nasync def test_greeting(channels):", "await ", id="async test"),
    ],
)
def test_a_failing_assert_push_shows_the_mailbox_closest_first_and_the_pending_timers(
    pytester: pytest.Pytester, header: str, await_: str
) -> None:
    pytester.makepyfile(
        "import pytest\nfrom sample_channels import RoomChannel\n\n" + header + GREETING_SCENARIO.format(await_=await_)
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f'>       {await_}channels.assert_push("greeting", {{"hello": "bob"}})', *ASSERT_PUSH_FAILURE],
        consecutive=True,
    )


def test_a_failing_assertion_with_nothing_received_says_the_mailbox_is_empty(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_nothing_arrives(channels):
            channels.advance(2)
            channels.assert_broadcast("news", timeout=0.25)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: assert_broadcast('news'): nothing matched within 250 ms of virtual time "
            "(t=2.000s to t=2.250s).",
            "E       Expected: Broadcast(event='news')",
            "E       The mailbox is empty.",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*Timers still pending*")
    result.stdout.no_fnmatch_line("*Hint:*")


def test_a_failing_refute_push_shows_the_message_and_when_it_was_seen(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from sample_channels import RoomChannel

        def test_a_reminder_too_soon(channels):
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.push(socket, "remind", {"after": 0.25, "text": "too soon"})
            channels.refute_push("reminder", timeout=1)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*/pytest_channels/*")
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: refute_push: unexpectedly received "
            "Push(topic='room:1', event='reminder', payload={'text': 'too soon'}, t=0.250s) "
            "(checked at t=0.250s), which matches Push(event='reminder').",
        ],
    )


@pytest.mark.parametrize(
    "failing_call",
    [
        'channels.assert_push("reminder", timeout=0.1)',
        'channels.refute_push("reminder", timeout=1)',
        'channels.assert_reply(ref, "error")',
        'channels.refute_reply(ref, "ok")',
        'channels.assert_broadcast("news")',
        'channels.refute_push("welcome")',
        "channels.assert_exit(socket)",
    ],
)
@pytest.mark.parametrize("kind", ["def", "async def"])
def test_a_failing_assertion_shows_neither_harness_nor_event_loop_frames(
    pytester: pytest.Pytester, failing_call: str, kind: str
) -> None:
    await_, decorator = ("await ", "@pytest.mark.asyncio") if kind == "async def" else ("", "")
    pytester.makepyfile(
        f"""
        import pytest
        from sample_channels import RoomChannel

        {decorator}
        {kind} test_fails(channels):
            socket = {await_}channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            ref = channels.push(socket, "remind", {{"after": 0.25, "text": "soon"}})
            {await_}{failing_call}
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*/pytest_channels/*")
    result.stdout.no_fnmatch_line("*/asyncio/*")
    result.stdout.fnmatch_lines([f">       {await_}{failing_call}", "E       AssertionError: *"], consecutive=True)
