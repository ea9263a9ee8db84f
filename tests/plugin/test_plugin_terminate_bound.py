"""Teardown never waits unbounded on a channel's `terminate`: past its `shutdown` the channel is
killed, and the teardown error names the channel and the line its `terminate` was waiting at.

The inner session runs in a subprocess with a timeout, so that a regressed bound fails this
test instead of hanging the suite.
"""

from __future__ import annotations

import pytest

STUCK = """
import anyio
import pytest
from pytest_channels import Channel, ok


class Stuck(Channel):
    def join(self, topic, payload, socket):
        return ok(socket)

    async def terminate(self, reason, socket):
        await anyio.sleep_forever()


class Impatient(Stuck):
    shutdown = 0


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.channels(virtual_loop=True)
def test_sync_on_a_virtual_loop(channels):
    channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Stuck)


@pytest.mark.channels(virtual_loop=True)
@pytest.mark.asyncio
async def test_async_on_a_virtual_loop(channels):
    await channels.subscribe_and_join_or_raise(channels.socket(), "room:2", channel=Stuck)


def test_sync_on_a_real_loop(channels):
    channels.subscribe_and_join_or_raise(channels.socket(), "room:3", channel=Impatient)


@pytest.mark.anyio
async def test_anyio_on_a_real_loop(channels):
    await channels.subscribe_and_join_or_raise(channels.socket(), "room:4", channel=Impatient)


@pytest.mark.channels(virtual_loop=True)
def test_that_fails_first(channels):
    channels.subscribe_and_join_or_raise(channels.socket(), "room:5", channel=Stuck)
    assert 1 == 2


def test_the_next_test_runs():
    pass
"""


def test_teardown_kills_a_channel_whose_terminate_never_returns_and_says_where_it_waited(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_stuck=STUCK)
    result = pytester.runpytest_subprocess("-p", "no:randomly", timeout=120)  # real-time: a hang fails, not waits
    result.assert_outcomes(passed=6, failed=1, errors=6)
    virtual = "did not return within 5 virtual seconds (Stuck.shutdown) and was cut short. It was waiting at:"
    real = "did not return within 0 real seconds (Impatient.shutdown) and was cut short. It was waiting at:"
    waiting = ['      File "*test_stuck.py", line 11, in terminate', "        await anyio.sleep_forever()"]
    for test, channel, topic, bound in [
        ("test_sync_on_a_virtual_loop", "Stuck", "room:1", virtual),
        ("test_async_on_a_virtual_loop", "Stuck", "room:2", virtual),
        ("test_sync_on_a_real_loop", "Impatient", "room:3", real),
        ("test_anyio_on_a_real_loop?asyncio?", "Impatient", "room:4", real),
        ("test_anyio_on_a_real_loop?trio?", "Impatient", "room:4", real),
        ("test_that_fails_first", "Stuck", "room:5", virtual),
    ]:
        result.stdout.fnmatch_lines(
            [
                f"*_ ERROR at teardown of {test} _*",
                "",
                f"E   pytest_channels.testing.ChannelCrashed: {channel} on '{topic}' stopped abnormally at t=* "
                "with 'killed'.",
                f"    It was killed: its terminate('shutdown') {bound}",
                *waiting,
                f"    Make terminate return sooner, or give it more time: {channel}.shutdown = <seconds> (now *).",
            ],
            consecutive=True,
        )
    result.stdout.fnmatch_lines(["*FAILED test_stuck.py::test_that_fails_first - assert 1 == 2*"])
