"""What the pytest plugin may do with a case: build one, and the three calls of `PluginCase`.

The plugin holds hooks and fixtures only; everything it needs from the harness goes through
here, so the harness can change inside without the plugin reading its state
(tests/plugin/test_plugin_interface.py checks that plugin.py uses nothing else).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ._async import AsyncChannelCase
from ._settings import Settings
from ._sync import ChannelCase


class PluginCase(Protocol):
    """The case behind a `channels` fixture, as the plugin sees it."""

    def _wrap_test(self, test: Callable[..., Any]) -> Callable[..., Any]:
        """The test function to call in place of `test` (an async test's channels stop inside its loop)."""
        ...

    def _end(self, *, test_failed: bool) -> list[str]:
        """Stop every channel and return the teardown's problems (`strict_mailbox`'s only if the test passed)."""
        ...

    def _failure_note(self) -> str | None:
        """What the report of a failed test must add so that it can be repeated (a cluster's seed), or None."""
        ...


def new_case(settings: Settings, *, asynchronous: bool) -> ChannelCase | AsyncChannelCase:
    """The case of one test: an `AsyncChannelCase` for an `async def` test, else a `ChannelCase`."""
    return AsyncChannelCase(settings) if asynchronous else ChannelCase(settings)
