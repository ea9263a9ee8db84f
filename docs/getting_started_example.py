"""The tests from docs/getting-started.md, run with the test suite."""

from __future__ import annotations

import pytest
from chat_app import ChatSocket

from pytest_channels import Ok, Socket, error
from pytest_channels.testing import ChannelCase


def test_a_user_with_a_name_can_connect(channels: ChannelCase) -> None:
    result = channels.connect(ChatSocket, {"name": "ada"})
    assert isinstance(result, Ok)
    assert result.socket.id == "user:ada"
    assert result.socket.assigns == {"name": "ada", "staff": False}


def test_a_user_without_a_name_is_refused(channels: ChannelCase) -> None:
    assert channels.connect(ChatSocket, {}) == error({"reason": "a name is required"})


def test_joining_a_room_replies_with_its_topic(channels: ChannelCase) -> None:
    socket = channels.connect(ChatSocket, {"name": "ada"}).socket
    result = channels.subscribe_and_join(socket, "room:lobby")
    assert isinstance(result, Ok)
    assert result.reply == {"topic": "room:lobby"}
    assert result.socket.assigns == {"name": "ada", "staff": False, "sent": 0}


def test_the_staff_room_refuses_other_users(channels: ChannelCase) -> None:
    socket = channels.connect(ChatSocket, {"name": "ada"}).socket
    assert channels.subscribe_and_join(socket, "room:staff") == error({"reason": "unauthorized"})


def join_lobby(channels: ChannelCase, name: str = "ada") -> Socket:
    socket = channels.connect(ChatSocket, {"name": name}).socket
    return channels.subscribe_and_join_or_raise(socket, "room:lobby")


def test_a_ping_is_answered_with_a_pong(channels: ChannelCase) -> None:
    socket = join_lobby(channels)
    ref = channels.push(socket, "ping", {"n": 1})
    channels.assert_reply(ref, "ok", {"pong": 1})


def test_a_broadcast_on_the_topic_reaches_the_client(channels: ChannelCase) -> None:
    socket = join_lobby(channels)
    channels.broadcast_from(socket, "notice", {"text": "maintenance at noon"})
    channels.assert_push("notice", {"text": "maintenance at noon"})


def test_what_a_user_says_is_broadcast_to_the_room(channels: ChannelCase) -> None:
    socket = join_lobby(channels)
    channels.push(socket, "say", {"body": "hello"})
    channels.assert_broadcast("said", {"from": "ada", "body": "hello"})
    channels.assert_push("said", {"from": "ada", "body": "hello"})
    assert channels.get_state(socket).assigns["sent"] == 1


def test_a_reminder_arrives_after_its_delay(channels: ChannelCase) -> None:
    socket = join_lobby(channels)
    ref = channels.push(socket, "remind_me", {"after": 60, "text": "tea"})
    channels.assert_reply(ref, "ok", {"in": 60})

    channels.advance(59)
    channels.refute_push("reminder", timeout=0)
    channels.advance(1)
    channels.assert_push("reminder", {"text": "tea"}, timeout=0)
    assert channels.now == 60


def test_the_failure_message_shows_the_mailbox_and_the_timers(channels: ChannelCase) -> None:
    socket = join_lobby(channels)
    channels.push(socket, "remind_me", {"after": 60, "text": "tea"})
    with pytest.raises(AssertionError) as info:
        channels.assert_push("reminder", {"text": "tea"})
    assert str(info.value) == "\n".join(
        [
            "assert_push('reminder'): nothing matched within 100 ms of virtual time (t=0.000s to t=0.100s).",
            "Expected: Push(event='reminder', payload={'text': 'tea'})",
            "The mailbox holds 1 unconsumed message(s), closest first:",
            "  - Reply(topic='room:lobby', ref='2', status='ok', payload={'in': 60}, t=0.000s)",
            "Timers still pending:",
            "  - at 60.000s: RoomChannel (topic 'room:lobby') handle_info(('remind', 'tea'))",
            "Hint: a timer fires at 60.000s, after the deadline. "
            "Pass a longer timeout= or call channels.advance(...) first.",
        ]
    )
