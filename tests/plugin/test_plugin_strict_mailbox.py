"""`strict_mailbox`: opt in, and a test that leaves messages no assertion consumed fails at teardown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

LEAVES_A_PUSH = """
import pytest
from sample_channels import RoomChannel

{decorator}
{kind} test_leaves_one(channels):
    socket = {await_}channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
    {await_}channels.assert_push("welcome")
    channels.push(socket, "greet", {{"name": "ada"}})
    {await_}channels.settle()
"""


@pytest.mark.parametrize("kind", ["def", "async def"])
def test_a_test_leaving_a_message_fails_at_teardown_listing_it(
    pytester: pytest.Pytester, make_ini: Callable[[str], Path], kind: str
) -> None:
    make_ini("channels_strict_mailbox = true")
    await_, decorator = ("await ", "@pytest.mark.asyncio") if kind == "async def" else ("", "")
    pytester.makepyfile(LEAVES_A_PUSH.format(kind=kind, await_=await_, decorator=decorator))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "channels teardown found problems:",
            "  - strict_mailbox: 1 message(s) were left that no assertion consumed:",
            "    - Push(topic='room:1', event='greeting', payload={'hello': 'ada'}, t=0.000s)",
            "  Assert on them, or channels.flush() the ones that do not matter.",
        ],
        consecutive=True,
    )
    # The channel's own Close at teardown is no leftover.
    result.stdout.no_fnmatch_line("*Close(*")


def test_without_the_setting_leftovers_are_fine(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(LEAVES_A_PUSH.format(kind="def", await_="", decorator=""))
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_marker_turns_it_on_and_flush_says_the_rest_does_not_matter(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from sample_channels import RoomChannel

        pytestmark = pytest.mark.channels(strict_mailbox=True)

        def test_flushed(channels):
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.push(socket, "greet", {"name": "ada"})
            channels.settle()
            channels.flush()

        def test_left(channels):
            channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.settle()
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_left*"])


def test_a_failing_test_gets_no_second_report_about_its_mailbox(
    pytester: pytest.Pytester, make_ini: Callable[[str], Path]
) -> None:
    make_ini("channels_strict_mailbox = true")
    pytester.makepyfile(
        """
        from sample_channels import RoomChannel

        def test_fails(channels):
            channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.assert_push("nothing like this")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*strict_mailbox*")


def test_a_case_used_as_a_context_manager_is_strict_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from sample_channels import RoomChannel
        from pytest_channels.testing import ChannelCase, Settings

        def test_by_hand():
            with pytest.raises(AssertionError, match="strict_mailbox: 1 message"):
                with ChannelCase(Settings(strict_mailbox=True)) as channels:
                    channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
                    channels.settle()
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
