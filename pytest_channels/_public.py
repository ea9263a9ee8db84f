"""Name the public path in tracebacks and reprs: `pytest_channels.Socket`, not its private module's path."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any


def rename_module(namespace: dict[str, Any], module: str, names: Iterable[str] | None = None) -> None:
    """Set `__module__` to `module` on every class and function `names` lists (default: `__all__`)."""
    for name in namespace["__all__"] if names is None else names:
        obj = namespace[name]
        if isinstance(obj, type) or callable(obj):
            with contextlib.suppress(AttributeError, TypeError):
                obj.__module__ = module
