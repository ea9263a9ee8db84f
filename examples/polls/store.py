"""The store: polls and votes in SQLite, the state that must outlive channels, connections and nodes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .core import Poll, Vote

SCHEMA = """
CREATE TABLE IF NOT EXISTS polls (id TEXT PRIMARY KEY, question TEXT NOT NULL, options TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS votes (
    poll TEXT NOT NULL REFERENCES polls(id),
    voter TEXT NOT NULL,
    option TEXT NOT NULL,
    PRIMARY KEY (poll, voter)
);
"""


class PollStore:
    """Polls and votes in one SQLite file, shared by every node (it stands for the shared database).

    Each operation opens its own connection and commits before returning, so nothing waits in
    memory: a node that restarts finds every vote that was acknowledged.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with self._connection() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path)
        try:
            with db:  # commits, or rolls back on error
                yield db
        finally:
            db.close()

    def add_poll(self, poll: Poll) -> None:
        with self._connection() as db:
            db.execute("INSERT INTO polls VALUES (?, ?, ?)", (poll.id, poll.question, json.dumps(poll.options)))

    def poll(self, poll_id: str) -> Poll | None:
        with self._connection() as db:
            row = db.execute("SELECT id, question, options FROM polls WHERE id = ?", (poll_id,)).fetchone()
        return None if row is None else Poll(row[0], row[1], tuple(json.loads(row[2])))

    def record(self, vote: Vote) -> None:
        """Keep the vote, replacing the voter's earlier one."""
        with self._connection() as db:
            db.execute("INSERT OR REPLACE INTO votes VALUES (?, ?, ?)", (vote.poll, vote.voter, vote.option))

    def votes(self, poll_id: str) -> list[Vote]:
        with self._connection() as db:
            rows = db.execute("SELECT poll, voter, option FROM votes WHERE poll = ? ORDER BY voter", (poll_id,))
            return [Vote(*row) for row in rows.fetchall()]
