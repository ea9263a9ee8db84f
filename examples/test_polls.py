"""The poll application's core, store and channel, each on its own.

The recovery scenarios (a crash, a reconnect, a node restart, a partition) are in
docs/recovery_example.py, which the recovery guide quotes line for line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from polls.core import Poll, Refused, Vote, cast, tally
from polls.sockets import poll_socket
from polls.store import PollStore

from pytest_channels import Ok, error
from pytest_channels.testing import ChannelCase

LUNCH = Poll("lunch", "Lunch?", ("pizza", "sushi"))


@pytest.fixture
def store(tmp_path: Path) -> PollStore:
    store = PollStore(tmp_path / "polls.db")
    store.add_poll(LUNCH)
    return store


def test_a_vote_counts_only_for_an_option_of_the_poll() -> None:
    assert cast(LUNCH, "ada", "pizza") == Vote("lunch", "ada", "pizza")
    assert cast(LUNCH, "ada", "tacos") == Refused("'tacos' is not an option; choose one of pizza, sushi")
    assert cast(LUNCH, "", "pizza") == Refused("only a named voter can vote")


def test_the_tally_counts_each_voters_latest_vote() -> None:
    votes = [Vote("lunch", "ada", "pizza"), Vote("lunch", "bob", "pizza"), Vote("lunch", "ada", "sushi")]
    assert tally(LUNCH, votes) == {"pizza": 1, "sushi": 1}
    assert tally(LUNCH, []) == {"pizza": 0, "sushi": 0}


def test_the_store_keeps_votes_on_disk_and_replaces_a_voters_earlier_vote(store: PollStore) -> None:
    store.record(Vote("lunch", "ada", "pizza"))
    store.record(Vote("lunch", "ada", "sushi"))
    reopened = PollStore(store.path)  # as a restarted process would
    assert reopened.poll("lunch") == LUNCH
    assert reopened.votes("lunch") == [Vote("lunch", "ada", "sushi")]
    assert reopened.poll("dinner") is None


def test_joining_replies_with_the_poll_as_stored(channels: ChannelCase, store: PollStore) -> None:
    store.record(Vote("lunch", "bob", "sushi"))
    socket = channels.connect(poll_socket(store), {"voter": "ada"}).socket
    result = channels.join(socket, "poll:lunch")
    assert isinstance(result, Ok)
    assert result.reply == {
        "question": "Lunch?",
        "options": ["pizza", "sushi"],
        "tally": {"pizza": 0, "sushi": 1},
        "mine": None,
    }
    assert channels.join(socket, "poll:dinner") == error({"reason": "no such poll"})


def test_a_vote_is_stored_replied_and_broadcast_as_the_whole_tally(channels: ChannelCase, store: PollStore) -> None:
    socket = channels.connect(poll_socket(store), {"voter": "ada"}).socket
    joined = channels.subscribe_and_join_or_raise(socket, "poll:lunch")
    ref = channels.push(joined, "vote", {"option": "pizza"})
    channels.assert_reply(ref, "ok", {"tally": {"pizza": 1, "sushi": 0}})
    channels.assert_broadcast("tally", {"tally": {"pizza": 1, "sushi": 0}})
    assert store.votes("lunch") == [Vote("lunch", "ada", "pizza")]
    refused = channels.push(joined, "vote", {"option": "tacos"})
    channels.assert_reply(refused, "error", {"reason": "'tacos' is not an option; choose one of pizza, sushi"})


def test_a_voter_needs_a_name(channels: ChannelCase, store: PollStore) -> None:
    assert channels.connect(poll_socket(store), {}) == error({"reason": "a voter name is required"})
