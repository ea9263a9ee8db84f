"""The tests from docs/recovery.md: the poll application in examples/polls survives a channel crash,
a client reconnect and a node restart, because its votes are in SQLite; and a partition shows what
at-most-once delivery loses, and how the next full-state broadcast (or a rejoin) repairs it."""

from __future__ import annotations

from pathlib import Path

import pytest
from polls.core import Poll
from polls.sockets import poll_socket
from polls.store import PollStore

from pytest_channels import SocketHandler
from pytest_channels.testing import ChannelCase, ClientChannel

LUNCH = Poll("lunch", "Lunch?", ("pizza", "sushi"))


@pytest.fixture
def store(tmp_path: Path) -> PollStore:
    store = PollStore(tmp_path / "polls.db")
    store.add_poll(LUNCH)
    return store


@pytest.fixture
def handler(store: PollStore) -> type[SocketHandler]:
    return poll_socket(store)


def join_poll(
    channels: ChannelCase, handler: type[SocketHandler], voter: str, node: str | None = None
) -> ClientChannel:
    client = channels.client(handler, {"voter": voter}, node=node)
    client.connect()
    poll = client.channel("poll:lunch")
    poll.join()
    channels.wait_until(lambda: poll.state == "joined")
    return poll


def test_votes_survive_a_channel_crash(channels: ChannelCase, handler: type[SocketHandler]) -> None:
    poll = join_poll(channels, handler, "ada")
    poll.push("vote", {"option": "pizza"})
    channels.settle()
    assert poll.socket is not None
    assert channels.get_state(poll.socket).assigns["votes_here"] == 1

    channels.crash(poll.socket)
    channels.wait_until(lambda: poll.state == "joined", timeout=5)

    assert channels.now == 1.0  # phoenix.js rejoins a crashed channel after one second
    assert poll.join_push.response["tally"] == {"pizza": 1, "sushi": 0}
    assert poll.join_push.response["mine"] == "pizza"
    assert poll.socket is not None
    assert channels.get_state(poll.socket).assigns["votes_here"] == 0  # memory is gone, the vote is not


def test_votes_survive_a_client_reconnect(channels: ChannelCase, handler: type[SocketHandler]) -> None:
    poll = join_poll(channels, handler, "ada")
    poll.push("vote", {"option": "sushi"})
    channels.settle()

    poll.client.lose_connection()
    channels.wait_until(lambda: poll.state == "joined", timeout=5)

    assert poll.client.events == ["connecting", "open", "closed 1006", "connecting", "open"]
    assert channels.now == 0.01  # the first reconnect attempt, 10 ms later
    assert poll.join_push.response["tally"] == {"pizza": 0, "sushi": 1}


def test_votes_survive_a_node_restart(channels: ChannelCase, handler: type[SocketHandler]) -> None:
    cluster = channels.cluster("web1", "web2")
    ada = join_poll(channels, handler, "ada", node="web1")
    bob = join_poll(channels, handler, "bob", node="web2")
    ada.push("vote", {"option": "pizza"})
    channels.settle()

    cluster.stop("web1")
    bob.push("vote", {"option": "pizza"})  # web2 keeps serving while web1 is down
    channels.advance(3)
    assert ada.state == "errored"  # its reconnect attempts are refused: web1 is down
    cluster.start("web1")
    channels.wait_until(lambda: ada.state == "joined", timeout=10)

    assert channels.now == pytest.approx(4.26)  # the 9th attempt: 10, 50, 100, 150, 200, 250, 500 ms, 1 s, 2 s apart
    assert ada.join_push.response["tally"] == {"pizza": 2, "sushi": 0}
    assert ada.join_push.response["mine"] == "pizza"


def test_a_partition_loses_live_updates_and_the_next_full_tally_repairs_them(
    channels: ChannelCase,
    handler: type[SocketHandler],
) -> None:
    cluster = channels.cluster("web1", "web2")
    ada = join_poll(channels, handler, "ada", node="web1")
    bob = join_poll(channels, handler, "bob", node="web2")

    cluster.network.partition(["web1"], ["web2"])
    ada.push("vote", {"option": "pizza"})
    channels.advance(60)
    cluster.network.heal()
    channels.advance(60)

    # At most once: bob's node never got the broadcast, and nobody sends it again.
    assert [m.payload["tally"] for m in bob.messages] == []
    [lost] = cluster.network.lost()
    assert (lost.source, lost.target, lost.broadcast.event, lost.outcome) == ("web1", "web2", "tally", "partitioned")

    # The store has the vote, and each broadcast carries the whole tally, so the next one repairs bob's view.
    bob.push("vote", {"option": "sushi"})
    channels.settle()
    assert [m.payload["tally"] for m in bob.messages] == [{"pizza": 1, "sushi": 1}]
