"""Configuration from docs/getting-started.md: ini options, and the `channels` marker (closest wins)."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest
from chat_app import ChatSocket

from pytest_channels import PayloadError
from pytest_channels.testing import ChannelCase

pytestmark = pytest.mark.channels(assert_timeout=1, refute_timeout=0.5)


def test_the_module_marker_applies(channels: ChannelCase) -> None:
    assert (channels.settings.assert_timeout, channels.settings.refute_timeout) == (1, 0.5)


@pytest.mark.channels(assert_timeout=5)
class TestTheClosestMarkerWins:
    def test_the_class_marker_overrides_the_module_marker(self, channels: ChannelCase) -> None:
        assert (channels.settings.assert_timeout, channels.settings.refute_timeout) == (5, 0.5)

    @pytest.mark.channels(assert_timeout=60)
    def test_the_function_marker_overrides_the_class_marker(self, channels: ChannelCase) -> None:
        socket = channels.connect(ChatSocket, {"name": "ada"}).socket
        socket = channels.subscribe_and_join_or_raise(socket, "room:lobby")
        channels.push(socket, "remind_me", {"after": 60, "text": "tea"})
        channels.assert_push("reminder")  # waits up to 60 virtual seconds
        assert channels.now == 60


@pytest.mark.channels(wall_start=dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.UTC))
def test_wall_start_sets_the_wall_clock_of_instant_zero(channels: ChannelCase) -> None:
    channels.advance(90)
    assert dt.datetime.now(dt.UTC) == dt.datetime(2030, 1, 1, 9, 1, 30, tzinfo=dt.UTC)


def test_payloads_must_be_json_by_default(channels: ChannelCase) -> None:
    socket = channels.connect(ChatSocket, {"name": "ada"}).socket
    socket = channels.subscribe_and_join_or_raise(socket, "room:lobby")
    with pytest.raises(PayloadError, match=r"payload\['tags'\] = \{'a'\} \(set\) cannot be sent as JSON"):
        channels.push(socket, "ping", {"tags": {"a"}})


PYPROJECT = """\
[tool.pytest.ini_options]
channels_assert_timeout = 0.5
channels_refute_timeout = 0.05
channels_idle_timeout = 2
channels_freeze_time = true
channels_wall_start = "2030-01-01T09:00:00Z"
channels_check_payloads = true
"""

INNER_TEST = """
import datetime as dt

import pytest


def test_the_ini_options_are_the_defaults(channels):
    settings = channels.settings
    assert (settings.assert_timeout, settings.refute_timeout, settings.idle_timeout) == (0.5, 0.05, 2)
    assert dt.datetime.now(dt.UTC) == dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.UTC)


@pytest.mark.channels(assert_timeout=3)
def test_a_marker_still_wins_over_the_ini(channels):
    assert channels.settings.assert_timeout == 3
"""


def test_ini_options_set_the_defaults_for_every_test(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(PYPROJECT + 'asyncio_default_fixture_loop_scope = "function"\n')
    pytester.makepyfile(test_inner=textwrap.dedent(INNER_TEST))
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_bad_ini_value_stops_the_run_at_start_up(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nchannels_assert_timeout = "soon"\nasyncio_default_fixture_loop_scope = "function"\n'
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini: channels_assert_timeout must be a number of seconds (got 'soon')"])
