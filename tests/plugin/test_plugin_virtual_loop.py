"""The virtual event loop through the plugin: every way of running async tests, side by side
with a user's own hooks and freezegun, in any order and across xdist workers."""

from __future__ import annotations

import pytest

# Channel code that sleeps by itself: on a virtual loop each of these takes no real time.
SLEEPY = """
import asyncio
import datetime as dt

import anyio
from pytest_channels import Channel, ok, reply


class Sleepy(Channel):
    def join(self, topic, payload, socket):
        return ok(socket)

    async def handle_in(self, event, payload, socket):
        if event == "hang":
            await anyio.Event().wait()
        if event == "poll":
            while True:
                await asyncio.sleep(5)  # virtual time, not real-time: no real wait
        await anyio.sleep(payload["seconds"])
        return reply(socket, "ok", {"at": dt.datetime.now(dt.UTC).isoformat()})
"""

TESTS = """
import asyncio

import anyio
import pytest
from sleepy import Sleepy

pytestmark = pytest.mark.channels(virtual_loop=True)


def test_sync(channels):
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "s", channel=Sleepy)
    ref = channels.push(socket, "sleep", {"seconds": 3600})
    channels.assert_reply(ref, "ok", {"at": "2024-01-01T01:00:00+00:00"}, timeout=3600)


@pytest.mark.asyncio
async def test_pytest_asyncio(channels):
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "s", channel=Sleepy)
    ref = channels.push(socket, "sleep", {"seconds": 60})
    await asyncio.sleep(59)  # virtual time, not real-time: no real wait
    await channels.refute_reply(ref, timeout=0)
    await channels.assert_reply(ref, "ok", {"at": "2024-01-01T00:01:00+00:00"}, timeout=1)


@pytest.mark.anyio
async def test_anyio(channels):
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "s", channel=Sleepy)
    ref = channels.push(socket, "sleep", {"seconds": 60})
    await anyio.sleep(60)  # virtual time, not real-time: no real wait
    await channels.assert_reply(ref, "ok", {"at": "2024-01-01T00:01:00+00:00"}, timeout=0)
"""

VIRTUAL_ANYIO_CONFTEST = """
import pytest
from pytest_channels.testing import virtual_anyio_backend


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return virtual_anyio_backend(request.param)
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(sleepy=SLEEPY)
    pytester.makeconftest(VIRTUAL_ANYIO_CONFTEST)
    return pytester


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_every_flavour_of_test_runs_in_virtual_time_in_both_pytest_asyncio_modes(
    project: pytest.Pytester, mode: str
) -> None:
    project.makepyfile(test_virtual=TESTS)
    result = project.runpytest("-p", "no:randomly", "-o", f"asyncio_mode={mode}")
    result.assert_outcomes(passed=4)  # sync, pytest-asyncio, anyio on asyncio and on trio


def test_the_suite_passes_in_random_order_and_across_xdist_workers(project: pytest.Pytester) -> None:
    project.makepyfile(test_virtual=TESTS, test_again=TESTS)
    for seed in ("1", "2"):
        project.runpytest("-p", "randomly", f"--randomly-seed={seed}").assert_outcomes(passed=8)
    project.runpytest_subprocess("-n", "2", "-p", "randomly", "--randomly-seed=3", timeout=120).assert_outcomes(
        passed=8
    )


def test_the_ini_option_puts_the_whole_suite_on_the_virtual_loop(project: pytest.Pytester, make_ini: object) -> None:
    project.makeini(
        """
        [pytest]
        asyncio_default_fixture_loop_scope = function
        channels_virtual_loop = true
        filterwarnings = error
        """
    )
    project.makepyfile(
        """
        import asyncio
        import pytest
        from pytest_channels._runtime._clock import LoopClock
        from pytest_channels.testing import VirtualTimeLoop

        @pytest.mark.asyncio
        async def test_on_the_virtual_loop(channels):
            assert isinstance(asyncio.get_running_loop(), VirtualTimeLoop)
            assert isinstance(channels.clock, LoopClock)

        @pytest.mark.asyncio
        @pytest.mark.channels(virtual_loop=False)
        async def test_a_marker_opts_out(channels):
            assert not isinstance(asyncio.get_running_loop(), VirtualTimeLoop)
        """
    )
    project.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_freezegun_in_the_users_own_test_still_works_beside_the_virtual_loop(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import datetime as dt
        import pytest
        from freezegun import freeze_time
        from sleepy import Sleepy

        @pytest.mark.channels(virtual_loop=True)
        def test_own_freeze(channels):
            with freeze_time("2031-05-05T00:00:00Z"):
                assert dt.datetime.now(dt.UTC).year == 2031
            # The fixture's own freeze is back in charge after the user's ends.
            assert dt.datetime.now(dt.UTC) == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "s", channel=Sleepy)
            ref = channels.push(socket, "sleep", {"seconds": 5})
            channels.assert_reply(ref, "ok", {"at": "2024-01-01T00:00:05+00:00"}, timeout=5)
        """
    )
    project.runpytest("-p", "no:randomly").assert_outcomes(passed=1)


def test_a_conftest_hook_of_its_own_coexists_and_a_real_loop_is_refused_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(sleepy=SLEEPY)
    pytester.makeconftest(
        """
        import asyncio
        import pytest
        from pytest_channels.testing import virtual_loop_factory

        def pytest_asyncio_loop_factories(config, item):
            if item.get_closest_marker("mine"):
                return {"virtual": virtual_loop_factory}
            return {"default": asyncio.new_event_loop}

        def pytest_configure(config):
            config.addinivalue_line("markers", "mine: uses the virtual loop")
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from sleepy import Sleepy

        @pytest.mark.asyncio
        @pytest.mark.mine
        @pytest.mark.channels(virtual_loop=True)
        async def test_the_users_hook_chose_the_virtual_loop(channels):
            socket = await channels.subscribe_and_join_or_raise(channels.socket(), "s", channel=Sleepy)
            await channels.assert_reply(channels.push(socket, "nap", {"seconds": 30}), "ok", timeout=30)

        @pytest.mark.asyncio
        @pytest.mark.channels(virtual_loop=True)
        async def test_the_users_hook_gave_a_real_loop(channels):
            await channels.settle()
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *RuntimeError: channels(virtual_loop=True) was asked for, but this test runs on "
            "<*UnixSelectorEventLoop *>, whose clock is real. A pytest_asyncio_loop_factories hook in your "
            "conftest.py probably won over the plugin's: return "
            '{"virtual": pytest_channels.testing.virtual_loop_factory} for such tests. With anyio, use '
            "pytest_channels.testing.virtual_anyio_backend(...) as the anyio_backend fixture's value."
        ]
    )


def test_async_tests_that_never_finish_fail_at_the_virtual_end_of_time(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest
        from sleepy import Sleepy

        @pytest.mark.anyio
        @pytest.mark.channels(max_time=600)
        async def test_hang(channels):
            socket = await channels.subscribe_and_join_or_raise(channels.socket(), "s", channel=Sleepy)
            channels.push(socket, "hang")
            await channels.settle()
        """
    )
    result = project.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E *pytest_channels.testing.VirtualTimeLimit: virtual time reached max_time=600s while the test was "
            "still waiting (t=600.000s). Either nothing can ever wake up (a deadlock: something awaits an "
            "event nobody sets), or timers keep firing while a wait is never satisfied (a periodic refresh). "
            "Raise max_time (@pytest.mark.channels(max_time=...)) if the test really spans that long.",
            "E *Channels busy:",
            "E *  - Sleepy (topic 's') in handle_in('hang')",
            "E *Runtime timers pending:",
            "E *  (none)",
        ]
    )


def test_a_sync_test_whose_channel_polls_forever_fails_at_max_time_and_tears_down_cleanly(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        """
        import pytest
        from sleepy import Sleepy

        @pytest.mark.channels(virtual_loop=True, max_time=60)
        def test_poll(channels):
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "s", channel=Sleepy)
            channels.push(socket, "poll")
            channels.settle()
        """
    )
    result = project.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)  # and no teardown error on top
    result.stdout.fnmatch_lines(
        ["E *pytest_channels.testing.VirtualTimeLimit: the next timer is at t=65.000s, past max_time=60s*"]
    )
