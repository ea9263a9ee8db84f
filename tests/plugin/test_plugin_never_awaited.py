"""An async harness call that is never awaited checked nothing: it fails the test at the next
harness call, or at teardown when there is none. It can never pass silently."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "next_call",
    [
        pytest.param('await channels.refute_push("reminder")', id="a wait"),
        pytest.param('channels.push(socket, "ping")', id="a plain call"),
        pytest.param("channels.mailbox", id="reading the mailbox"),
    ],
)
def test_error_at_the_next_harness_call_when_a_call_is_never_awaited(pytester: pytest.Pytester, next_call: str) -> None:
    pytester.makepyfile(
        test_forgetful=f"""
        import pytest
        from sample_channels import RoomChannel

        @pytest.mark.asyncio
        async def test_forgets_an_await(channels):
            socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.assert_push("this is never pushed")
            {next_call}
            print("never printed")
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f">       {next_call}",
            "E *NeverAwaited: 1 harness call(s) were never awaited, so they checked nothing:",
            "E *  - assert_push(...) at */test_forgetful.py:7",
            "E *Add `await` in front of each.",
        ],
    )
    result.stdout.no_fnmatch_line("never printed")


def test_error_at_teardown_when_the_last_harness_call_is_never_awaited(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_forgetful="""
        import pytest
        from sample_channels import RoomChannel

        @pytest.mark.anyio
        async def test_forgets_the_last_await(channels):
            socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            ref = channels.push(socket, "ping", {"n": 1})
            channels.assert_reply(ref, "error")
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_forgets_the_last_await[[]asyncio[]]*",
            "channels teardown found problems:",
            "  - never awaited (add `await`): assert_reply(...) at */test_forgetful.py:8",
            "*ERROR at teardown of test_forgets_the_last_await[[]trio[]]*",
            "channels teardown found problems:",
            "  - never awaited (add `await`): assert_reply(...) at */test_forgetful.py:8",
        ],
    )


def test_a_forgotten_await_fails_the_whole_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_forgets_the_last_await(channels):
            channels.assert_push("this is never pushed")
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
