"""Which clocks a channel test fakes, how to read real time inside one, and a user's own freeze_time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

RUNNERS = [
    pytest.param("", "def", "", {"passed": 1}, id="def test"),
    pytest.param("@pytest.mark.asyncio", "async def", "await ", {"passed": 1}, id="pytest-asyncio"),
    pytest.param("@pytest.mark.anyio", "async def", "await ", {"passed": 2}, id="anyio"),
]

TIMING_MODULE = """
from time import monotonic, perf_counter  # aliases, as a timeout library or a benchmark holds them
"""


def test_by_default_only_the_wall_clock_follows_virtual_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(timing=TIMING_MODULE)
    pytester.makepyfile(
        """
        import datetime as dt
        import time

        import timing
        from pytest_channels.testing import real_clock

        def test_monotonic_and_perf_counter_stay_real(channels):
            before = (time.monotonic(), timing.perf_counter(), timing.monotonic())
            channels.advance(3600)
            assert dt.datetime.now(dt.UTC) == dt.datetime(2024, 1, 1, 1, tzinfo=dt.UTC)  # virtual
            after = (time.monotonic(), timing.perf_counter(), timing.monotonic())
            assert all(0 <= b - a < 60 for a, b in zip(before, after))  # real: far less than an hour
            assert abs(time.perf_counter() - real_clock.perf_counter()) < 60
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "how",
    [
        pytest.param(("@pytest.mark.channels(freeze_monotonic=True)", ""), id="marker"),
        pytest.param(("", "channels_freeze_monotonic = true"), id="ini"),
    ],
)
def test_freeze_monotonic_fakes_the_monotonic_clocks_and_their_aliases_too(
    pytester: pytest.Pytester, make_ini: Callable[[str], Path], how: tuple[str, str]
) -> None:
    marker, ini = how
    make_ini(ini)
    pytester.makepyfile(timing=TIMING_MODULE)
    pytester.makepyfile(
        f"""
        import time

        import pytest
        import timing
        from pytest_channels.testing import real_clock

        {marker}
        def test_they_move_with_advance(channels):
            before = (time.monotonic(), timing.perf_counter(), timing.monotonic())
            channels.advance(3600)
            after = (time.monotonic(), timing.perf_counter(), timing.monotonic())
            assert [b - a for a, b in zip(before, after)] == [3600.0] * 3
            assert abs(time.monotonic() - real_clock.monotonic()) > 60  # the real one is elsewhere

        def test_and_are_real_again_after():
            assert abs(time.monotonic() - real_clock.monotonic()) < 60
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_real_clock_reads_real_time_inside_a_frozen_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import datetime as dt
        import time

        from pytest_channels.testing import real_clock

        def test_real_time_is_there(channels):
            assert dt.datetime.now(dt.UTC).year == 2024  # virtual
            assert real_clock.now().year >= 2025 and real_clock.now().tzinfo is dt.UTC
            assert real_clock.time() > time.time() + 365 * 86400
            assert type(real_clock.now()) is not type(dt.datetime.now())  # freezegun's own class in the test
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)


USER_FREEZE_TEST = """
import datetime as dt

import freezegun
import pytest
from pytest_channels import TokenError
from sample_channels import RoomChannel

FROZEN = dt.datetime(2030, 6, 1, 12, tzinfo=dt.UTC)


{decorator}
@freezegun.freeze_time("2030-06-01T12:00:00Z")
{define} test_the_users_freeze_sets_the_start_and_advance_moves_it(channels):
    assert dt.datetime.now(dt.UTC) == FROZEN
    token = channels.runtime.tokens.sign("user", 42, max_age=60)
    {await_}channels.advance(61)
    assert dt.datetime.now(dt.UTC) == FROZEN + dt.timedelta(seconds=61)
    with pytest.raises(TokenError) as expired:
        channels.runtime.tokens.verify("user", token)
    assert expired.value.reason == "expired"
    socket = {await_}channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
    ref = channels.push(socket, "clock")
    {await_}channels.assert_reply(ref, "ok", {{"time": FROZEN.timestamp() + 61, "now": "2030-06-01T12:01:01+00:00"}})
"""


@pytest.mark.parametrize(("decorator", "define", "await_", "outcomes"), RUNNERS)
def test_a_users_freeze_time_sets_the_wall_start_and_then_follows_the_virtual_clock(
    pytester: pytest.Pytester, decorator: str, define: str, await_: str, outcomes: dict[str, int]
) -> None:
    pytester.makepyfile(USER_FREEZE_TEST.format(decorator=decorator, define=define, await_=await_))
    pytester.runpytest("-p", "no:randomly").assert_outcomes(**outcomes)


def test_a_users_freeze_inside_the_test_and_one_around_the_fixture_compose_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import datetime as dt

        import freezegun
        import pytest

        def test_a_block_sets_the_clock_and_leaving_it_gives_the_tests_own_timeline_back(channels):
            channels.advance(10)
            with freezegun.freeze_time("2030-06-01"):
                assert dt.datetime.now(dt.UTC) == dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
                channels.advance(5)
                assert channels.clock.wall() == dt.datetime(2030, 6, 1, 0, 0, 5, tzinfo=dt.UTC)
            assert dt.datetime.now(dt.UTC) == dt.datetime(2024, 1, 1, 0, 0, 15, tzinfo=dt.UTC)

        @pytest.fixture
        def frozen():
            with freezegun.freeze_time("2031-01-01T00:00:00Z"):
                yield

        def test_a_freeze_already_on_when_the_fixture_starts_sets_the_start(frozen, channels):
            assert channels.clock.wall() == dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
            channels.advance(2)
            assert dt.datetime.now(dt.UTC) == dt.datetime(2031, 1, 1, 0, 0, 2, tzinfo=dt.UTC)

        def test_and_freezegun_is_itself_again_after():
            with freezegun.freeze_time("2030-01-01") as frozen:
                frozen.tick(5)
                assert dt.datetime.now() == dt.datetime(2030, 1, 1, 0, 0, 5)
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_a_users_freeze_that_ticks_or_is_moved_by_hand_fails_saying_what_to_use(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import freezegun
        import pytest

        @freezegun.freeze_time("2030-06-01", tick=True)
        def test_ticking(channels):
            pass

        def test_moved_by_hand(channels):
            with freezegun.freeze_time("2030-06-01") as frozen:
                frozen.tick(5)
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E*RuntimeError: freeze_time(tick=True or auto_tick_seconds=...) inside a channel test: the wall clock "
            "there follows virtual time, which moves only when the test waits. Use channels.advance(seconds) to "
            "move it, and @pytest.mark.channels(wall_start=...) or a plain freeze_time(instant) to choose where it "
            "starts.",
            "E*RuntimeError: freeze_time(...).tick() / .move_to() inside a channel test: the wall clock there *",
        ]
    )
