"""A `BaseException` raised inside the event loop ends the harness's wait with that exception.

asyncio swallows any `BaseException` but `KeyboardInterrupt` and `SystemExit` that a callback
raises; pytest-timeout's signal alarm (a `pytest.fail`) landing in one used to leave the wait
asleep in `select()` forever.
"""

from __future__ import annotations

import pytest

# A callback that raises as pytest-timeout's alarm would when it lands inside it, before it
# could resolve the future the channel awaits: without the harness's handler, nothing ever
# wakes the wait again (the idle guard is set far away to make that a hang).
SWALLOWED = """
import asyncio
import pytest
from typing import Any
from pytest_channels import Channel, Socket, noreply, ok


class AlarmChannel(Channel):
    def join(self, topic: str, payload: Any, socket: Socket):
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket):
        loop = asyncio.get_running_loop()
        woken = loop.create_future()

        def alarm() -> None:
            raise pytest.fail.Exception("Timeout (0:00:01)!")

        loop.call_soon(alarm)
        loop.call_soon(lambda: None)  # the loop goes on with other callbacks, as it would
        await woken
        return noreply(socket)

"""


@pytest.mark.parametrize(
    ("header", "await_"),
    [
        pytest.param("def test_wait(channels):", "", id="def test"),
        pytest.param("@pytest.mark.asyncio\nasync def test_wait(channels):", "await ", id="asyncio test"),
        pytest.param(
            "@pytest.mark.channels(virtual_loop=True)\ndef test_wait(channels):", "", id="def test, virtual loop"
        ),
        pytest.param(
            "@pytest.mark.asyncio\n@pytest.mark.channels(virtual_loop=True)\nasync def test_wait(channels):",
            "await ",
            id="asyncio test, virtual loop",
        ),
    ],
)
def test_a_base_exception_swallowed_by_an_asyncio_callback_ends_the_wait_with_it(
    pytester: pytest.Pytester, header: str, await_: str
) -> None:
    pytester.makepyfile(
        SWALLOWED
        + "@pytest.mark.channels(idle_timeout=600)\n"
        + header
        + f"""
    socket = {await_}channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=AlarmChannel)
    channels.push(socket, "wait", {{}})
    {await_}channels.assert_push("never")
"""
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Failed: Timeout (0:00:01)!"])
    result.stdout.no_fnmatch_line("*NotIdle*")
    result.stdout.no_fnmatch_line("*Exception in callback*")
    result.stdout.no_fnmatch_line("*ERROR at teardown*")


def test_an_ordinary_exception_in_a_callback_still_goes_to_the_loops_own_handler(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio
        from typing import Any
        from pytest_channels import Channel, Socket, noreply, ok

        class DividingChannel(Channel):
            def join(self, topic: str, payload: Any, socket: Socket):
                return ok(socket)

            async def handle_in(self, event: str, payload: Any, socket: Socket):
                asyncio.get_running_loop().call_soon(lambda: 1 / 0)
                await asyncio.sleep(0)
                self.push("done", {})
                return noreply(socket)

        def test_logged(channels, caplog):
            socket = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=DividingChannel)
            channels.push(socket, "divide", {})
            channels.assert_push("done")
            assert "Exception in callback" in caplog.text
            assert "ZeroDivisionError" in caplog.text
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


# The channel keeps the loop busy with Python callbacks, so pytest-timeout's alarm nearly
# always lands inside one; its handler waits for an event nobody sets.
SPINNING = """
import asyncio
from typing import Any

import pytest
from pytest_channels import Channel, Socket, noreply, ok


class SpinningChannel(Channel):
    def join(self, topic: str, payload: Any, socket: Socket):
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket):
        loop = asyncio.get_running_loop()

        def spin() -> None:
            loop.call_soon(spin)

        spin()
        await asyncio.Event().wait()
        return noreply(socket)


@pytest.mark.channels(idle_timeout=600)
{header}
    socket = {await_}channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=SpinningChannel)
    channels.push(socket, "spin", {{}})
    {await_}channels.settle()
"""


@pytest.mark.parametrize(
    ("header", "await_"),
    [
        pytest.param("def test_spin(channels):", "", id="def test"),
        pytest.param("@pytest.mark.asyncio\nasync def test_spin(channels):", "await ", id="asyncio test"),
    ],
)
def test_pytest_timeouts_signal_alarm_fails_a_test_whose_channel_keeps_the_loop_busy(
    pytester: pytest.Pytester, header: str, await_: str
) -> None:
    pytester.makepyfile(SPINNING.format(header=header, await_=await_))
    # real-time: pytest-timeout's alarm is a real 1 s signal, over the test function only (a loaded
    # machine may spend that long in setup); the whole run is bounded at 60 s. Wherever the alarm
    # lands in the body, the test must fail with it, and teardown must not hang or err.
    options = ("-p", "timeout", "--timeout=1", "--timeout-method=signal", "-o", "timeout_func_only=true")
    result = pytester.runpytest_subprocess(*options, timeout=60)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Failed: Timeout (>1.0s) from pytest-timeout.*"])
    result.stdout.no_fnmatch_line("*NotIdle*")
