"""The chapter's WildcardChannelTest."""

from __future__ import annotations

import pytest
from hello_sockets.sockets import UserSocket

from pytest_channels import Ok, error
from pytest_channels.testing import ChannelCase


def test_ok_when_numbers_in_the_format_a_b_when_b_is_2a(channels: ChannelCase) -> None:
    result = channels.subscribe_and_join(channels.socket(UserSocket, None, {}), "wild:2:4", {})
    assert isinstance(result, Ok)
    assert result.socket.joined


def test_error_when_b_is_not_exactly_twice_a(channels: ChannelCase) -> None:
    assert channels.subscribe_and_join(channels.socket(UserSocket, None, {}), "wild:1:3", {}) == error({})


def test_error_when_3_numbers_are_provided(channels: ChannelCase) -> None:
    assert channels.subscribe_and_join(channels.socket(UserSocket, None, {}), "wild:1:2:3", {}) == error({})


def test_error_with_an_invalid_format_topic(channels: ChannelCase, caplog: pytest.LogCaptureFixture) -> None:
    result = channels.subscribe_and_join(channels.socket(UserSocket, None, {}), "wild:invalid", {})
    assert result == error({"reason": "join crashed"})
    assert "an exception was raised" in caplog.text
    assert "ValueError" in caplog.text


def test_a_pong_response_is_provided(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(UserSocket, None, {}), "wild:2:4", {})
    ref = channels.push(socket, "ping", {})
    reply = {"ping": "pong"}
    channels.assert_reply(ref, "ok", reply)  # exact: {"ping": "pong", "extra": True} would fail
