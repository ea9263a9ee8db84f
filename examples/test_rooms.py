"""The rooms application: online lists as the official JavaScript client syncs them, typing that expires,
and a partition between two nodes, all in virtual time."""

from __future__ import annotations

from typing import NamedTuple
from unittest.mock import ANY

from rooms.channel import TYPING_FOR
from rooms.presence import RoomPresence
from rooms.sockets import RoomSocket

from pytest_channels.testing import ChannelCase, ClientChannel, ClientPresence, Partial

PERIOD = RoomPresence.broadcast_period
SILENT = PERIOD * RoomPresence.max_silent_periods
DOWN = RoomPresence.down_period or 0.0


class Member(NamedTuple):
    """A user's browser tab: the lobby channel, and the online list its page shows."""

    room: ClientChannel
    online: ClientPresence


def enter(channels: ChannelCase, user: str, *, node: str | None = None, device: str = "web") -> Member:
    """The official client connects, makes its Presence, then joins the lobby, as the page's script does."""
    client = channels.client(RoomSocket, {"user": user}, node=node)
    client.connect()
    room = client.channel("room:lobby", {"device": device})
    online = ClientPresence(room)  # new Presence(channel), before channel.join()
    room.join()
    return Member(room, online)


def test_everyone_sees_who_is_online_with_their_names(channels: ChannelCase) -> None:
    ada = enter(channels, "ada")
    grace = enter(channels, "grace")
    channels.assert_presence(ada.online, {"ada", "grace"})
    listed = channels.assert_presence(grace.online, {"ada": [{"device": "web", "typing": False}], "grace": ANY})
    assert listed["ada"]["name"] == "Ada Lovelace"  # added by fetch, once for each diff's batch


def test_one_user_on_two_devices_stays_online_until_the_last_one_leaves(channels: ChannelCase) -> None:
    ada = enter(channels, "ada")
    phone = enter(channels, "grace", device="phone")
    laptop = enter(channels, "grace", device="laptop")
    devices = [Partial(device="phone"), Partial(device="laptop")]
    channels.assert_presence(ada.online, {"ada": ANY, "grace": devices})
    phone.room.leave()
    channels.assert_presence(ada.online, {"ada": ANY, "grace": [Partial(device="laptop")]})
    laptop.room.leave()
    channels.assert_presence(ada.online, {"ada"})


def test_a_typing_indicator_expires_three_seconds_after_the_last_keystroke(channels: ChannelCase) -> None:
    ada = enter(channels, "ada")
    grace = enter(channels, "grace")
    channels.settle()
    grace.room.push("typing")
    channels.assert_presence(ada.online, {"ada": ANY, "grace": [{"device": "web", "typing": True}]}, timeout=0)
    channels.advance(2)
    grace.room.push("typing")  # still typing: the indicator lasts three seconds from now
    channels.advance(TYPING_FOR - 0.001)
    assert ada.online.state["grace"]["metas"][0]["typing"] is True
    channels.assert_presence(ada.online, {"ada": ANY, "grace": [{"device": "web", "typing": False}]}, timeout=0.001)
    assert channels.now == 2 + TYPING_FOR


def test_a_crashed_channel_shows_as_a_leave_and_its_rejoin_syncs_again(channels: ChannelCase) -> None:
    ada = enter(channels, "ada")
    grace = enter(channels, "grace")
    channels.assert_presence(ada.online, {"ada", "grace"})
    assert grace.room.socket is not None
    channels.crash(grace.room.socket)
    channels.assert_presence(ada.online, {"ada"}, timeout=0)
    # phoenix.js rejoins one second later; the new join's state re-syncs grace's own list too.
    channels.assert_presence(ada.online, {"ada", "grace"}, timeout=1)
    channels.assert_presence(grace.online, {"ada", "grace"}, timeout=0)


def test_a_partition_splits_the_online_list_after_the_down_period_and_the_heal_joins_it(
    channels: ChannelCase,
) -> None:
    cluster = channels.cluster("server", "remote")
    ada = enter(channels, "ada", node="server")
    grace = enter(channels, "grace", node="remote")
    for room in (ada, grace):
        channels.assert_presence(room.online, {"ada", "grace"}, timeout=PERIOD)

    cluster.network.partition(["server"], ["remote"])
    channels.advance(DOWN - PERIOD)  # not yet: the down period has not passed
    assert set(ada.online.state) == {"ada", "grace"}
    channels.assert_presence(ada.online, {"ada"}, timeout=2 * PERIOD)
    channels.assert_presence(grace.online, {"grace"}, timeout=2 * PERIOD)

    alan = enter(channels, "alan", node="remote")  # joins during the partition: only remote knows
    channels.assert_presence(alan.online, {"grace", "alan"})

    cluster.network.heal()
    for room in (ada, grace, alan):
        channels.assert_presence(room.online, {"ada", "grace", "alan"}, timeout=SILENT + 3 * PERIOD)
