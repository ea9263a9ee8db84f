"""Presence on one node: track, update, untrack, leave on any exit, and the pushes Phoenix sends."""

from __future__ import annotations

from typing import Any

import pytest
from dirty_equals import IsStr

from pytest_channels import (
    Broadcast,
    Channel,
    JoinResult,
    NotJoined,
    Ok,
    PayloadError,
    Presence,
    PresenceError,
    Push,
    Socket,
    ok,
)
from pytest_channels.testing import ChannelCase

from .rooms import RoomChannel, RoomPresence

REF = IsStr(regex=r"[A-Za-z0-9_-]{24}")


def diff(joins: tuple[str, ...] = (), leaves: tuple[str, ...] = (), device: str = "web") -> dict[str, Any]:
    """A presence_diff payload with one meta per key, as Phoenix sends it."""
    one = {"metas": [{"device": device, "phx_ref": REF}]}
    return {"joins": dict.fromkeys(joins, one), "leaves": dict.fromkeys(leaves, one)}


def join(channels: ChannelCase, user: str, device: str = "web", topic: str = "room:1") -> Socket:
    return channels.subscribe_and_join_or_raise(
        channels.socket(), topic, {"user": user, "device": device}, channel=RoomChannel
    )


def test_after_join_pushes_the_state_then_the_own_join_diff_as_phoenix_does(channels: ChannelCase) -> None:
    join(channels, "alice")
    channels.assert_push("presence_state", {})
    channels.assert_push(
        "presence_diff", {"joins": {"alice": {"metas": [{"device": "web", "phx_ref": REF}]}}, "leaves": {}}
    )
    channels.assert_broadcast(
        "presence_diff", {"joins": {"alice": {"metas": [{"device": "web", "phx_ref": REF}]}}, "leaves": {}}
    )
    channels.refute_push()


def test_a_second_user_gets_the_state_with_the_first_and_everyone_gets_its_join(channels: ChannelCase) -> None:
    join(channels, "alice")
    channels.flush()
    join(channels, "bob")
    state = channels.assert_push("presence_state")
    assert state.payload == {"alice": {"metas": [{"device": "web", "phx_ref": REF}]}}
    bob_join = {"joins": {"bob": {"metas": [{"device": "web", "phx_ref": REF}]}}, "leaves": {}}
    channels.assert_push("presence_diff", bob_join)  # to alice's channel
    channels.assert_push("presence_diff", bob_join)  # to bob's own
    channels.refute_push()


def test_every_meta_gets_a_unique_phx_ref_and_list_returns_it(channels: ChannelCase) -> None:
    join(channels, "alice", "phone")
    join(channels, "alice", "laptop")
    channels.settle()
    listed = channels.presence_list(RoomPresence, "room:1")
    metas = listed["alice"]["metas"]
    assert [m["device"] for m in metas] == ["phone", "laptop"]  # one key, several metas, oldest first
    assert len({m["phx_ref"] for m in metas}) == 2
    assert RoomPresence.list("room:1", runtime=channels.runtime) == listed


def test_leaving_closing_and_crashing_each_send_a_leave(channels: ChannelCase) -> None:
    watcher = join(channels, "watcher")
    sockets = {user: join(channels, user) for user in ("leaver", "closer", "crasher")}
    channels.settle()
    channels.flush()

    channels.leave(sockets["leaver"])
    channels.close(sockets["closer"])
    channels.crash(sockets["crasher"])
    for user in ("leaver", "closer", "crasher"):
        channels.assert_push(
            "presence_diff", {"joins": {}, "leaves": {user: {"metas": [{"device": "web", "phx_ref": REF}]}}}
        )
    channels.assert_presence(RoomPresence, "room:1", {"watcher"})
    assert watcher.topic == "room:1"


def test_a_channel_that_stops_itself_leaves_too(channels: ChannelCase) -> None:
    class Quitter(RoomChannel):
        def handle_in(self, event: str, payload: Any, socket: Socket) -> Any:
            from pytest_channels import stop

            return stop(socket, "normal")

    join(channels, "stays")
    quitter = channels.subscribe_and_join_or_raise(channels.socket(), "room:1", {"user": "quits"}, channel=Quitter)
    channels.assert_presence(RoomPresence, "room:1", {"stays", "quits"})
    channels.push(quitter, "bye", {})
    channels.assert_presence(RoomPresence, "room:1", {"stays"})


def test_update_replaces_the_meta_with_phx_ref_prev_and_diffs_new_join_old_leave(channels: ChannelCase) -> None:
    socket = join(channels, "alice")
    channels.flush()
    ref = channels.push(socket, "status", {"status": "away"})
    new_ref = channels.assert_reply(ref, "ok").payload["phx_ref"]
    diff = channels.assert_push("presence_diff").payload
    old = diff["leaves"]["alice"]["metas"][0]
    assert diff["joins"] == {
        "alice": {"metas": [{"device": "web", "status": "away", "phx_ref": new_ref, "phx_ref_prev": old["phx_ref"]}]}
    }
    assert old == {"device": "web", "phx_ref": REF}
    channels.assert_presence(RoomPresence, "room:1", {"alice": [{"device": "web", "status": "away"}]})


def test_update_takes_a_new_meta_as_well_as_a_function(channels: ChannelCase) -> None:
    socket = join(channels, "alice")
    channels.settle()
    RoomPresence.update(socket.channel_pid, "room:1", "alice", {"status": "busy"})  # type: ignore[arg-type]
    channels.assert_presence(RoomPresence, "room:1", {"alice": [{"status": "busy"}]})


def test_untrack_leaves_while_the_channel_stays_joined(channels: ChannelCase) -> None:
    socket = join(channels, "alice")
    channels.flush()
    channels.push(socket, "untrack", {})
    channels.assert_push(
        "presence_diff", {"joins": {}, "leaves": {"alice": {"metas": [{"device": "web", "phx_ref": REF}]}}}
    )
    assert channels.presence_list(RoomPresence, "room:1") == {}
    assert socket.channel_pid is not None
    assert socket.channel_pid.alive


def test_get_by_key_returns_one_key_through_fetch_and_an_empty_list_when_absent(channels: ChannelCase) -> None:
    socket = join(channels, "alice")
    channels.settle()
    assert RoomPresence.get_by_key(socket, "alice") == {"metas": [{"device": "web", "phx_ref": REF}]}
    assert RoomPresence.get_by_key("room:1", "nobody", runtime=channels.runtime) == []


def test_tracking_the_same_key_twice_from_one_channel_is_refused_and_keeps_the_first(channels: ChannelCase) -> None:
    socket = join(channels, "alice")
    channels.settle()
    with pytest.raises(PresenceError, match=r"already tracks key 'alice' on 'room:1'.*update"):
        RoomPresence.track(socket.channel_pid, "room:1", "alice", {"device": "again"})  # type: ignore[arg-type]
    channels.assert_presence(RoomPresence, "room:1", {"alice": [{"device": "web"}]})


def test_untracking_or_updating_what_was_never_tracked_says_what_is_tracked(channels: ChannelCase) -> None:
    socket = join(channels, "alice")
    channels.settle()
    pid = socket.channel_pid
    assert pid is not None
    with pytest.raises(PresenceError, match=r"nothing under key 'bob'.*it tracks 'alice' on 'room:1'"):
        RoomPresence.untrack(pid, "room:1", "bob")
    with pytest.raises(PresenceError, match=r"nothing to update"):
        RoomPresence.update(pid, "room:1", "bob", {})
    assert set(channels.presence_list(RoomPresence, "room:1")) == {"alice"}


def test_metas_that_cannot_cross_the_wire_are_refused_before_anything_is_tracked(channels: ChannelCase) -> None:
    socket = join(channels, "alice")
    channels.settle()
    pid = socket.channel_pid
    assert pid is not None
    with pytest.raises(PayloadError, match="track"):
        RoomPresence.track(pid, "room:1", "bob", {"when": object()})
    with pytest.raises(TypeError, match="must be a dict"):
        RoomPresence.track(pid, "room:1", "bob", ["not", "a", "dict"])  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="presence key must be a str or an int"):
        RoomPresence.track(pid, "room:1", None, {})  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"takes \(socket, key, meta\) or \(pid, topic, key, meta\)"):
        RoomPresence.track(pid, "bob", {})  # type: ignore[call-overload]
    assert set(channels.presence_list(RoomPresence, "room:1")) == {"alice"}


def test_tracking_inside_join_fails_the_join_with_a_message_that_says_what_to_do(channels: ChannelCase) -> None:
    class Eager(Channel):
        def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
            RoomPresence.track(socket, "eager", {})
            return ok(socket)

    with pytest.raises(AssertionError) as failure:
        channels.subscribe_and_join_or_raise(channels.socket(), "room:1", channel=Eager)
    assert isinstance(failure.value.__cause__, NotJoined)
    assert "send('after_join')" in str(failure.value.__cause__)


def test_listing_a_topic_needs_to_know_which_node_to_ask(channels: ChannelCase) -> None:
    with pytest.raises(TypeError, match="pass the socket instead, or runtime="):
        RoomPresence.list("room:1")


def test_fetch_enriches_the_list_and_every_diff_in_one_batch() -> None:
    batches: list[set[str]] = []

    class Named(Presence):
        def fetch(self, topic: str, presences: dict[str, Any]) -> dict[str, Any]:
            batches.append(set(presences))
            return {key: {**p, "name": key.title()} for key, p in presences.items()}

    class NamedRoom(RoomChannel):
        presence = Named

    with ChannelCase() as channels:
        channels.subscribe_and_join_or_raise(channels.socket(), "room:1", {"user": "alice"}, channel=NamedRoom)
        channels.assert_push("presence_state", {})
        diff = channels.assert_push("presence_diff").payload
        assert diff["joins"]["alice"]["name"] == "Alice"
        assert diff["leaves"] == {}
        assert channels.presence_list(Named, "room:1")["alice"]["name"] == "Alice"
    assert batches == [set(), {"alice"}, set(), {"alice"}]  # list, the diff's joins and leaves, list


def test_handle_metas_sees_every_diff_with_the_presences_after_it() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    class Watched(Presence):
        def init(self) -> Any:
            return 0

        def handle_metas(self, topic: str, diff: Any, presences: dict[str, list[Any]], state: Any) -> Any:
            seen.append((topic, {key: [m["device"] for m in metas] for key, metas in presences.items()}))
            return state + 1

    class WatchedRoom(RoomChannel):
        presence = Watched

    with ChannelCase() as channels:
        a = channels.join(channels.socket(), "room:1", {"user": "alice", "device": "phone"}, channel=WatchedRoom)
        channels.join(channels.socket(), "room:1", {"user": "alice", "device": "laptop"}, channel=WatchedRoom)
        channels.settle()
        assert isinstance(a, Ok)
        channels.leave(a.socket)
        channels.settle()
        server = Watched.server(channels.runtime)
        assert server is not None
        assert server.state == 3
    assert seen == [
        ("room:1", {"alice": ["phone"]}),
        ("room:1", {"alice": ["phone", "laptop"]}),
        ("room:1", {"alice": ["laptop"]}),
    ]


def test_settings_are_checked_as_phoenix_tracker_checks_them() -> None:
    with pytest.raises(ValueError, match="down_period must be at least twice the broadcast_period"):

        class TooEager(Presence):
            down_period = 1.0

    with pytest.raises(ValueError, match="permdown_period must be larger than the down_period"):

        class TooPatient(Presence):
            permdown_period = 10.0

    with pytest.raises(ValueError, match=r"down_period must be a number of seconds > 0 \(got '30'\)"):

        class Typo(Presence):
            down_period = "30"  # type: ignore[assignment]

    class Quick(Presence):
        broadcast_period = 0.5

    assert Quick.down_period == 10.0  # Phoenix's default follows: broadcast_period * max_silent_periods * 2


def test_async_callbacks_are_refused_with_the_reason() -> None:
    with pytest.raises(TypeError, match="fetch must be a plain function"):

        class Slow(Presence):
            async def fetch(self, topic: str, presences: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
                return presences


def test_a_channel_that_intercepts_presence_diff_gets_it_in_handle_out(channels: ChannelCase) -> None:
    class Filtered(RoomChannel):
        intercept = ("presence_diff",)

        def handle_out(self, event: str, payload: Any, socket: Socket) -> Any:
            from pytest_channels import noreply

            self.push("joined_only", {"keys": sorted(payload["joins"])})
            return noreply(socket)

    channels.subscribe_and_join_or_raise(channels.socket(), "room:1", {"user": "alice"}, channel=Filtered)
    channels.assert_push("joined_only", {"keys": ["alice"]})
    channels.refute_push("presence_diff")


def test_a_fetch_that_raises_in_a_diff_is_logged_and_the_next_diffs_still_go_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = [True]

    class Flaky(Presence):
        def fetch(self, topic: str, presences: dict[str, Any]) -> dict[str, Any]:
            if down[0] and presences:
                raise RuntimeError("the user table is down")
            return presences

    class FlakyRoom(RoomChannel):
        presence = Flaky

    with ChannelCase() as channels:
        channels.subscribe_and_join_or_raise(channels.socket(), "room:1", {"user": "first"}, channel=FlakyRoom)
        down[0] = False
        channels.join(channels.socket(), "room:1", {"user": "second"}, channel=FlakyRoom)
        channels.settle()
        diffs = [m.payload for m in channels.flush() if isinstance(m, Push | Broadcast) and m.event == "presence_diff"]
        assert [sorted(d["joins"]) for d in diffs] == [["second"]] * 3  # two channels and the test; first's was lost
        assert set(channels.presence_list(Flaky, "room:1")) == {"first", "second"}  # the tracker kept both
    assert "Flaky presence: a presence_diff was not sent (fetch('room:1', ...) raised)" in caplog.text


def test_an_update_function_that_changes_the_current_meta_in_place_leaves_the_old_meta_intact(
    channels: ChannelCase,
) -> None:
    socket = join(channels, "alice")
    channels.settle()
    RoomPresence.update(socket, "alice", lambda meta: {**meta, "tags": ["a"]})
    channels.settle()
    channels.flush()

    def add_tag(meta: dict[str, Any]) -> dict[str, Any]:
        meta["tags"].append("b")  # a careless updater: Phoenix's metas are immutable, ours are copies
        return meta

    RoomPresence.update(socket, "alice", add_tag)
    diff = channels.assert_push("presence_diff").payload
    assert diff["leaves"]["alice"]["metas"][0]["tags"] == ["a"]
    assert diff["joins"]["alice"]["metas"][0]["tags"] == ["a", "b"]


def test_handle_metas_gets_copies_it_may_change_without_changing_the_list(channels: ChannelCase) -> None:
    class Careless(Presence):
        def handle_metas(self, topic: str, diff: Any, presences: dict[str, list[Any]], state: Any) -> Any:
            for presence in diff["joins"].values():
                presence["metas"][0]["seen"] = True
            return state

    class CarelessRoom(RoomChannel):
        presence = Careless

    channels.join(channels.socket(), "room:1", {"user": "alice"}, channel=CarelessRoom)
    channels.assert_push(
        "presence_diff", {"joins": {"alice": {"metas": [{"device": "web", "phx_ref": REF}]}}, "leaves": {}}
    )
    assert channels.presence_list(Careless, "room:1") == {"alice": {"metas": [{"device": "web", "phx_ref": REF}]}}


def test_metas_are_listed_in_the_order_the_node_saw_them_so_an_update_moves_a_meta_last(
    channels: ChannelCase,
) -> None:
    phone = join(channels, "alice", "phone")
    join(channels, "alice", "laptop")
    channels.settle()
    RoomPresence.update(phone, "alice", lambda meta: {**meta, "status": "away"})
    channels.assert_presence(
        RoomPresence, "room:1", {"alice": [{"device": "laptop"}, {"device": "phone", "status": "away"}]}
    )


def test_a_fetch_that_drops_the_metas_is_told_what_shape_to_return(caplog: pytest.LogCaptureFixture) -> None:
    class Forgetful(Presence):
        def fetch(self, topic: str, presences: dict[str, Any]) -> dict[str, Any]:
            return {key: {"name": key.title()} for key in presences}  # forgot "metas"

    with ChannelCase() as channels:
        socket = join(channels, "x")
        assert socket.channel_pid is not None
        channels.flush()
        Forgetful.track(socket.channel_pid, "room:1", "alice", {})
        channels.settle()
        with pytest.raises(PresenceError, match=r"Forgetful.fetch\('room:1', \.\.\.\) must return .*'metas'.*'alice'"):
            Forgetful.list("room:1", runtime=channels.runtime)
        with pytest.raises(PresenceError, match=r"must return"):
            Forgetful.get_by_key("room:1", "alice", runtime=channels.runtime)
        channels.refute_push("presence_diff")
    assert "Forgetful presence: a presence_diff was not sent" in caplog.text


def test_a_fetch_may_hide_keys_from_the_list_but_not_from_get_by_key() -> None:
    class Hiding(Presence):
        def fetch(self, topic: str, presences: dict[str, Any]) -> dict[str, Any]:
            return {key: p for key, p in presences.items() if key != "ghost"}

    with ChannelCase() as channels:
        socket = join(channels, "x")
        assert socket.channel_pid is not None
        for key in ("alice", "ghost"):
            Hiding.track(socket.channel_pid, "room:1", key, {})
        channels.assert_presence(Hiding, "room:1", {"alice"})
        with pytest.raises(PresenceError, match=r"Hiding.fetch\('room:1', \.\.\.\) left out 'ghost'"):
            Hiding.get_by_key("room:1", "ghost", runtime=channels.runtime)


def test_handle_metas_runs_after_the_diff_is_broadcast_on_every_topic_as_in_phoenix() -> None:
    broadcasts_seen: list[int] = []

    with ChannelCase() as channels:

        class Counting(Presence):
            def handle_metas(self, topic: str, diff: Any, presences: dict[str, list[Any]], state: Any) -> Any:
                diffs = [
                    m
                    for m in channels.mailbox
                    if isinstance(m, Broadcast) and m.event == "presence_diff" and "counted" in m.payload["leaves"]
                ]
                broadcasts_seen.append(len(diffs))
                return state

        channels.subscribe("room:2")
        socket = join(channels, "alice")
        assert socket.channel_pid is not None
        for topic in ("room:1", "room:2"):
            Counting.track(socket.channel_pid, topic, "counted", {})
        channels.settle()
        channels.flush()
        broadcasts_seen.clear()
        channels.leave(socket)  # one exit: one diff with both topics
        assert broadcasts_seen == [2, 2]


def test_init_runs_only_for_a_presence_that_handles_metas_as_in_phoenix() -> None:
    started: list[str] = []

    class InitOnly(Presence):
        def init(self) -> Any:
            started.append("init-only")

    class Handling(Presence):
        def init(self) -> Any:
            started.append("handling")
            return {}

        def handle_metas(self, topic: str, diff: Any, presences: dict[str, list[Any]], state: Any) -> Any:
            return state

    with ChannelCase() as channels:
        InitOnly.start(channels.runtime)
        Handling.start(channels.runtime)
    assert started == ["handling"]
