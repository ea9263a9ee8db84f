"""A channel that crashes after join fails the test, with the channel's traceback, unless the
test claims the exit with `channels.assert_exit`."""

from __future__ import annotations

import pytest

CRASH_MESSAGE = [
    "E       pytest_channels.testing.ChannelCrashed: "
    "RoomChannel on 'room:1' crashed at t=2.000s with ValueError('boom').",
    "E       Its traceback is shown above. If the test expects this exit, claim it with "
    "channels.assert_exit(socket, reason=...).",
]
CHANNEL_TRACEBACK = [
    '*raise ValueError("boom")',
    "E *ValueError: boom",
    "",
    "sample_channels.py:*: ValueError",
    "",
    "The above exception was the direct cause of the following exception:",
]


def test_a_crash_after_join_fails_the_test_at_the_next_assertion(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from sample_channels import RoomChannel

        def test_crash(channels):
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.advance(2)
            ref = channels.push(socket, "boom")
            print("the push returned")
            channels.assert_reply(ref, "ok")
            print("never printed")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(CHANNEL_TRACEBACK, consecutive=True)
    result.stdout.fnmatch_lines(['>       channels.assert_reply(ref, "ok")', *CRASH_MESSAGE], consecutive=True)
    result.stdout.fnmatch_lines(["*- Captured stdout call -*", "the push returned"], consecutive=True)
    result.stdout.no_fnmatch_line("never printed")


def test_a_crash_after_join_fails_an_async_test_at_the_next_assertion(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from sample_channels import RoomChannel

        @pytest.mark.asyncio
        async def test_crash(channels):
            socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            await channels.advance(2)
            channels.push(socket, "boom")
            await channels.refute_push("anything")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(CHANNEL_TRACEBACK, consecutive=True)
    result.stdout.fnmatch_lines(['>       await channels.refute_push("anything")', *CRASH_MESSAGE], consecutive=True)


def test_every_crash_is_named_when_several_channels_crash_at_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from sample_channels import RoomChannel

        def test_two_crashes(channels):
            sockets = [
                channels.subscribe_and_join_or_raise(channels.socket(), topic, channel=RoomChannel)
                for topic in ("room:1", "room:2")
            ]
            for socket in sockets:
                channels.push(socket, "boom")
            channels.settle()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *ChannelCrashed: RoomChannel on 'room:1' crashed at t=0.000s with ValueError('boom')",
            "E *  and RoomChannel on 'room:2': ValueError('boom').",
        ],
        consecutive=True,
    )


CLAIMED_CRASH = """
import pytest
from pytest_channels.testing import Where
from sample_channels import LOG, RoomChannel

ANY_BOOM = Where(lambda e: isinstance(e, ValueError) and str(e) == "boom")


{decorator}
{define} test_claims_the_crash(channels):
    socket = {await_}channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
    channels.push(socket, "boom")
    exit = {await_}channels.assert_exit(socket, reason=ANY_BOOM)
    assert exit.crashed
    assert exit.channel == "RoomChannel"
    assert LOG == ["terminate room:1 ValueError('boom')"]  # terminate ran for the crash
    {await_}channels.refute_push("anything")
"""


@pytest.mark.parametrize(
    ("decorator", "define", "await_"),
    [
        pytest.param("", "def", "", id="def test"),
        pytest.param("@pytest.mark.asyncio", "async def", "await ", id="async test"),
    ],
)
def test_no_error_when_the_test_claims_the_crash_with_assert_exit(
    pytester: pytest.Pytester, decorator: str, define: str, await_: str
) -> None:
    pytester.makepyfile(CLAIMED_CRASH.format(decorator=decorator, define=define, await_=await_))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_error_at_teardown_when_a_crash_follows_the_last_assertion(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from sample_channels import RoomChannel

        def test_pushes_and_ends(channels):
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.push(socket, "boom")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_pushes_and_ends*",
            *CHANNEL_TRACEBACK,
            "E *ChannelCrashed: RoomChannel on 'room:1' crashed at t=0.000s with ValueError('boom').",
        ],
    )


def test_error_at_teardown_when_a_crash_was_never_reported_to_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from sample_channels import RoomChannel

        @pytest.mark.asyncio
        async def test_drives_the_runtime_itself(channels):
            socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.push(socket, "boom")
            await channels.runtime.settle()  # runs the crash, but reports nothing to the test
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_drives_the_runtime_itself*",
            *CHANNEL_TRACEBACK,
            "E *ChannelCrashed: RoomChannel on 'room:1' crashed at t=0.000s with ValueError('boom').",
        ],
    )


def test_error_at_teardown_when_a_crash_follows_the_last_assertion_of_an_async_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from sample_channels import RoomChannel

        @pytest.mark.asyncio
        async def test_on_pytest_asyncio(channels):
            socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.push(socket, "boom")

        @pytest.mark.anyio
        async def test_on_anyio(channels):
            socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.push(socket, "boom")
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=3)
    for test_id in ("test_on_pytest_asyncio", "test_on_anyio[[]asyncio[]]", "test_on_anyio[[]trio[]]"):
        result.stdout.fnmatch_lines(
            [
                f"*ERROR at teardown of {test_id}*",
                *CHANNEL_TRACEBACK,
                "E *ChannelCrashed: RoomChannel on 'room:1' crashed at t=0.000s with ValueError('boom').",
            ],
        )
