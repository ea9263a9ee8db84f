"""The chapter's AuthSocketTest: tokens, refusals, and what gets logged."""

from __future__ import annotations

import pytest
from hello_sockets.sockets import AuthSocket

from pytest_channels import Ok, error
from pytest_channels.testing import ChannelCase


def generate_token(channels: ChannelCase, id: int, salt: str = "salt identifier") -> str:
    return channels.runtime.tokens.sign(salt, id)


def test_can_be_connected_to_with_a_valid_token(channels: ChannelCase) -> None:
    assert isinstance(channels.connect(AuthSocket, {"token": generate_token(channels, 1)}), Ok)
    assert isinstance(channels.connect(AuthSocket, {"token": generate_token(channels, 2)}), Ok)


def test_cannot_be_connected_to_with_an_invalid_salt(channels: ChannelCase, caplog: pytest.LogCaptureFixture) -> None:
    params = {"token": generate_token(channels, 1, salt="invalid")}
    assert channels.connect(AuthSocket, params) == error()
    assert "AuthSocket connect error invalid" in caplog.text
    assert caplog.records[0].levelname == "ERROR"


def test_cannot_be_connected_to_without_a_token(channels: ChannelCase, caplog: pytest.LogCaptureFixture) -> None:
    assert channels.connect(AuthSocket, {}) == error()
    assert "AuthSocket connect error missing params" in caplog.text


def test_cannot_be_connected_to_with_a_fake_token(channels: ChannelCase, caplog: pytest.LogCaptureFixture) -> None:
    assert channels.connect(AuthSocket, {"token": "nonsense"}) == error()
    assert "AuthSocket connect error invalid" in caplog.text


def test_a_token_older_than_a_day_is_refused_as_expired(
    channels: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    token = generate_token(channels, 1)
    channels.advance(86_400 + 1)  # a day of virtual time, no real waiting
    assert channels.connect(AuthSocket, {"token": token}) == error()
    assert "AuthSocket connect error expired" in caplog.text


def test_an_identifier_is_based_on_the_connected_id(channels: ChannelCase) -> None:
    socket = channels.connect(AuthSocket, {"token": generate_token(channels, 1)}).socket
    assert AuthSocket().id(socket) == "auth_socket:1"
    assert socket.id == "auth_socket:1"

    socket = channels.connect(AuthSocket, {"token": generate_token(channels, 2)}).socket
    assert socket.id == "auth_socket:2"
