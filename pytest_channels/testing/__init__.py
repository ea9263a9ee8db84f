"""The test harness: Phoenix's ChannelCase for pytest, in virtual time.

Most tests use it through the `channels` fixture of the pytest plugin. Elsewhere, use a case
as a context manager, which stops its channels and freezegun on exit:
`with ChannelCase() as channels: ...` or `async with AsyncChannelCase() as channels: ...`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__all__ = (
    # the harness
    "ChannelCase",
    "AsyncChannelCase",
    "Settings",
    "CaseFactory",
    # virtual time for channel code's own sleeps
    "VirtualTimeLoop",
    "virtual_loop_factory",
    "virtual_anyio_backend",
    # real time inside a frozen test
    "real_clock",
    # several nodes, and the network between them
    "Cluster",
    "Node",
    "Network",
    "Distribution",
    "Uniform",
    "Exponential",
    # a simulated official JavaScript client
    "Client",
    "ClientChannel",
    "ClientPresence",
    "sync_state",
    "sync_diff",
    # matchers
    "Partial",
    "Where",
    # failures
    "ChannelCrashed",
    "NeverAwaited",
    "Deadlock",
    "VirtualTimeLimit",
    "LooksLikeMilliseconds",
)

if TYPE_CHECKING:
    from ._exports import *  # noqa: F403
else:
    # The plugin imports `testing._settings` at every pytest start-up, which runs this file:
    # the harness loads on the first use of a public name instead, as the package's own
    # `__init__` does for the runtime (and for the same reasons: see it).
    def __getattr__(name: str) -> object:
        if name not in __all__:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(importlib.import_module("._exports", __name__), name)

    def __dir__() -> list[str]:
        return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
