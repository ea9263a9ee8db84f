"""The examples of docs/real-suites.md, collected and run with the test suite."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest
from chat_app import ChatSocket
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_channels import Push, Socket
from pytest_channels.testing import AsyncChannelCase, CaseFactory, ChannelCase, LooksLikeMilliseconds, Partial

PYTEST_TIMEOUT = """
[tool.pytest.ini_options]
timeout = 60
timeout_method = "signal"
channels_idle_timeout = 5
"""


def test_the_recommended_timeout_settings_are_valid_configuration(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(textwrap.dedent(PYPROJECT + PYTEST_TIMEOUT.replace("[tool.pytest.ini_options]", "")))
    pytester.makepyfile("def test_passes(channels):\n    channels.settle()\n")
    result = pytester.runpytest("-p", "timeout", "--strict-config")
    result.assert_outcomes(passed=1)


PYPROJECT = """
[tool.pytest.ini_options]
asyncio_default_fixture_loop_scope = "function"
"""


@settings(max_examples=25, deadline=None)
@given(body=st.text(max_size=40))
def test_whatever_is_said_is_broadcast_as_said(channels_case: CaseFactory, body: str) -> None:
    with channels_case() as channels:
        socket = channels.connect(ChatSocket, {"name": "ada"}).socket
        socket = channels.subscribe_and_join_or_raise(socket, "room:lobby")
        channels.push(socket, "say", {"body": body})
        channels.assert_broadcast("said", {"from": "ada", "body": body})


async def join_as(channels: AsyncChannelCase, name: str, topic: str = "room:lobby") -> Socket:
    socket = (await channels.connect(ChatSocket, {"name": name})).socket
    return await channels.subscribe_and_join_or_raise(socket, topic)


def test_a_def_test_runs_the_async_helper(channels: ChannelCase) -> None:
    ada = channels.run(join_as, "ada")
    assert channels.get_state(ada).assigns["name"] == "ada"


@pytest.mark.asyncio
async def test_an_async_test_awaits_the_same_helper(channels: AsyncChannelCase) -> None:
    ada = await join_as(channels, "ada")
    assert (await channels.get_state(ada)).assigns["name"] == "ada"


def test_each_client_gets_its_own_copy_of_a_broadcast(channels: ChannelCase) -> None:
    ada = channels.run(join_as, "ada")
    bob = channels.run(join_as, "bob")
    channels.push(ada, "say", {"body": "hi"})
    channels.settle()
    assert len(channels.messages(Push, "said")) == 2  # one for each client's channel
    channels.assert_push("said", Partial(body="hi"), socket=bob)
    channels.assert_push("said", Partial(body="hi"), socket=ada)
    channels.flush()  # the test's own two broadcasts do not matter here


@pytest.mark.channels(strict_mailbox=True)
def test_nothing_is_left_unread(channels: ChannelCase) -> None:
    ada = channels.run(join_as, "ada")
    ref = channels.push(ada, "ping", {"n": 1})
    channels.assert_reply(ref, "ok", {"pong": 1})


def test_a_timeout_in_milliseconds_warns_and_a_timedelta_says_its_unit(channels: ChannelCase) -> None:
    ada = channels.run(join_as, "ada")
    channels.assert_reply(channels.push(ada, "remind_me", {"after": 90, "text": "tea"}), "ok")
    with pytest.warns(LooksLikeMilliseconds, match=r"^timeout=100 is in seconds here"):
        channels.assert_push("reminder", {"text": "tea"}, timeout=100)  # meant 100 ms, waited 90 s
    channels.assert_reply(channels.push(ada, "remind_me", {"after": 30, "text": "more tea"}), "ok")
    channels.assert_push("reminder", {"text": "more tea"}, timeout=dt.timedelta(seconds=30))
    assert channels.now == 120
