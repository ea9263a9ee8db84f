"""The functional core: what a vote is, whether it counts, and what the tally says. No I/O here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Poll:
    """A question and the options one may vote for."""

    id: str
    question: str
    options: tuple[str, ...]


@dataclass(frozen=True)
class Vote:
    """One voter's choice in one poll; a later vote by the same voter replaces it."""

    poll: str
    voter: str
    option: str


@dataclass(frozen=True)
class Refused:
    """Why a vote does not count."""

    reason: str


def cast(poll: Poll, voter: str, option: object) -> Vote | Refused:
    """Decide whether `voter` may vote for `option` in `poll`."""
    if not voter:
        return Refused("only a named voter can vote")
    if not isinstance(option, str) or option not in poll.options:
        return Refused(f"{option!r} is not an option; choose one of {', '.join(poll.options)}")
    return Vote(poll.id, voter, option)


def tally(poll: Poll, votes: Iterable[Vote]) -> dict[str, int]:
    """Count each voter's latest vote, with every option present (zero when nobody chose it)."""
    latest = {vote.voter: vote.option for vote in votes if vote.poll == poll.id}
    counts = dict.fromkeys(poll.options, 0)
    for option in latest.values():
        counts[option] += 1
    return counts
