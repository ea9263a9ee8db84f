"""The rows "Added since" of docs/phoenix-mapping.md: calls, idle timeouts, telemetry, encrypted tokens."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_channels import (
    CallRef,
    CallResult,
    Channel,
    InfoResult,
    InResult,
    JoinResult,
    Socket,
    TokenError,
    call_reply,
    noreply,
    ok,
)
from pytest_channels.testing import ChannelCase


class Game(Channel):
    """Counts moves; answers calls about them; nudges a player who goes quiet for 30 s."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.subscribe("game:announcements")  # allowed inside join, as in Phoenix
        return ok(socket.assign(moves=0))

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        return noreply(socket.assign(moves=socket.assigns["moves"] + 1), timeout=30)

    def handle_call(self, message: Any, from_: CallRef, socket: Socket) -> CallResult:
        return call_reply(socket, socket.assigns["moves"])

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        if message == "timeout":
            self.push("your_turn", {})
        return noreply(socket)


def test_a_call_asks_the_channel_and_a_quiet_player_is_nudged(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "game:1", channel=Game)
    channels.push(socket, "move", {"to": "e4"})
    # Phoenix: assert GenServer.call(socket.channel_pid, :moves) == 1
    assert channels.call(socket, "moves") == 1
    # Phoenix: {:noreply, socket, 30_000}, then handle_info(:timeout, socket). Any message
    # cancels the timeout, the call above included: only the next move sets it again.
    channels.push(socket, "move", {"to": "e5"})
    channels.refute_push("your_turn", timeout=29.999)
    channels.assert_push("your_turn", {}, timeout=0.001)


def test_telemetry_events_reach_attached_handlers(channels: ChannelCase) -> None:
    events: list[tuple[str, ...]] = []
    # Phoenix: :telemetry.attach("mine", [:phoenix, :channel_joined], &handle/4, nil)
    channels.runtime.telemetry.attach("mine", ("phoenix", "channel_joined"), lambda event, *_: events.append(event))
    channels.subscribe_and_join_or_raise(channels.socket(), "game:1", channel=Game)
    assert events == [("phoenix", "channel_joined")]


def test_encrypted_tokens_are_phoenix_tokens(channels: ChannelCase) -> None:
    pytest.importorskip("cryptography")
    tokens = channels.runtime.tokens
    # Phoenix: token = Phoenix.Token.encrypt(Endpoint, "user secret", %{"id" => 1}, max_age: 60)
    token = tokens.encrypt("user secret", {"id": 1}, max_age=60)
    assert tokens.decrypt("user secret", token) == {"id": 1}
    channels.advance(61)
    # Phoenix: {:error, :expired} = Phoenix.Token.decrypt(Endpoint, "user secret", token)
    with pytest.raises(TokenError, match=r"^expired$"):
        tokens.decrypt("user secret", token)
