"""Broadcast across processes and machines through Redis: `RedisAdapter`, a `PubSubAdapter`.

Needs the `redis` package: `pip install 'pytest-channels[redis]'`.
"""

from __future__ import annotations

try:
    import redis as _redis  # noqa: F401 - only to say what is missing
except ImportError as exc:  # pragma: no cover - the dev install has it
    raise ImportError("pytest_channels.redis needs the redis package: pip install 'pytest-channels[redis]'") from exc

# _exports loads the runtime first, so its classes show their public names (pytest_channels.X) here too.
from . import _exports, _public  # noqa: F401
from ._redis import RedisAdapter as RedisAdapter
from ._redis import RedisStatistics as RedisStatistics

__all__ = (
    "RedisAdapter",
    "RedisStatistics",
)

_public.rename_module(globals(), "pytest_channels.redis")
