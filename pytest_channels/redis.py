"""Broadcast across processes and machines through Redis: `RedisAdapter`, a `PubSubAdapter`.

It speaks the Redis protocol itself over anyio, so it needs no other package and runs on
asyncio and trio.
"""

from __future__ import annotations

# _exports loads the runtime first, so its classes show their public names (pytest_channels.X) here too.
import pytest_channels._exports as _exports  # noqa: F401
import pytest_channels._public as _public

from ._runtime._redis import RedisAdapter as RedisAdapter

__all__ = ("RedisAdapter",)

_public.publish(globals(), "pytest_channels.redis")


def __getattr__(name: str) -> object:
    return _public.former(__name__, name, _public.FORMER_REDIS)
