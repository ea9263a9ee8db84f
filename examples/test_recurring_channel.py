"""RecurringChannel: a token every 5 s, an hour of them in virtual time."""

from __future__ import annotations

import pytest
from hello_sockets.sockets import AuthSocket

from pytest_channels import Push, Socket, TokenError
from pytest_channels.testing import ChannelCase, Where


def join_recurring(channels: ChannelCase, user_id: int = 1) -> Socket:
    token = channels.runtime.tokens.sign("salt identifier", user_id)
    socket = channels.connect(AuthSocket, {"token": token}).socket
    return channels.subscribe_and_join_or_raise(socket, "recurring")


def test_a_token_is_pushed_every_5_seconds(channels: ChannelCase) -> None:
    join_recurring(channels)

    channels.refute_push("new_token", timeout=4.999)
    channels.assert_push("new_token", timeout=0.001)
    channels.assert_push("new_token", timeout=5)
    assert channels.now == 10


def test_each_token_verifies_to_the_user_and_expires_after_its_max_age(channels: ChannelCase) -> None:
    join_recurring(channels, user_id=42)
    tokens = channels.runtime.tokens

    push = channels.assert_push("new_token", Where(lambda p: isinstance(p["token"], str)), timeout=5)
    assert tokens.verify("salt identifier", push.payload["token"], max_age=60) == 42

    channels.advance(61)
    with pytest.raises(TokenError, match="expired"):
        tokens.verify("salt identifier", push.payload["token"], max_age=60)
    assert tokens.verify("salt identifier", push.payload["token"], max_age=3600) == 42


def test_an_hour_of_virtual_time_yields_720_tokens(channels: ChannelCase) -> None:
    join_recurring(channels)

    channels.advance(3600)

    pushes = [m for m in channels.flush() if isinstance(m, Push)]
    assert len(pushes) == 720
    assert len({p.payload["token"] for p in pushes}) == 720  # each signed at its own instant
    assert channels.now == 3600


def test_tokens_signed_at_different_times_differ(channels: ChannelCase) -> None:
    join_recurring(channels)
    first = channels.assert_push("new_token", timeout=5)
    second = channels.assert_push("new_token", timeout=5)
    assert first.payload["token"] != second.payload["token"]
