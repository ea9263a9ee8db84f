"""`channels_case`: fresh cases on the suite's own settings, for hypothesis and other loops."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def test_a_hypothesis_test_gets_a_fresh_case_per_example_on_the_ini_and_marker_settings(
    pytester: pytest.Pytester, make_ini: Callable[[str], Path]
) -> None:
    make_ini(
        """
        channels_assert_timeout = 2
        channels_wall_start = 2030-05-01T00:00:00Z
        """
    )
    pytester.makepyfile(
        """
        import datetime as dt

        import pytest
        from hypothesis import given, settings, strategies as st
        from sample_channels import RoomChannel

        SEEN = []

        @settings(max_examples=10, deadline=None)
        @given(name=st.text(min_size=1, max_size=5))
        def test_greets_anyone(channels_case, name):
            with channels_case() as channels:
                assert channels.settings.assert_timeout == 2
                assert dt.datetime.now(dt.UTC) == dt.datetime(2030, 5, 1, tzinfo=dt.UTC)
                assert channels.now == 0 and channels.mailbox == ()  # nothing left from an earlier example
                SEEN.append(channels)
                socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
                channels.assert_push("welcome")
                channels.push(socket, "greet", {"name": name})
                channels.advance(1)
                channels.assert_push("greeting", {"hello": name})

        def test_every_example_had_its_own_case():
            assert len(SEEN) == len(set(map(id, SEEN))) >= 2

        @pytest.mark.channels(assert_timeout=7)
        @settings(max_examples=2)
        @given(st.integers())
        def test_the_marker_wins(channels_case, n):
            assert channels_case.settings.assert_timeout == 7
            with channels_case(refute_timeout=3) as channels:
                assert (channels.settings.assert_timeout, channels.settings.refute_timeout) == (7, 3)
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_the_channels_fixture_under_hypothesis_fails_its_health_check_and_channels_case_is_the_way(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from hypothesis import given, strategies as st

        @given(st.integers())
        def test_shared(channels, n):
            pass
        """
    )
    result = pytester.runpytest("-p", "hypothesispytest")  # its health check lives in its plugin
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*function_scoped_fixture*"])


def test_an_async_case_comes_from_asynchronous(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from sample_channels import RoomChannel

        @pytest.mark.asyncio
        async def test_async(channels_case):
            async with channels_case.asynchronous() as channels:
                await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
                await channels.assert_push("welcome")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_bad_override_names_where_it_came_from(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_bad(channels_case):
            with pytest.raises(ValueError, match=r"^channels_case\\(\\.\\.\\.\\): unknown setting 'asert_timeout'"):
                channels_case(asert_timeout=1)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
