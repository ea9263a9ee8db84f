"""What the public modules share: the public path in reprs, and the names they no longer export.

`publish` makes tracebacks and reprs say `pytest_channels.Socket`, not the private
module's path. `former` answers for a name a public module exported before 0.2: it still
works for one release, with a DeprecationWarning that says where it went.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from types import FunctionType
from typing import Any


def publish(namespace: dict[str, Any], module: str) -> dict[str, Any]:
    """Set `__module__` to `module` on every public class and function in `namespace`; return them.

    doctest skips objects that say they come from another module, as these then do: a public
    module that sets `__test__` to what this returns runs the examples in their docstrings.
    """
    public = {name: obj for name, obj in namespace.items() if not name.startswith("_") and callable(obj)}
    for obj in public.values():
        with contextlib.suppress(AttributeError, TypeError):
            obj.__module__ = module
    return {name: obj for name, obj in public.items() if isinstance(obj, type | FunctionType)}


FORMER: dict[str, tuple[str, str, str]] = {
    # name: (module that defines it, where to find it now, what to do instead)
    "Cluster": ("pytest_channels.testing._cluster", "pytest_channels.testing", ""),
    "Node": ("pytest_channels.testing._cluster", "pytest_channels.testing", ""),
    "Network": ("pytest_channels.testing._network", "pytest_channels.testing", ""),
    "Distribution": ("pytest_channels.testing._network", "pytest_channels.testing", ""),
    "Uniform": ("pytest_channels.testing._network", "pytest_channels.testing", ""),
    "Exponential": ("pytest_channels.testing._network", "pytest_channels.testing", ""),
    "ClusterAdapter": ("pytest_channels.testing._cluster", "", "a cluster makes its nodes' adapters"),
    "NetworkStatistics": ("pytest_channels.testing._network", "", "`network.statistics()` returns it"),
    "Packet": ("pytest_channels.testing._network", "", "`network.lost()` and `network.in_flight()` return them"),
    "Clock": ("pytest_channels._runtime._clock", "", "pass a `VirtualClock`, or nothing for the system clock"),
    "SystemClock": ("pytest_channels._runtime._clock", "", "it is the `Runtime`'s default clock"),
    "LoopClock": ("pytest_channels._runtime._clock", "", "the harness uses it by itself on a virtual loop"),
    "LocalAdapter": ("pytest_channels._runtime._pubsub", "", "it is what `PubSub()` uses by default"),
    "Dispatcher": ("pytest_channels._runtime._pubsub", "", "annotate with `Subscriber` and `Broadcast`"),
    "Telemetry": ("pytest_channels._runtime._telemetry", "", "reach it as `runtime.telemetry`"),
    "PresenceServer": ("pytest_channels._runtime._presence", "", "`Presence.start` and `Presence.server` return it"),
}
"""Names `pytest_channels` exported before 0.2, kept one release with a DeprecationWarning."""

FORMER_TESTING: dict[str, tuple[str, str, str]] = {
    "Mailbox": ("pytest_channels.testing._mailbox", "", "use `channels.mailbox`, `channels.flush()`"),
    "Waiting": ("pytest_channels.testing._async", "", "annotate with `Awaitable[...]`"),
    "RealClock": ("pytest_channels.testing._freeze", "", "use the `real_clock` instance"),
    "ClientPush": ("pytest_channels.testing._client", "", "`ClientChannel.push` returns it"),
    "ClientEvent": ("pytest_channels.testing._client", "", "read them from `client.events`"),
}
"""Names `pytest_channels.testing` exported before 0.2, kept one release with a DeprecationWarning."""

FORMER_REDIS: dict[str, tuple[str, str, str]] = {
    "RedisStatistics": ("pytest_channels._runtime._redis", "", "`adapter.statistics()` returns it"),
}
"""Names `pytest_channels.redis` exported before 0.2, kept one release with a DeprecationWarning."""


def former(module: str, name: str, table: dict[str, tuple[str, str, str]]) -> object:
    """A name `module` no longer exports: warn where it went, and still hand it over for one release.

    Raises:
        AttributeError: `name` was never one of `module`'s names.
    """
    if name not in table:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    defined_in, now, instead = table[name]
    advice = f"import it from {now}" if now else f"it is no longer public ({instead})"
    warnings.warn(f"{module}.{name} goes in the next release: {advice}", DeprecationWarning, stacklevel=3)
    return getattr(importlib.import_module(now or defined_in), name)  # its public home names it
