"""Draining: closing a server's connections in batches, Phoenix 1.7's socket `drainer`.

When a node stops, closing every connection at once sends every client back at the same
instant, to whichever node is left: a thundering herd. Phoenix closes them in batches
(10,000 at a time, 2 s apart, within 30 s) instead; so does `ChannelsApp.drain`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass

import anyio

from ._multiplexer import Connection

logger = logging.getLogger("pytest_channels")

_POLL = 0.01
"""Real seconds between looks at whether the drained connections' channels have stopped."""


@dataclass(frozen=True)
class Drainer:
    """How connections are drained: `ChannelsApp(..., drainer=Drainer(batch_size=100))`.

    Args:
        batch_size: connections closed at once (Phoenix: 10,000).
        batch_interval: real seconds between batches (Phoenix: 2 s).
        shutdown: real seconds the whole drain may take (Phoenix: 30 s); the connections
            left then close at once, and the drain waits no longer for channels to stop.

    Example:
        >>> Drainer()
        Drainer(batch_size=10000, batch_interval=2.0, shutdown=30.0)
    """

    batch_size: int = 10_000
    batch_interval: float = 2.0
    shutdown: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"Drainer batch_size must be an int >= 1 (got {self.batch_size!r})")
        for name, value in (("batch_interval", self.batch_interval), ("shutdown", self.shutdown)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"Drainer {name} must be a finite number of seconds >= 0 (got {value!r})")

    async def drain(self, connections: Collection[Connection], close: Callable[[Connection], None]) -> int:
        """Close `connections` (a snapshot is taken) with `close`, batch by batch; wait for their channels to stop.

        Returns how many connections were closed.
        """
        pending = list(connections)
        total = len(pending)
        rounds = max(1, math.ceil(total / self.batch_size))
        closed = 0
        with anyio.move_on_after(self.shutdown) as limit:
            for index in range(rounds):
                batch = pending[index * self.batch_size : (index + 1) * self.batch_size]
                logger.info("draining %d of %d connections (round %d of %d)", len(batch), total, index + 1, rounds)
                for connection in batch:
                    close(connection)
                closed += len(batch)
                if index + 1 < rounds:
                    await anyio.sleep(self.batch_interval)
            while not all(connection.stopped for connection in pending):
                await anyio.sleep(_POLL)  # real-time: the connections' tasks and channels stop in real time
        if limit.cancelled_caught:
            left = pending[closed:]
            if left:
                logger.warning(
                    "drain: %d connections still open after %ss: closing them at once", len(left), self.shutdown
                )
            for connection in left:
                close(connection)
        return total
