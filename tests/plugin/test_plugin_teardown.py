"""Teardown: channels stop before the user's fixtures are finalized, every timer is cancelled,
nothing carries over to the next test, and tasks left running by channel code are reported."""

from __future__ import annotations

import pytest

DATABASE_FIXTURE = """
import pytest
from sample_channels import LOG, RoomChannel

@pytest.fixture
def database():
    LOG.append("database opened")
    yield
    LOG.append("database closed")
    assert LOG == [
        "database opened",
        "test ran",
        "terminate room:1 'shutdown'",
        "database closed",
    ]
"""


def test_channels_are_stopped_before_user_fixtures_are_finalized(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        DATABASE_FIXTURE
        + """
def test_database_requested_after_channels(channels, database):
    channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
    LOG.append("test ran")
"""
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_channels_are_stopped_before_user_fixtures_are_finalized_in_an_async_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        DATABASE_FIXTURE
        + """
@pytest.mark.asyncio
async def test_database_requested_after_channels(channels, database):
    await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
    LOG.append("test ran")
"""
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_channels_are_stopped_before_user_fixtures_are_finalized_when_the_test_fails(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        DATABASE_FIXTURE
        + """
def test_database_requested_after_channels(channels, database):
    channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
    LOG.append("test ran")
    raise AssertionError("the test itself fails")
"""
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E *AssertionError: the test itself fails"])
    result.stdout.no_fnmatch_line("*ERROR at teardown*")


def test_every_pending_timer_is_cancelled_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from sample_channels import TIMERS, RoomChannel

        @pytest.fixture
        def timers_checked():
            yield
            assert len(TIMERS) == 2
            assert not any(timer.pending for timer in TIMERS)

        def test_two_reminders_never_fire(channels, timers_checked):
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            for after in (5, 3600):
                ref = channels.push(socket, "remind", {"after": after, "text": "later"})
                channels.assert_reply(ref, "ok")
            assert [timer.pending for timer in TIMERS] == [True, True]
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_nothing_leaks_into_the_next_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import datetime as dt
        import time
        from sample_channels import LOG, RoomChannel

        REAL_TIME = time.time
        IMPORTED_AT = time.time()

        def test_first_leaves_a_channel_a_timer_a_subscription_and_unread_messages(channels):
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.push(socket, "remind", {"after": 5, "text": "from the first test"})
            channels.advance(1)
            channels.runtime.broadcast("room:1", "news", {"from": "the first test"})
            assert len(channels.mailbox) == 4
            assert len(channels.runtime.channels) == 1

        def test_second_starts_from_nothing(channels):
            assert LOG == ["terminate room:1 'shutdown'"]
            assert channels.now == 0
            assert channels.mailbox == ()
            assert channels.exits == ()
            assert channels.runtime.channels == []
            assert channels.clock.pending_timers() == []
            assert dt.datetime.now(dt.UTC) == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
            channels.runtime.broadcast("room:1", "news", {"from": "the second test"})
            channels.refute_push(timeout=60)
            channels.refute_broadcast(timeout=0)  # the first test's subscription is gone

        def test_third_without_channels_reads_the_real_clock():
            assert time.time is REAL_TIME
            assert time.time() >= IMPORTED_AT
            assert dt.datetime.now(dt.UTC).timestamp() >= IMPORTED_AT
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_error_at_teardown_when_a_sync_test_leaves_an_asyncio_task_running(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from sample_channels import RoomChannel

        def test_channel_code_starts_a_task_and_forgets_it(channels):
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.push(socket, "leak")
            channels.settle()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_channel_code_starts_a_task_and_forgets_it*",
            "channels teardown found problems:",
            "  - channel code left a task running: <Task pending name='leaked-by-room-channel' coro=<_forever()*",
        ],
    )


def test_error_at_teardown_when_an_async_test_leaves_an_asyncio_task_running_as_a_sync_one_does(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from sample_channels import TASKS, RoomChannel

        @pytest.mark.asyncio
        async def test_channel_code_starts_a_task_and_forgets_it(channels):
            socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.push(socket, "leak")
            await channels.settle()

        @pytest.mark.asyncio
        @pytest.mark.channels(virtual_loop=True)
        async def test_on_a_virtual_loop_too(channels):
            socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.push(socket, "leak")
            await channels.settle()

        @pytest.mark.asyncio
        async def test_a_task_the_test_awaits_is_no_leak(channels):
            import asyncio
            await asyncio.get_running_loop().create_task(asyncio.sleep(0))

        def test_the_leaked_tasks_were_cancelled():
            assert not TASKS
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_channel_code_starts_a_task_and_forgets_it*",
            "channels teardown found problems:",
            "  - channel code left a task running: <Task pending name='leaked-by-room-channel' coro=<_forever()*",
            "*ERROR at teardown of test_on_a_virtual_loop_too*",
            "  - channel code left a task running: <Task pending name='leaked-by-room-channel' coro=<_forever()*",
        ],
    )


def test_a_fixture_built_on_channels_can_still_leave_its_channel_in_its_finalizer(pytester: pytest.Pytester) -> None:
    """The channel has already stopped by then, so `leave` returns that exit, and nothing is left open."""
    pytester.makepyfile(
        """
        import pytest
        import pytest_asyncio
        from sample_channels import LOG, RoomChannel

        @pytest.fixture
        def room(channels):
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            yield socket
            exit = channels.leave(socket)
            LOG.append(f"left with {exit.reason!r}")

        @pytest_asyncio.fixture
        async def async_room(channels):
            socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:2", channel=RoomChannel)
            yield socket
            exit = await channels.leave(socket)
            LOG.append(f"left with {exit.reason!r}")

        def test_sync(room, channels):
            channels.assert_push("welcome")

        @pytest.mark.asyncio
        async def test_async(async_room, channels):
            await channels.assert_push("welcome")

        def test_both_fixtures_left_after_the_channels_stopped():
            assert LOG == [
                "terminate room:1 'shutdown'",
                "left with 'shutdown'",
                "terminate room:2 'shutdown'",
                "left with 'shutdown'",
            ]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", timeout=60)
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.OK
    result.stderr.no_fnmatch_line("*unclosed event loop*")
