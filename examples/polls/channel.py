"""The channel: communication only. It asks the core, writes through the store, and tells the clients."""

from __future__ import annotations

from typing import Any

from pytest_channels import Channel, InResult, JoinResult, Socket, error, noreply, ok, reply

from . import core
from .store import PollStore


def _store(socket: Socket) -> PollStore:
    store = socket.assigns["store"]
    assert isinstance(store, PollStore)
    return store


def view(store: PollStore, poll: core.Poll, voter: str) -> dict[str, Any]:
    """What a client needs to draw the poll, read from the store (so a rejoin always gets the truth)."""
    votes = store.votes(poll.id)
    mine = next((vote.option for vote in votes if vote.voter == voter), None)
    return {"question": poll.question, "options": list(poll.options), "tally": core.tally(poll, votes), "mine": mine}


class PollChannel(Channel):
    """Topic `poll:<id>`. Join replies with the poll as stored; "vote" records a vote and
    broadcasts the whole tally, never an increment, so the next broadcast repairs any lost one.

    `votes_here` counts this channel's votes in memory only: it is what a crash loses.
    """

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        store = _store(socket)
        poll = store.poll(topic.removeprefix("poll:"))
        if poll is None:
            return error({"reason": "no such poll"})
        return ok(socket.assign(poll=poll.id, votes_here=0), view(store, poll, socket.assigns["voter"]))

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        store = _store(socket)
        poll = store.poll(socket.assigns["poll"])
        assert poll is not None, "polls are never deleted"
        if event == "vote":
            decision = core.cast(poll, socket.assigns["voter"], payload.get("option"))
            if isinstance(decision, core.Refused):
                return reply(socket, "error", {"reason": decision.reason})
            store.record(decision)
            counts = core.tally(poll, store.votes(poll.id))
            self.broadcast("tally", {"tally": counts})
            return reply(socket.assign(votes_here=socket.assigns["votes_here"] + 1), "ok", {"tally": counts})
        if event == "refresh":
            return reply(socket, "ok", view(store, poll, socket.assigns["voter"]))
        return noreply(socket)
