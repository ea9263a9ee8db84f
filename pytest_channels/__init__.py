"""Phoenix-style channels for Python, and a pytest plugin to test them in virtual time.

The runtime lives here; the test harness is `pytest_channels.testing`, and the fixtures
come from the pytest plugin `pytest_channels.plugin`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = (
    # writing channels
    "Channel",
    "Socket",
    "SocketHandler",
    "SocketRef",
    "CallRef",
    "Route",
    "route",
    # what callbacks return
    "ok",
    "error",
    "noreply",
    "reply",
    "stop",
    "call_reply",
    "Ok",
    "Error",
    "NoReply",
    "Replied",
    "Stop",
    "CallReplied",
    "ConnectResult",
    "JoinResult",
    "InResult",
    "InfoResult",
    "CallResult",
    # what clients receive
    "Message",
    "Push",
    "Reply",
    "Broadcast",
    "Close",
    "Exit",
    "Reason",
    # running them
    "Runtime",
    "ChannelsApp",
    "LongPoll",
    "Drainer",
    "ChannelProcess",
    "Transport",
    "PubSub",
    "PubSubAdapter",
    "Subscriber",
    "Tokens",
    "Atom",
    "VirtualClock",
    "Timer",
    # who is online (Phoenix.Presence)
    "Presence",
    # errors
    "ChannelsError",
    "InvalidReturn",
    "PayloadError",
    "BroadcastError",
    "NotJoined",
    "Refused",
    "NotIdle",
    "ChannelExited",
    "CallTimeout",
    "TokenError",
    "FrameError",
    "UnknownNode",
    "NodeStopped",
    "BrokerUnreachable",
    "PresenceError",
    # in production
    "RedactQuery",
    "install_redaction",
)

if TYPE_CHECKING:
    from ._exports import *  # noqa: F403
else:
    # pytest imports this package at every start-up, for the plugin inside it; the runtime
    # loads on the first use of a public name instead, which keeps `pytest --co` fast. Type
    # checkers see the imports above instead, so a misspelt name is still an error there.

    def __getattr__(name: str) -> object:
        # Nothing is cached here: whoever empties sys.modules (pytester does, after each
        # in-process run) must get the runtime that the modules importing it anew will see.
        if name not in __all__:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(importlib.import_module("._exports", __name__), name)

    def __dir__() -> list[str]:
        # Without importing the runtime: freezegun calls dir() on every loaded module.
        return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
