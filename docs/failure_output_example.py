"""The failing tests of docs/getting-started.md ("Reading failure output"), run in an inner pytest session."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

FAILING_TESTS = """\
from chat_app import ChatSocket


def test_a_reminder_arrives(channels):
    socket = channels.connect(ChatSocket, {"name": "ada"}).socket
    socket = channels.subscribe_and_join_or_raise(socket, "room:lobby")
    channels.push(socket, "remind_me", {"after": 60, "text": "tea"})
    channels.assert_push("reminder", {"text": "tea"})


def test_saying_something_without_a_body(channels):
    socket = channels.connect(ChatSocket, {"name": "ada"}).socket
    socket = channels.subscribe_and_join_or_raise(socket, "room:lobby")
    channels.push(socket, "say", {"text": "hello"})
    channels.assert_push("said")
"""

PYPROJECT = """
[tool.pytest.ini_options]
asyncio_default_fixture_loop_scope = "function"
pythonpath = ["."]
"""


def test_both_tests_fail_with_the_messages_shown_in_the_guide(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(textwrap.dedent(PYPROJECT))
    pytester.makepyfile(chat_app=(Path(__file__).parent / "chat_app.py").read_text())
    pytester.makepyfile(test_reminders=FAILING_TESTS)
    # A subprocess: this session has already imported docs/chat_app.py under the same name.
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: assert_push('reminder'): nothing matched within 100 ms of virtual time "
            "(t=0.000s to t=0.100s).",
            "E       Expected: Push(event='reminder', payload={'text': 'tea'})",
            "E       The mailbox holds 1 unconsumed message(s), closest first:",
            "E         - Reply(topic='room:lobby', ref='2', status='ok', payload={'in': 60}, t=0.000s)",
            "E       Timers still pending:",
            "E         - at 60.000s: RoomChannel (topic 'room:lobby') handle_info(('remind', 'tea'))",
            "E       Hint: a timer fires at 60.000s, after the deadline. "
            "Pass a longer timeout= or call channels.advance(...) first.",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        [
            "E           KeyError: 'body'",
            "*The above exception was the direct cause of the following exception:",
            "E *pytest_channels.testing.ChannelCrashed: RoomChannel on 'room:lobby' crashed at t=0.000s "
            "with KeyError('body').",
            "E *Its traceback is shown above. If the test expects this exit, "
            "claim it with channels.assert_exit(socket, reason=...).",
        ]
    )
    # The guide promises that the runtime's and the harness's frames are hidden.
    result.stdout.no_fnmatch_line("*pytest_channels/*.py:*")
