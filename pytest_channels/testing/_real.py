"""The real clock, inside a test whose wall clock (and, if asked, monotonic clock) follows virtual time."""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Any


def _real(name: str) -> Any:
    # freezegun keeps the functions it replaces as real_<name> (undocumented: checked by
    # tests/harness/test_freezegun_contract.py); before it is loaded, nothing is replaced.
    api = sys.modules.get("freezegun.api")
    if api is None:
        return getattr(time, name) if name != "datetime" else dt.datetime
    return getattr(api, f"real_{name}")


class RealClock:
    """Real time in a channel test, whatever freezegun fakes there. Use the `real_clock` instance.

    Inside a channel test `datetime.now()` and `time.time()` read the virtual wall clock (and
    `time.monotonic()` too with `freeze_monotonic`); these read the machine's clock, for
    timing real work, logging real instants, or a deadline of your own.

    Example:
        >>> import time
        >>> abs(real_clock.time() - time.time()) < 60  # outside a channel test: the same clock
        True
    """

    def now(self, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
        """The real wall-clock time, aware (UTC unless `tz` says otherwise)."""
        real: type[dt.datetime] = _real("datetime")
        return real.now(tz)

    def time(self) -> float:
        """Real seconds since the epoch, as `time.time()` outside a frozen test."""
        return float(_real("time")())

    def monotonic(self) -> float:
        """Real `time.monotonic()`, for timeouts and elapsed times in real seconds."""
        return float(_real("monotonic")())

    def perf_counter(self) -> float:
        """Real `time.perf_counter()`, for measuring how long real work takes."""
        return float(_real("perf_counter")())

    def __repr__(self) -> str:
        return f"<RealClock now={self.now().isoformat()}>"


real_clock = RealClock()
"""The real clock: `real_clock.now()`, `.time()`, `.monotonic()`, `.perf_counter()`."""
