"""`CaseFactory`: fresh cases on the suite's settings, for tests that need more than one.

A property test (hypothesis) runs its body many times in one test, and hypothesis refuses
function-scoped fixtures there, since they would be shared by every example. The
`channels_case` fixture is session-scoped: it hands out a new case per example, built with
the settings the `channels` fixture would have (ini options, then the running test's markers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._async import AsyncChannelCase
from ._settings import Settings
from ._sync import ChannelCase


class CaseFactory:
    """Builds `ChannelCase`s (and `AsyncChannelCase`s) on the running test's settings.

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
