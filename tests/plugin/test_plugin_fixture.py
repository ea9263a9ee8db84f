"""The `channels` fixture: which case a test gets, and a whole scenario under each async runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SCENARIO = """
    assert isinstance(channels, AsyncChannelCase)
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
    await channels.assert_push("welcome", {"topic": "room:1"})

    ref = channels.push(socket, "ping", {"n": 1})
    await channels.assert_reply(ref, "ok", {"pong": 1})

    ref = channels.push(socket, "remind", {"after": 2.5, "text": "tea"})
    await channels.assert_reply(ref, "ok", {"in": 2.5})
    await channels.refute_push("reminder", timeout=2.499)
    await channels.advance(0.001)
    push = await channels.assert_push("reminder", {"text": "tea"}, timeout=0)
    assert push.at_ns == 2_500_000_000
    assert channels.now == 2.5
"""


def async_test_module(decorator: str) -> str:
    """An inner test module whose one async test runs SCENARIO, decorated with `decorator`."""
    return (
        "import pytest\n"
        "from pytest_channels.testing import AsyncChannelCase\n"
        "from sample_channels import RoomChannel\n"
        "\n"
        f"{decorator}\n"
        "async def test_a_reminder_arrives_when_its_timer_fires(channels):"
        f"{SCENARIO}"
    )


def test_the_fixture_is_a_channel_case_in_a_def_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_channels.testing import ChannelCase

        def test_sync(channels):
            assert type(channels) is ChannelCase

        class TestInAClass:
            def test_sync_method(self, channels):
                assert type(channels) is ChannelCase
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


def test_the_fixture_is_an_async_channel_case_in_an_async_def_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_channels.testing import AsyncChannelCase

        @pytest.mark.asyncio
        async def test_async(channels):
            assert type(channels) is AsyncChannelCase

        class TestInAClass:
            @pytest.mark.asyncio
            async def test_async_method(self, channels):
                assert type(channels) is AsyncChannelCase
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


def test_a_def_test_runs_a_whole_scenario_in_virtual_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from sample_channels import RoomChannel

        def test_a_reminder_arrives_when_its_timer_fires(channels):
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
            channels.assert_push("welcome", {"topic": "room:1"})

            ref = channels.push(socket, "ping", {"n": 1})
            channels.assert_reply(ref, "ok", {"pong": 1})

            ref = channels.push(socket, "remind", {"after": 2.5, "text": "tea"})
            channels.assert_reply(ref, "ok", {"in": 2.5})
            channels.refute_push("reminder", timeout=2.499)
            channels.advance(0.001)
            push = channels.assert_push("reminder", {"text": "tea"}, timeout=0)
            assert push.at_ns == 2_500_000_000
            assert channels.now == 2.5
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_an_async_test_runs_under_pytest_asyncio_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(async_test_module("@pytest.mark.asyncio"))
    result = pytester.runpytest("--asyncio-mode=strict")
    result.assert_outcomes(passed=1)


def test_an_async_test_runs_under_pytest_asyncio_auto_mode(
    pytester: pytest.Pytester, make_ini: Callable[[str], Path]
) -> None:
    make_ini("asyncio_mode = auto")
    pytester.makepyfile(async_test_module("# no marker: asyncio_mode = auto"))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_an_async_test_runs_under_anyio_on_asyncio_and_trio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(async_test_module("@pytest.mark.anyio"))
    result = pytester.runpytest("-v", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*::test_a_reminder_arrives_when_its_timer_fires[[]asyncio[]] PASSED*",
            "*::test_a_reminder_arrives_when_its_timer_fires[[]trio[]] PASSED*",
        ],
    )


def test_on_trio_the_channels_run_inside_trio(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "trio"
        """
    )
    pytester.makepyfile(
        """
        import pytest
        import trio
        from pytest_channels import Channel, ok, reply

        class TrioChannel(Channel):
            def join(self, topic, payload, socket):
                return ok(socket)

            async def handle_in(self, event, payload, socket):
                await trio.lowlevel.checkpoint()  # raises outside trio
                return reply(socket, "ok", {"task": trio.lowlevel.current_task().name != ""})

        @pytest.mark.anyio
        async def test_trio(channels):
            socket = await channels.subscribe_and_join_or_raise(channels.socket(), "t", channel=TrioChannel)
            ref = channels.push(socket, "which")
            await channels.assert_reply(ref, "ok", {"task": True})
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
