"""The Phoenix.ChannelTest idioms of docs/phoenix-mapping.md, as pytest_channels tests."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from chat_app import ChatSocket, RoomChannel

from pytest_channels import Channel, Close, JoinResult, Ok, Push, Reason, Reply, Socket, TokenError, ok
from pytest_channels.testing import ChannelCase, Partial, Where


def test_subscribe_and_join_returns_ok_or_error(channels: ChannelCase) -> None:
    # Phoenix: assert {:ok, _, socket} = socket(UserSocket, nil, %{}) |> subscribe_and_join("room:lobby", %{})
    result = channels.subscribe_and_join(channels.socket(ChatSocket, None, {"name": "ada"}), "room:lobby", {})
    assert isinstance(result, Ok)
    assert result.reply == {"topic": "room:lobby"}

    # Phoenix: socket = subscribe_and_join!(socket, "room:lobby")
    socket = channels.subscribe_and_join_or_raise(channels.socket(ChatSocket, None, {"name": "bob"}), "room:lobby")
    assert socket.joined


def lobby(channels: ChannelCase) -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(ChatSocket, None, {"name": "ada"}), "room:lobby")


def test_payloads_compare_exactly_and_partial_matches_a_subset(channels: ChannelCase) -> None:
    socket = lobby(channels)
    ref = channels.push(socket, "ping", {"n": 1})
    # Phoenix: assert_reply ref, :ok, ^reply  (exact)    assert_reply ref, :ok, %{pong: 1}  (subset)
    with pytest.raises(AssertionError):
        channels.assert_reply(ref, "ok", {"pong": 1, "extra": True}, timeout=0)
    channels.assert_reply(ref, "ok", Partial(pong=1))


def test_a_guard_becomes_a_where_matcher(channels: ChannelCase) -> None:
    socket = lobby(channels)
    ref = channels.push(socket, "ping", {"n": 7})
    # Phoenix: assert_reply ref, :ok, %{pong: n} when n > 5
    channels.assert_reply(ref, "ok", Where(lambda payload: payload["pong"] > 5))


def test_sys_get_state_becomes_get_state(channels: ChannelCase) -> None:
    socket = lobby(channels)
    channels.push(socket, "say", {"body": "hello"})
    # Phoenix: :sys.get_state(socket.channel_pid).assigns
    assert channels.get_state(socket).assigns == {"name": "ada", "sent": 1}


def test_process_sleep_becomes_advance_and_the_mailbox_is_a_tuple(channels: ChannelCase) -> None:
    socket = lobby(channels)
    channels.push(socket, "remind_me", {"after": 1, "text": "tea"})
    channels.push(socket, "remind_me", {"after": 1, "text": "cake"})
    # Phoenix: Process.sleep(1050); {:messages, messages} = Process.info(self(), :messages)
    channels.advance(1.05)
    assert channels.mailbox == (
        Reply("room:lobby", "2", "ok", {"in": 1}, socket.join_ref),
        Reply("room:lobby", "3", "ok", {"in": 1}, socket.join_ref),
        Push("room:lobby", "reminder", {"text": "tea"}, socket.join_ref),
        Push("room:lobby", "reminder", {"text": "cake"}, socket.join_ref),
    )


def test_topic_narrows_an_assertion_to_one_channel(channels: ChannelCase) -> None:
    socket = channels.socket(ChatSocket, None, {"name": "ada"})
    first = channels.subscribe_and_join_or_raise(socket, "room:first")
    second = channels.subscribe_and_join_or_raise(socket, "room:second")
    channels.broadcast_from(first, "notice", {"text": "same event, same payload"})
    channels.broadcast_from(second, "notice", {"text": "same event, same payload"})
    # Phoenix: assert_receive %Phoenix.Socket.Message{topic: "room:second", event: "notice"}
    assert channels.assert_push("notice", topic="room:second").topic == "room:second"


def test_leave_returns_the_exit_and_never_kills_the_test(channels: ChannelCase) -> None:
    socket = lobby(channels)
    # Phoenix: Process.unlink(socket.channel_pid); ref = leave(socket); assert_reply ref, :ok
    exit = channels.leave(socket)
    assert exit.reason == ("shutdown", "left")
    assert channels.mailbox == (
        Reply("room:lobby", "2", "ok", {}, socket.join_ref),
        Close("room:lobby", ("shutdown", "left"), socket.join_ref),
    )


def test_close_returns_the_exit(channels: ChannelCase) -> None:
    socket = lobby(channels)
    # Phoenix: Process.unlink(socket.channel_pid); :ok = close(socket)
    assert channels.close(socket).reason == ("shutdown", "closed")
    assert channels.mailbox == ()


def test_an_expected_crash_is_claimed_with_assert_exit(channels: ChannelCase) -> None:
    socket = lobby(channels)
    channels.push(socket, "say", {})  # no "body": handle_in raises KeyError
    # Phoenix: Process.flag(:trap_exit, true); assert_receive {:EXIT, _pid, {%KeyError{}, _}}
    exit = channels.assert_exit(socket, Where(lambda reason: isinstance(reason, KeyError)))
    assert exit.crashed
    assert exit.channel == "RoomChannel"


class TimeoutChannel(Channel):
    """Phoenix's `def terminate(_reason, %{topic: "foo:timeout"}), do: :timer.sleep(:infinity)`."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def terminate(self, reason: Reason, socket: Socket) -> None:
        await anyio.sleep_forever()


@pytest.mark.channels(virtual_loop=True)
def test_close_kills_the_channel_when_terminate_does_not_return(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "foo:timeout", channel=TimeoutChannel)
    # Phoenix: close(socket, 0); assert_receive {:EXIT, ^pid, :killed}
    assert channels.close(socket, timeout=0).reason == "killed"
    # Phoenix: closing again doesn't crash
    assert channels.close(socket).reason == "killed"


@pytest.mark.channels(virtual_loop=True)
def test_terminate_gets_the_channels_shutdown(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "foo:timeout", channel=TimeoutChannel)
    # Phoenix: use Phoenix.Channel, shutdown: 5_000 (the default), in virtual seconds here
    assert channels.leave(socket).reason == "killed"
    assert channels.now == 5.0


def test_connect_subscribes_the_test_to_the_socket_id(channels: ChannelCase) -> None:
    channels.connect(ChatSocket, {"name": "ada"})
    # Phoenix: @endpoint.broadcast("user:ada", "disconnect", %{}); assert_broadcast "disconnect", %{}
    channels.runtime.broadcast("user:ada", "disconnect", {})
    channels.assert_broadcast("disconnect", {}, topic="user:ada")


def test_phoenix_token_becomes_runtime_tokens(channels: ChannelCase) -> None:
    tokens = channels.runtime.tokens
    # Phoenix: token = Phoenix.Token.sign(Endpoint, "salt", 1); {:ok, 1} = Phoenix.Token.verify(Endpoint, "salt", token)
    token = tokens.sign("salt", 1)
    assert tokens.verify("salt", token, max_age=60) == 1
    # Phoenix: {:error, :invalid} = Phoenix.Token.verify(Endpoint, "other salt", token)
    with pytest.raises(TokenError) as info:
        tokens.verify("other salt", token)
    assert info.value.reason == "invalid"


def test_an_explicit_channel_skips_the_routes(channels: ChannelCase) -> None:
    # Phoenix: subscribe_and_join(socket, RoomChannel, "anything", %{})
    socket = channels.subscribe_and_join_or_raise(
        channels.socket(None, None, {"name": "ada"}), "anything", channel=RoomChannel
    )
    assert socket.topic == "anything"
