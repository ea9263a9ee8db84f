"""`datetime.now()` and `time.time()` follow the virtual clock (wall_start + virtual now),
in channel code and in the test, unless the `channels` marker switches freezegun off."""

from __future__ import annotations

import pytest

CHANNEL_CLOCK_TEST = """
import pytest
from sample_channels import RoomChannel


{decorator}
{define} test_channel_code_reads_the_virtual_wall_clock(channels):
    socket = {await_}channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
    ref = channels.push(socket, "clock")
    {await_}channels.assert_reply(ref, "ok", {{"time": 1704067200.0, "now": "2024-01-01T00:00:00+00:00"}})
    {await_}channels.advance(90.25)
    ref = channels.push(socket, "clock")
    {await_}channels.assert_reply(ref, "ok", {{"time": 1704067290.25, "now": "2024-01-01T00:01:30.250000+00:00"}})
    channels.push(socket, "clock_info")  # read again, from a plain def handle_info
    {await_}channels.assert_push("clock", {{"time": 1704067290.25, "now": "2024-01-01T00:01:30.250000+00:00"}})
"""

TEST_BODY_CLOCK_TEST = """
import datetime as dt

import pytest

WALL_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


{decorator}
{define} test_the_test_reads_the_virtual_wall_clock(channels):
    assert dt.datetime.now(dt.UTC) == WALL_START
    assert dt.datetime.now() == dt.datetime(2024, 1, 1)  # naive, as UTC
    {await_}channels.advance(90.25)
    assert dt.datetime.now(dt.UTC) == WALL_START + dt.timedelta(seconds=90.25)
    assert channels.clock.wall() == WALL_START + dt.timedelta(seconds=90.25)
"""

RUNNERS = [
    pytest.param("", "def", "", {"passed": 1}, id="def test"),
    pytest.param("@pytest.mark.asyncio", "async def", "await ", {"passed": 1}, id="pytest-asyncio"),
    pytest.param("@pytest.mark.anyio", "async def", "await ", {"passed": 2}, id="anyio"),
]


@pytest.mark.parametrize(("decorator", "define", "await_", "outcomes"), RUNNERS)
def test_datetime_now_and_time_time_in_channel_code_follow_the_virtual_clock(
    pytester: pytest.Pytester, decorator: str, define: str, await_: str, outcomes: dict[str, int]
) -> None:
    pytester.makepyfile(CHANNEL_CLOCK_TEST.format(decorator=decorator, define=define, await_=await_))
    result = pytester.runpytest()
    result.assert_outcomes(**outcomes)


@pytest.mark.parametrize(("decorator", "define", "await_", "outcomes"), RUNNERS)
def test_datetime_now_in_the_test_follows_the_virtual_clock(
    pytester: pytest.Pytester, decorator: str, define: str, await_: str, outcomes: dict[str, int]
) -> None:
    pytester.makepyfile(TEST_BODY_CLOCK_TEST.format(decorator=decorator, define=define, await_=await_))
    result = pytester.runpytest()
    result.assert_outcomes(**outcomes)


def test_timestamps_on_messages_and_the_wall_clock_agree(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import datetime as dt
        import pytest
        from sample_channels import RoomChannel

        @pytest.mark.channels(wall_start="2030-05-01T12:00:00Z")
        def test_a_reminder_pushed_at_the_top_of_the_hour(channels):
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.push(socket, "remind", {"after": 3600, "text": "hourly"})
            push = channels.assert_push("reminder", timeout=3600)
            assert channels.clock.wall_start + dt.timedelta(microseconds=push.at_ns // 1000) == dt.datetime(
                2030, 5, 1, 13, tzinfo=dt.UTC
            )
            assert dt.datetime.now(dt.UTC) == dt.datetime(2030, 5, 1, 13, tzinfo=dt.UTC)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_the_channels_marker_can_switch_freezegun_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import datetime as dt
        import time
        import pytest
        from sample_channels import RoomChannel

        @pytest.mark.channels(freeze_time=False)
        def test_channel_code_reads_the_real_clock(channels):
            before = time.time()
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.advance(3600)
            ref = channels.push(socket, "clock")
            payload = channels.assert_reply(ref, "ok").payload
            after = time.time()
            assert before <= payload["time"] <= after < before + 3600
            assert dt.datetime.fromisoformat(payload["now"]).timestamp() == pytest.approx(payload["time"], abs=1)
            assert channels.clock.wall() == dt.datetime(2024, 1, 1, 1, tzinfo=dt.UTC)  # the virtual wall still moves
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_the_channels_marker_switches_freezegun_off_for_one_test_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import datetime as dt
        import time
        import pytest

        IMPORTED_AT = time.time()

        @pytest.mark.channels(freeze_time=False)
        def test_unfrozen(channels):
            assert dt.datetime.now(dt.UTC).timestamp() >= IMPORTED_AT

        def test_frozen(channels):
            assert dt.datetime.now(dt.UTC) == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_clock_alias_a_module_gains_between_tests_is_frozen_in_the_next_test(pytester: pytest.Pytester) -> None:
    # freezegun remembers which modules hold the real clock functions; a module that gains
    # an alias after that (`now = time.time`), even while losing another name, must be
    # patched at the next start all the same. An entry of sys.modules without names (some
    # libraries put objects there) must not break the scan.
    pytester.makepyfile(
        """
        import datetime as dt
        import sys
        import time
        import types

        import freezegun
        import freezegun.api

        class Nameless:
            __slots__ = ("__name__",)

        sys.modules["nameless_entry"] = Nameless()
        sys.modules["nameless_entry"].__name__ = "nameless_entry"
        helper = sys.modules["late_helper"] = types.ModuleType("late_helper")
        helper.placeholder = None
        VIRTUAL_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()

        def test_1_freezegun_scans_the_helper_without_an_alias(channels):
            assert time.time() == VIRTUAL_START

        def test_2_the_helper_swaps_a_name_for_an_alias_of_the_real_clock():
            del helper.placeholder
            helper.now = time.time
            assert helper.now() > VIRTUAL_START

        def test_3_the_alias_reads_the_virtual_clock(channels):
            assert helper.now() == VIRTUAL_START

        def test_4_the_real_clock_again_after_and_freezegun_as_it_was():
            assert helper.now() > VIRTUAL_START
            assert freezegun.api._get_cached_module_attributes.__module__ == "freezegun.api"
            with freezegun.freeze_time("2030-01-01"):
                assert helper.now() == dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp()
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4)


def test_asyncio_loops_keep_scheduling_in_real_time_while_the_wall_clock_is_virtual(
    pytester: pytest.Pytester,
) -> None:
    # Were the loop's clock frozen with time.monotonic, every real-time wait would hang.
    pytester.makepyfile(
        """
        import asyncio
        import time

        import freezegun.api
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.channels(freeze_monotonic=True)
        async def test_loop_time_is_real(channels):
            loop = asyncio.get_running_loop()
            assert loop.time() == pytest.approx(freezegun.api.real_monotonic(), abs=5)
            assert time.monotonic() != pytest.approx(loop.time(), abs=5)  # frozen for channel code

        def test_and_the_loops_clock_is_asyncios_own_again_after():
            assert asyncio.BaseEventLoop.time.__module__ == "asyncio.base_events"
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
