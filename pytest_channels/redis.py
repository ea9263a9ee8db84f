"""Broadcast across processes and machines through Redis: `RedisAdapter`, a `PubSubAdapter`.

It speaks the Redis protocol itself over anyio, so it needs no other package and runs on
asyncio and trio.
"""

from __future__ import annotations

# _exports loads the runtime first, so its classes show their public names (pytest_channels.X) here too.
from . import _exports, _public  # noqa: F401
from ._runtime._redis import RedisAdapter as RedisAdapter

__all__ = ("RedisAdapter",)

_public.rename_module(globals(), "pytest_channels.redis")
