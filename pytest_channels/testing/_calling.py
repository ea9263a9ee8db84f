"""The harness's calls and casts: the test asks a channel a question, or tells it something."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._runtime._socket import Socket

if TYPE_CHECKING:
    from ._core import Core


async def call(core: Core, socket: Socket, message: Any, timeout: float) -> Any:
    """Run the channels in virtual time until the channel answers, exits or `timeout` passes."""
    __tracebackhide__ = True
    socket = core._own(socket, "call")
    # A ChannelExited goes up as it is: a crash behind it still fails the test unless claimed.
    answer = await core._runtime_of(socket).call(socket, message, timeout=timeout)
    core.raise_crashes()
    return answer


def cast(core: Core, socket: Socket, message: Any) -> None:
    socket = core._own(socket, "cast")
    core._runtime_of(socket).cast(socket, message)
