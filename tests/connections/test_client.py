"""The simulated official JavaScript client: what a real client sees when joins fail, channels crash
and connections drop, with phoenix.js's rejoin and reconnect backoff on the virtual clock."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_channels import (
    Channel,
    ConnectResult,
    InResult,
    JoinResult,
    NotIdle,
    PayloadError,
    Reason,
    Socket,
    SocketHandler,
    error,
    noreply,
    ok,
    reply,
    route,
    stop,
)
from pytest_channels.testing import AsyncChannelCase, ChannelCase, Where

TERMINATED: list[Reason] = []


@pytest.fixture(autouse=True)
def _forget() -> None:
    TERMINATED.clear()
    Room.refusals = 0


class Room(Channel):
    """Counts pushes in memory; refuses the first `refusals` joins; crashes or stops on request."""

    refusals = 0

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        if Room.refusals:
            Room.refusals -= 1
            return error({"reason": "not yet"})
        return ok(socket.assign(count=0), {"seen": payload.get("seen", 0)})

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        count = socket.assigns["count"] + 1
        if event == "crash":
            raise RuntimeError("crashed on purpose")
        if event == "quit":
            return stop(socket, "normal")
        if event == "silent":
            return noreply(socket)
        if event == "shout":
            self.broadcast("shouted", payload)
        return reply(socket.assign(count=count), "ok", {"count": count})

    def terminate(self, reason: Reason, socket: Socket) -> None:
        TERMINATED.append(reason)


class Sockets(SocketHandler):
    channels = (route("room:*", Room),)

    def connect(self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]) -> ConnectResult:
        if params.get("banned"):
            return error()
        return ok(socket.assign(user=params.get("user", "anon")))

    def id(self, socket: Socket) -> str:
        return f"user:{socket.assigns['user']}"


def joined_client(channels: ChannelCase, topic: str = "room:1", **params: Any) -> tuple[Any, Any]:
    client = channels.client(Sockets, {"user": "ada", **params})
    client.connect()
    room = client.channel(topic)
    room.join()
    channels.settle()
    assert room.state == "joined"
    return client, room


def test_a_client_connects_joins_and_gets_its_replies(channels: ChannelCase) -> None:
    client = channels.client(Sockets, {"user": "ada"})
    assert client.state == "closed"
    client.connect()
    room = client.channel("room:1", {"seen": 3})
    join = room.join()
    assert (client.state, room.state) == ("connecting", "joining")
    channels.settle()
    assert (client.state, room.state) == ("open", "joined")
    assert (join.status, join.response) == ("ok", {"seen": 3})
    push = room.push("hello", {})
    channels.settle()
    assert (push.status, push.response) == ("ok", {"count": 1})
    assert client.socket is not None
    assert client.socket.id == "user:ada"
    assert client.events == ["connecting", "open"]
    assert room.states == ["joining", "joined"]


def test_a_push_whose_payload_could_not_cross_the_wire_raises_payload_error_and_the_client_stays_up(
    channels: ChannelCase,
) -> None:
    client, room = joined_client(channels)
    with pytest.raises(PayloadError, match=r"cannot be sent as JSON"):
        room.push("hello", {"raw": b"bytes"})
    push = room.push("hello", {})
    channels.settle()
    assert (client.state, push.status, push.response) == ("open", "ok", {"count": 1})


def test_pushes_made_before_the_join_succeeds_are_sent_once_joined(channels: ChannelCase) -> None:
    client = channels.client(Sockets)
    client.connect()
    room = client.channel("room:1")
    room.join()
    first, second = room.push("a"), room.push("b")
    channels.settle()
    assert [(first.status, first.response), (second.status, second.response)] == [
        ("ok", {"count": 1}),
        ("ok", {"count": 2}),
    ]


def test_join_and_push_misuse_raise_the_errors_phoenix_js_throws(channels: ChannelCase) -> None:
    room = channels.client(Sockets).channel("room:1")
    with pytest.raises(RuntimeError, match=r"^tried to push 'x' to 'room:1' before joining\. Use channel\.join\(\)"):
        room.push("x")
    room.join()
    with pytest.raises(RuntimeError, match=r"^tried to join 'room:1' multiple times\. 'join' can only be called"):
        room.join()


def test_a_refused_join_is_retried_after_1_2_5_then_10_seconds(channels: ChannelCase) -> None:
    Room.refusals = 5
    client = channels.client(Sockets)
    client.connect()
    room = client.channel("room:1")
    room.join()
    channels.wait_until(lambda: room.state == "joined", timeout=60)
    attempts = [event.at for event in room.history if event.what == "joining"]
    assert attempts == [0, 1, 3, 8, 18, 28]
    assert channels.now == 28


def test_a_crashed_channel_is_rejoined_after_a_second_with_a_fresh_in_memory_state(channels: ChannelCase) -> None:
    _, room = joined_client(channels)
    room.push("hello")
    channels.settle()
    crashed = room.push("crash")
    exit = channels.assert_exit("room:1", reason=Where(lambda e: isinstance(e, RuntimeError), "a RuntimeError"))
    assert exit.crashed
    channels.settle()
    assert room.state == "errored"
    channels.wait_until(lambda: room.state == "joined", timeout=5)
    assert channels.now == 1.0
    push = room.push("hello")
    channels.settle()
    assert push.response == {"count": 1}  # the count of 1 before the crash is gone
    channels.advance(10)
    assert crashed.status == "timeout"  # its reply never came


def test_crash_kills_the_channel_behind_a_client_and_the_client_rejoins(channels: ChannelCase) -> None:
    _, room = joined_client(channels)
    assert room.socket is not None
    exit = channels.crash(room.socket)
    assert (exit.reason, TERMINATED) == ("killed", [])  # killed: terminate never runs
    channels.wait_until(lambda: room.state == "joined", timeout=5)
    assert room.states == ["joining", "joined", "errored", "joining", "joined"]
    assert channels.now == 1.0


def test_a_lost_connection_is_retried_with_the_reconnect_backoff(channels: ChannelCase) -> None:
    client, room = joined_client(channels, banned=False)
    client.params["banned"] = True  # the next four attempts are refused
    client.lose_connection()
    channels.settle()
    assert TERMINATED == [("shutdown", "closed")]
    assert (client.state, room.state) == ("closed", "errored")
    channels.advance(0.01 + 0.05 + 0.1 + 0.15)
    client.params["banned"] = False
    channels.wait_until(lambda: room.state == "joined", timeout=1)
    opened = [event.at for event in client.history]
    assert client.events == ["connecting", "open", "closed 1006", *["connecting", "refused"] * 4, "connecting", "open"]
    assert opened[3::2] == pytest.approx([0.01, 0.06, 0.16, 0.31, 0.51])
    assert room.history[-1].at == pytest.approx(0.51)  # errored channels rejoin as soon as it opens


def test_a_clean_disconnect_closes_the_server_channels_and_never_reconnects(channels: ChannelCase) -> None:
    client, room = joined_client(channels)
    client.disconnect()
    channels.advance(60)
    assert client.events == ["connecting", "open", "closed 1000"]
    assert room.state == "errored"
    assert TERMINATED == [("shutdown", "closed")]


def test_disconnect_by_id_closes_the_users_connections_and_they_reconnect(channels: ChannelCase) -> None:
    ada, ada_room = joined_client(channels)
    bob = channels.client(Sockets, {"user": "bob"})
    bob.connect()
    bob_room = bob.channel("room:1")
    bob_room.join()
    channels.settle()
    channels.runtime.broadcast("user:ada", "disconnect", {})
    channels.settle()
    assert (ada.events[-1], ada_room.state, bob_room.state) == ("closed 1001", "errored", "joined")
    channels.wait_until(lambda: ada_room.state == "joined", timeout=1)
    assert channels.now == 0.01


def test_a_server_side_stop_closes_the_client_channel_without_a_rejoin(channels: ChannelCase) -> None:
    _, room = joined_client(channels)
    room.push("quit")
    channels.advance(30)
    assert room.states == ["joining", "joined", "closed"]


def test_leave_closes_the_client_channel_at_once_and_the_server_channel_after(channels: ChannelCase) -> None:
    _, room = joined_client(channels)
    leave = room.leave()
    assert (room.state, leave.status) == ("closed", "ok")
    channels.settle()
    assert TERMINATED == [("shutdown", "left")]


def test_a_second_channel_on_the_same_topic_leaves_the_first(channels: ChannelCase) -> None:
    client, first = joined_client(channels)
    second = client.channel("room:1")
    second.join()
    channels.settle()
    assert (first.state, second.state) == ("closed", "joined")
    # The join reaches the server before the old channel handled the leave: a duplicate join. The
    # client's connection is the server's own state machine, which does what Phoenix's socket.ex
    # does: an exit signal ({:shutdown, :duplicate_join}) that a channel not trapping exits dies of
    # without terminate, and the old join's phx_close after the new reply, dropped by the client.
    assert ([e.reason for e in channels.exits], TERMINATED) == ([("shutdown", "duplicate_join")], [])


def test_broadcasts_reach_every_client_on_the_topic(channels: ChannelCase) -> None:
    _, ada_room = joined_client(channels)
    bob = channels.client(Sockets, {"user": "bob"})
    bob.connect()
    bob_room = bob.channel("room:1")
    bob_room.join()
    channels.settle()
    ada_room.push("shout", {"text": "hi"})
    channels.settle()
    assert [m.payload for m in bob_room.messages] == [{"text": "hi"}]
    assert [m.payload for m in ada_room.messages] == [{"text": "hi"}]


def test_the_join_payload_can_be_computed_at_every_rejoin(channels: ChannelCase) -> None:
    client = channels.client(Sockets)
    client.connect()
    seen = {"seen": 1}
    room = client.channel("room:1", lambda: dict(seen))
    join = room.join()
    channels.settle()
    assert join.response == {"seen": 1}
    seen["seen"] = 5
    assert room.socket is not None
    channels.crash(room.socket)
    channels.advance(1)
    assert join.response == {"seen": 5}


def test_a_client_sees_no_message_from_an_earlier_join(channels: ChannelCase) -> None:
    _, room = joined_client(channels)
    old = room.socket
    assert old is not None
    channels.crash(old)
    channels.advance(1)
    assert room.state == "joined"
    assert room.join_ref != old.join_ref
    channels.runtime.broadcast("room:1", "news", {})  # reaches the new channel only
    channels.settle()
    assert [m.event for m in room.messages] == ["news"]


def test_a_client_reconnects_to_a_restarted_node_and_rejoins(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    client = channels.client(Sockets, node="remote")
    client.connect()
    room = client.channel("room:1")
    room.join()
    channels.settle()
    cluster.stop("remote")
    channels.advance(1)  # tries at 0.01, 0.06, 0.16, 0.31, 0.51 and 0.76 are refused: the node is down
    assert client.events[-2:] == ["connecting", "refused"]
    cluster.start("remote")
    channels.wait_until(lambda: room.state == "joined", timeout=5)
    assert channels.now == pytest.approx(1.26)  # the seventh try, 0.5 s after the sixth
    assert client.socket is not None
    assert client.socket.runtime is cluster["remote"].runtime


def test_a_client_can_reconnect_to_another_node(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    client = channels.client(Sockets, node="remote")
    client.connect()
    room = client.channel("room:1")
    room.join()
    channels.settle()
    client.node = "server"  # as a load balancer would send it
    cluster.stop("remote")
    channels.wait_until(lambda: room.state == "joined", timeout=1)
    assert client.socket is not None
    assert client.socket.runtime is cluster["server"].runtime


def test_an_unclaimed_crash_of_a_clients_channel_fails_the_test(channels: ChannelCase) -> None:
    _, room = joined_client(channels)
    room.push("crash")
    with pytest.raises(AssertionError, match=r"^Room on 'room:1' crashed at t=0\.000s with RuntimeError"):
        channels.settle()


def test_client_timers_are_named_in_failure_output(channels: ChannelCase) -> None:
    Room.refusals = 1
    client = channels.client(Sockets)
    client.connect()
    room = client.channel("room:1")
    room.join()
    with pytest.raises(AssertionError) as failure:
        channels.wait_until(lambda: room.state == "joined", timeout=0.5)
    assert str(failure.value) == (
        'wait_until(lambda: room.state == "joined"): still false after 500 ms of virtual time '
        "(t=0.000s to t=0.500s).\nTimers still pending:\n"
        "  - at 1.000s: client 1: 'room:1' rejoin attempt 1"
    )


def test_a_client_needs_a_socket_handler_and_a_known_node(channels: ChannelCase) -> None:
    with pytest.raises(TypeError, match=r"^client needs a SocketHandler subclass \(got <class 'str'>\)$"):
        channels.client(str)  # type: ignore[arg-type]
    with pytest.raises(LookupError, match=r"^client: unknown node 'remote': this test has no cluster"):
        channels.client(Sockets, node="remote")


@pytest.mark.asyncio
async def test_an_async_test_drives_a_client_the_same_way(channels: AsyncChannelCase) -> None:
    client = channels.client(Sockets)
    client.connect()
    room = client.channel("room:1")
    room.join()
    await channels.wait_until(lambda: room.state == "joined")
    client.lose_connection()
    await channels.wait_until(lambda: room.state == "joined", timeout=1)
    assert channels.now == 0.01


class Pong(Channel):
    """Answers every push with a "pong" push: a client that answers it back never lets it rest."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        self.push("pong", {})
        return noreply(socket)


class PongSockets(SocketHandler):
    channels = (route("pong:*", Pong),)

    def connect(self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]) -> ConnectResult:
        return ok(socket)

    def id(self, socket: Socket) -> str | None:
        return None


@pytest.mark.channels(idle_timeout=0.01)
def test_a_client_and_a_channel_answering_each_other_forever_fail_with_not_idle_naming_the_channel(
    channels: ChannelCase,
) -> None:
    client = channels.client(PongSockets)
    client.connect()
    room = client.channel("pong:1")
    room.join()
    channels.settle()

    def answer(payload: Any) -> None:
        room.push("ping", {})

    room.on("pong", answer)
    room.push("ping", {})
    with pytest.raises(NotIdle, match=r"^the channels were still busy after 0.01s of real time:\n  - Pong "):
        channels.settle()
