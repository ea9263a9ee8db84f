"""The simulated JavaScript client's Presence: presence.js's syncState and syncDiff, rule for rule."""

from __future__ import annotations

from typing import Any

from pytest_channels import InfoResult, SocketHandler, noreply, route
from pytest_channels.testing import ChannelCase, ClientPresence, sync_diff, sync_state

from .rooms import RoomChannel, RoomPresence


def meta(ref: str, **fields: Any) -> dict[str, Any]:
    return {"phx_ref": ref, **fields}


def test_sync_state_turns_the_difference_into_joins_and_leaves_matched_by_phx_ref() -> None:
    calls: list[tuple[str, str, Any]] = []
    old = {"ada": {"metas": [meta("1"), meta("2")]}, "bob": {"metas": [meta("3")]}}
    new = {"ada": {"metas": [meta("2"), meta("4")]}, "cy": {"metas": [meta("5")]}}
    state = sync_state(
        old,
        new,
        lambda key, current, joined: calls.append(("join", key, [m["phx_ref"] for m in joined["metas"]])),
        lambda key, current, left: calls.append(("leave", key, [m["phx_ref"] for m in left["metas"]])),
    )
    assert state == {"ada": {"metas": [meta("2"), meta("4")]}, "cy": {"metas": [meta("5")]}}
    assert sorted(calls) == [
        ("join", "ada", ["4"]),
        ("join", "cy", ["5"]),
        ("leave", "ada", ["1"]),
        ("leave", "bob", ["3"]),
    ]
    assert old["ada"]["metas"] == [meta("1"), meta("2")]  # the current state is not changed in place


def test_sync_diff_keeps_current_metas_before_the_joined_ones_and_drops_emptied_keys() -> None:
    state = {"ada": {"metas": [meta("1", device="phone")]}, "bob": {"metas": [meta("2")]}}
    diff = {"joins": {"ada": {"metas": [meta("3", device="laptop")]}}, "leaves": {"bob": {"metas": [meta("2")]}}}
    assert sync_diff(state, diff) == {"ada": {"metas": [meta("1", device="phone"), meta("3", device="laptop")]}}
    assert sync_diff({}, {"joins": {}, "leaves": {"ghost": {"metas": [meta("9")]}}}) == {}  # unknown leaves: ignored


class LateState(RoomChannel):
    """Tracks at once but pushes the state a little later: the diffs reach the client first."""

    def handle_info(self, message: Any, socket: Any) -> InfoResult:
        if message == "after_join":
            RoomPresence.track(socket, socket.assigns["user"], {"device": "web"})
            self.send_after(0.5, "state")
        elif message == "state":
            self.push("presence_state", RoomPresence.list(socket))
        return noreply(socket)


class LateSocket(SocketHandler):
    channels = (route("room:*", LateState),)


def test_diffs_before_the_state_are_held_and_applied_after_it(channels: ChannelCase) -> None:
    client = channels.client(LateSocket)
    client.connect()
    room = client.channel("room:1", {"user": "ada"})
    online = ClientPresence(room)
    synced: list[float] = []
    online.on_sync = lambda: synced.append(channels.now)
    room.join()
    channels.settle()
    assert online.state == {}
    assert len(online.pending_diffs) == 1  # ada's own join, before any state
    assert online.in_pending_sync_state
    channels.assert_presence(online, {"ada"}, timeout=0.5)
    assert online.pending_diffs == []
    assert synced == [0.5]


class TrackingSocket(SocketHandler):
    channels = (route("room:*", RoomChannel),)


def test_a_rejoin_holds_diffs_until_the_new_join_s_state_arrives(channels: ChannelCase) -> None:
    watcher = channels.client(TrackingSocket)
    watcher.connect()
    room = watcher.channel("room:1", {"user": "watcher"})
    online = ClientPresence(room)
    room.join()
    channels.assert_presence(online, {"watcher"})
    first_join = room.join_ref
    assert room.socket is not None
    channels.crash(room.socket)
    channels.wait_until(lambda: room.state == "joined", timeout=1)
    assert room.join_ref != first_join
    channels.assert_presence(online, {"watcher"}, timeout=0)
    assert online.join_ref == room.join_ref


def test_a_failing_client_assert_presence_lists_the_events_it_received(channels: ChannelCase) -> None:
    client = channels.client(TrackingSocket)
    client.connect()
    room = client.channel("room:1", {"user": "ada"})
    online = ClientPresence(room)
    room.join()
    try:
        channels.assert_presence(online, {"ada", "bob"}, timeout=2)
    except AssertionError as failure:
        message = str(failure)
    else:
        raise AssertionError("assert_presence passed without bob")
    assert "as the simulated client's presence on 'room:1' has synced it is not the expected one after 2s" in message
    assert (
        "Events it received:\n  - t=0.000s presence_state keys []\n  - t=0.000s presence_diff joins ['ada']" in message
    )
    assert "Listed at t=2.000s:\n  - 'ada': [{'device': 'web', 'phx_ref': " in message


def test_keys_come_in_javascript_s_order_integer_keys_first_as_presence_js_sees_them(channels: ChannelCase) -> None:
    joined: list[str] = []
    new = {key: {"metas": [meta(key)]} for key in ("10", "bob", "9", "2", "01")}
    sync_state({}, new, lambda key, current, presence: joined.append(key))
    assert joined == ["2", "9", "10", "bob", "01"]  # as Object.getOwnPropertyNames orders them
    joined.clear()
    sync_state({}, {key: {"metas": [meta(key)]} for key in ("²", "\u0661", "3")}, lambda k, c, p: joined.append(k))
    assert joined == ["3", "²", "\u0661"]  # only ASCII digits make an array index: other digits are plain keys

    client = channels.client(TrackingSocket)
    client.connect()
    room = client.channel("room:1", {"user": "123"})
    online = ClientPresence(room)
    room.join()
    for user in ("45", "ada"):
        other = channels.client(TrackingSocket)
        other.connect()
        other.channel("room:1", {"user": user}).join()
    channels.assert_presence(online, {"123", "45", "ada"})
    assert online.list(lambda key, presence: key) == ["45", "123", "ada"]
