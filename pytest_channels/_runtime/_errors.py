"""The exceptions the runtime raises."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

P = ParamSpec("P")
S = TypeVar("S")


class ChannelsError(Exception):
    """Base class of every error raised by pytest_channels."""


class InvalidReturn(ChannelsError, TypeError):
    """A socket handler or channel callback returned a value outside its contract."""


class PayloadError(ChannelsError, TypeError):
    """A payload could not cross the wire (it is not a JSON object of JSON values)."""


class BroadcastError(ChannelsError):
    """A broadcast could not be published."""


def or_raise(broadcast: Callable[Concatenate[S, P], BroadcastError | None]) -> Callable[Concatenate[S, P], None]:
    """The raising twin of a method that returns a BroadcastError (Phoenix's `broadcast!` of `broadcast`).

    The twin calls the method by name on its object, so a subclass's override is the one it raises for.
    """
    name = broadcast.__name__

    @functools.wraps(broadcast)
    def raising(self: S, /, *args: P.args, **kwargs: P.kwargs) -> None:
        __tracebackhide__ = True
        failure = getattr(self, name)(*args, **kwargs)
        if failure is not None:
            raise failure

    raising.__name__, raising.__qualname__ = f"{name}_or_raise", f"{broadcast.__qualname__}_or_raise"
    raising.__doc__ = f"`{name}`, raising the BroadcastError instead of returning it."
    # wraps shares the method's annotations: the twin's own say it returns None, as its signature does.
    raising.__annotations__ = {**broadcast.__annotations__, "return": "None"}
    raising.__signature__ = inspect.signature(broadcast).replace(return_annotation="None")  # type: ignore[attr-defined]
    return raising


class NotJoined(ChannelsError):
    """A channel function was used where the channel is not joined (inside `join`, or after exit)."""


class Refused(ChannelsError):
    """The socket of a refused connect or join was asked for: there is none (check `.ok` first)."""


class ChannelExited(ChannelsError):
    """A channel was called (`Runtime.call`) after it exited, or exited before it answered."""


class CallTimeout(ChannelsError, TimeoutError):
    """A call (`Runtime.call`) got no answer within its timeout; the message says when."""


class NotIdle(ChannelsError):
    """The runtime did not become idle within its real-time limit."""


class TokenError(ChannelsError):
    """Verifying a token failed; `reason` is `"missing"`, `"invalid"` or `"expired"`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class UnknownNode(ChannelsError, LookupError):
    """A node name that the cluster does not have."""


class NodeStopped(ChannelsError):
    """A node (or a socket on it) was used after the node stopped."""


class BrokerUnreachable(ChannelsError, ConnectionError):
    """A message broker (Redis) could not be reached; the message names its URL."""


class PresenceError(ChannelsError):
    """A presence was tracked, updated or untracked against the rules (the message says which and why)."""
