"""A suite that uses the `channels` fixture passes in any order and spread over xdist workers:
every test gets its own runtime, clock and frozen time, and gives them all back."""

from __future__ import annotations

import pytest

SYNC_TESTS = """
import datetime as dt
import time

import pytest
from pytest_channels.testing import Where
from sample_channels import RoomChannel

IMPORTED_AT = time.time()


def join(channels, topic="room:1"):
    socket = channels.subscribe_and_join_or_raise(channels.socket(), topic, channel=RoomChannel)
    channels.assert_push("welcome", {"topic": topic}, timeout=0)
    return socket


def test_a_reminder(channels):
    assert channels.now == 0
    socket = join(channels)
    channels.push(socket, "remind", {"after": 30, "text": "stretch"})
    channels.assert_push("reminder", {"text": "stretch"}, timeout=30)
    assert dt.datetime.now(dt.UTC) == dt.datetime(2024, 1, 1, 0, 0, 30, tzinfo=dt.UTC)


def test_a_reminder_that_is_not_due_yet(channels):
    assert channels.now == 0
    socket = join(channels, "room:2")
    channels.push(socket, "remind", {"after": 3600, "text": "lunch"})
    channels.refute_push("reminder", timeout=3599)
    assert channels.now == 3599


def test_a_claimed_crash(channels):
    socket = join(channels)
    channels.push(socket, "boom")
    channels.assert_exit(socket, reason=Where(lambda e: isinstance(e, ValueError)))


@pytest.mark.channels(wall_start="2030-01-01T00:00:00Z", refute_timeout=10)
def test_a_marked_clock(channels):
    assert channels.mailbox == ()
    channels.refute_push()
    assert dt.datetime.now(dt.UTC) == dt.datetime(2030, 1, 1, 0, 0, 10, tzinfo=dt.UTC)


@pytest.mark.channels(freeze_time=False)
def test_an_unfrozen_clock(channels):
    socket = join(channels)
    ref = channels.push(socket, "clock")
    assert channels.assert_reply(ref, "ok").payload["time"] >= IMPORTED_AT


def test_no_channels_and_the_real_clock():
    assert time.time() >= IMPORTED_AT
"""

ASYNC_TESTS = """
import datetime as dt

import pytest
from sample_channels import RoomChannel


async def scenario(channels):
    assert channels.now == 0
    assert channels.mailbox == ()
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=RoomChannel)
    ref = channels.push(socket, "remind", {"after": 2, "text": "tea"})
    await channels.assert_reply(ref, "ok", {"in": 2})
    await channels.assert_push("reminder", {"text": "tea"}, timeout=2)
    assert dt.datetime.now(dt.UTC) == dt.datetime(2024, 1, 1, 0, 0, 2, tzinfo=dt.UTC)
    await channels.leave(socket)


@pytest.mark.asyncio
async def test_on_pytest_asyncio(channels):
    await scenario(channels)


@pytest.mark.anyio
async def test_on_anyio(channels):
    await scenario(channels)
"""

SUITE_SIZE = 6 + 3


def write_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite_sync=SYNC_TESTS, test_suite_async=ASYNC_TESTS)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_suite_passes_in_random_order(pytester: pytest.Pytester, seed: int) -> None:
    write_suite(pytester)
    result = pytester.runpytest("-p", "randomly", f"--randomly-seed={seed}")
    result.assert_outcomes(passed=SUITE_SIZE)
    result.stdout.fnmatch_lines([f"Using --randomly-seed={seed}"])


def test_the_suite_passes_in_reverse_order(pytester: pytest.Pytester) -> None:
    write_suite(pytester)
    pytester.makepyfile(reverse_order="def pytest_collection_modifyitems(items):\n    items.reverse()\n")
    pytester.syspathinsert()
    result = pytester.runpytest("-v", "-p", "no:randomly", "-p", "reverse_order")
    result.assert_outcomes(passed=SUITE_SIZE)
    result.stdout.fnmatch_lines(
        [
            "test_suite_sync.py::test_no_channels_and_the_real_clock PASSED*",
            "test_suite_sync.py::test_a_reminder PASSED*",
            "test_suite_async.py::test_on_anyio[[]trio[]] PASSED*",
            "test_suite_async.py::test_on_pytest_asyncio PASSED*",
        ]
    )


def test_the_suite_passes_on_two_xdist_workers(pytester: pytest.Pytester) -> None:
    write_suite(pytester)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:randomly", timeout=120)
    result.assert_outcomes(passed=SUITE_SIZE)
    result.stdout.fnmatch_lines(["created: 2/2 workers"])


def test_the_suite_passes_on_two_xdist_workers_in_random_order(pytester: pytest.Pytester) -> None:
    write_suite(pytester)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "randomly", "--randomly-seed=5", timeout=120)
    result.assert_outcomes(passed=SUITE_SIZE)
