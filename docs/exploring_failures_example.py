"""The tests from docs/exploring-failures.md: the chapter's Message Delivery under many fault schedules."""

from __future__ import annotations

import pytest
from delivery_app import FeedSocket, Reader

from pytest_channels.explore import explore
from pytest_channels.testing import ChannelCase

MESSAGES = 50


@pytest.mark.xfail(raises=AssertionError, strict=True, reason="at most once: the explorer finds a lost message")
@explore(horizon=5)
def test_at_most_once_every_reader_gets_every_message(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote", "third")
    readers = [
        Reader(channels.client(FeedSocket, {"name": name}, node=node), "feed", ack=False)
        for name, node in (("ada", "server"), ("bob", "third"))
    ]
    channels.settle()

    for n in range(MESSAGES):  # one message every 100 ms, published on remote
        cluster["remote"].runtime.broadcast("feed", "msg", {"id": n, "body": f"message {n}"})
        channels.advance(0.1)
    channels.advance(1)  # past the horizon and the longest delay: every fault has happened

    for reader in readers:
        reader.read()
        assert sorted(reader.kept) == list(range(MESSAGES)), f"{reader.client.params['name']} lost messages"


@explore(horizon=5)
def test_at_least_once_every_reader_gets_every_message_once(channels: ChannelCase) -> None:
    channels.cluster("server", "remote", "third")
    publisher = channels.join(
        channels.socket(node="remote", handler=FeedSocket), "reliable", {"role": "publisher", "readers": ["ada", "bob"]}
    ).socket
    readers = [
        Reader(channels.client(FeedSocket, {"name": name}, node=node), "reliable", ack=True)
        for name, node in (("ada", "server"), ("bob", "third"))
    ]
    channels.settle()

    for n in range(MESSAGES):
        channels.push(publisher, "publish", {"id": n, "body": f"message {n}"})
        channels.advance(0.1)
        for reader in readers:
            reader.read()
    while channels.now < 15:  # partitions heal within the horizon; retries then get through
        channels.advance(0.25)
        for reader in readers:
            reader.read()

    for reader in readers:
        assert sorted(reader.kept) == list(range(MESSAGES))
        assert list(reader.kept.values()) == [f"message {n}" for n in reader.kept]
    assert channels.get_state(publisher).assigns["pending"] == {}  # every message acknowledged
