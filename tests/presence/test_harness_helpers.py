"""The harness's presence helpers: presence_list, assert_presence, and what a failing one says."""

from __future__ import annotations

from typing import Any

import pytest
from dirty_equals import IsPartialDict

from pytest_channels.testing import AsyncChannelCase, ChannelCase

from .rooms import RoomChannel, RoomPresence


def join(channels: ChannelCase, user: str) -> None:
    channels.join(channels.socket(), "room:1", {"user": user}, channel=RoomChannel)


def test_presence_list_shows_what_the_node_lists_now_without_running_anything(channels: ChannelCase) -> None:
    assert channels.presence_list(RoomPresence, "room:1") == {}
    channels.runtime.start_join(
        channels.socket(), "room:1", {"user": "alice"}, channels._core.mailbox, channel=RoomChannel
    )
    assert channels.presence_list(RoomPresence, "room:1") == {}  # queued, not run
    channels.settle()
    assert set(channels.presence_list(RoomPresence, "room:1")) == {"alice"}


def test_assert_presence_takes_keys_or_keys_with_metas_and_returns_the_list(channels: ChannelCase) -> None:
    join(channels, "alice")
    listed = channels.assert_presence(RoomPresence, "room:1", ["alice"])
    assert listed["alice"]["metas"][0]["device"] == "web"
    channels.assert_presence(RoomPresence, "room:1", {"alice": [{"device": "web"}]})
    channels.assert_presence(RoomPresence, "room:1", {"alice": [IsPartialDict(device="web")]})
    channels.assert_presence(RoomPresence, "room:1", {"alice": IsPartialDict(metas=[IsPartialDict(device="web")])})


def test_a_failing_assert_presence_shows_the_list_the_diffs_and_their_virtual_times(channels: ChannelCase) -> None:
    join(channels, "alice")
    channels.advance(2)
    join(channels, "bob")
    with pytest.raises(AssertionError) as failure:
        channels.assert_presence(RoomPresence, "room:1", {"alice", "carol"}, timeout=1)
    message = str(failure.value)
    assert "RoomPresence.list('room:1') on the test's runtime is not the expected one after 1s" in message
    assert "(t=2.000s to t=3.000s)" in message
    assert "Expected:\n  keys ['alice', 'carol']" in message
    assert "Listed at t=3.000s:\n  - 'alice': [{'device': 'web', 'phx_ref':" in message
    assert "  - t=0.000s 'room:1' joins {'alice': 1} leaves {}" in message
    assert "  - t=2.000s 'room:1' joins {'bob': 1} leaves {}" in message
    assert "no other node" in message


def test_a_malformed_expectation_fails_at_once(channels: ChannelCase) -> None:
    with pytest.raises(TypeError, match="the expected presences are keys"):
        channels.assert_presence(RoomPresence, "room:1", "alice")
    with pytest.raises(TypeError, match="needs your Presence subclass first"):
        channels.assert_presence("room:1", {"alice"})
    with pytest.raises(TypeError, match="takes a topic and the expected presences"):
        channels.assert_presence(RoomPresence, {"alice"})


@pytest.mark.asyncio
async def test_the_async_case_awaits_assert_presence(channels: AsyncChannelCase) -> None:
    async_channels = channels
    await async_channels.join(async_channels.socket(), "room:1", {"user": "alice"}, channel=RoomChannel)
    listed = await async_channels.assert_presence(RoomPresence, "room:1", {"alice"})
    assert set(listed) == {"alice"}
    assert set(async_channels.presence_list(RoomPresence, "room:1")) == {"alice"}


def test_a_fetched_presence_is_expected_whole_with_its_metas_compared_without_refs() -> None:
    class Named(RoomPresence):
        def fetch(self, topic: str, presences: dict[str, Any]) -> dict[str, Any]:
            return {key: {**p, "name": key.title()} for key, p in presences.items()}

    class NamedRoom(RoomChannel):
        presence = Named

    with ChannelCase() as channels:
        channels.join(channels.socket(), "room:1", {"user": "alice"}, channel=NamedRoom)
        channels.assert_presence(Named, "room:1", {"alice": {"metas": [{"device": "web"}], "name": "Alice"}})
        with pytest.raises(AssertionError, match="is not the expected one"):
            channels.assert_presence(
                Named, "room:1", {"alice": {"metas": [{"device": "web"}], "name": "Bob"}}, timeout=0
            )
