"""What the pytest plugin may do with a case: build one (or a `CaseFactory`), and the three calls of `PluginCase`.

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


class CaseFactory:
    """Builds `ChannelCase`s (and `AsyncChannelCase`s) on the running test's settings.

    A property test (hypothesis) runs its body many times in one test, and hypothesis refuses
    function-scoped fixtures there, since they would be shared by every example. The
    `channels_case` fixture is session-scoped: it hands out a new case per example, built with
    the settings the `channels` fixture would have (ini options, then the running test's markers).

    Use each as a context manager, which stops its channels on exit::

        @given(st.text())
        def test_echo(channels_case, text):
            with channels_case() as channels:
                ...

    Args:
        settings: returns the settings in force now (the fixture reads the running test's).
    """

    def __init__(self, settings: Callable[[], Settings]) -> None:
        self._settings = settings

    @property
    def settings(self) -> Settings:
        """The settings a case built now gets, before `overrides`."""
        return self._settings()

    def __call__(self, **overrides: Any) -> ChannelCase:
        """A new `ChannelCase`; `overrides` are settings, as the `channels` marker takes them."""
        return ChannelCase(self._with(overrides))

    def asynchronous(self, **overrides: Any) -> AsyncChannelCase:
        """A new `AsyncChannelCase`, for `async with` in an async test."""
        return AsyncChannelCase(self._with(overrides))

    def _with(self, overrides: dict[str, Any]) -> Settings:
        return self._settings().updated(overrides, source="channels_case(...)")
