"""Hints for habits brought from elsewhere: Phoenix's millisecond timeouts and integer refs.

(A topic subscribed to twice, which as in Phoenix delivers every broadcast twice, is noted
in the failure itself: see `_format.subscription_notes`.)"""

from __future__ import annotations

import inspect
import warnings
from typing import Any


class LooksLikeMilliseconds(UserWarning):
    """A `timeout=` that reads as milliseconds (Phoenix's unit) where this harness takes seconds.

    Raised as a warning for a whole number of at least the `ms_timeout_warning` setting
    (default 100) that is a multiple of 50 and of no whole minute: 100, 250, 500, 1000, 5000.
    Pass a `datetime.timedelta` to say the unit, or set `ms_timeout_warning = 0` to turn it off.
    """


def check_timeout(timeout: Any, threshold: float) -> None:
    """Warn when `timeout` (seconds) looks like a millisecond count written from Phoenix habit."""
    if threshold <= 0 or type(timeout) not in (int, float) or timeout < threshold:
        return
    if timeout != int(timeout) or int(timeout) % 50 or not int(timeout) % 60:
        return
    warnings.warn(
        f"timeout={timeout!r} is in seconds here: {timeout:g} s of virtual time, where Phoenix's "
        f"assert_push takes milliseconds. For {timeout:g} ms pass timeout={timeout / 1000:g}; to mean "
        f"seconds, pass datetime.timedelta(seconds={timeout:g}) or set channels_ms_timeout_warning = 0.",
        LooksLikeMilliseconds,
        stacklevel=_outside_the_harness(),
    )


def check_ref(call: str, ref: Any) -> None:
    """Refuse an integer ref: refs are the strings `push` returns, as on the wire."""
    if isinstance(ref, int):
        raise TypeError(
            f"{call}: refs are strings (got the int {ref!r}). Pass the ref that channels.push(...) "
            f"returned, or {str(ref)!r} if you counted it yourself."
        )


def _outside_the_harness() -> int:
    """The stack level of the first frame outside this package and asyncio: the test's call."""
    frame, level = inspect.currentframe(), 0  # public; None only on a Python without stack frames
    while frame is not None:
        name = str(frame.f_globals.get("__name__", ""))
        if not (name.startswith(("pytest_channels.", "asyncio", "anyio")) or name == "pytest_channels"):
            return level
        frame, level = frame.f_back, level + 1
    return 1
