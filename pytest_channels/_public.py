"""Name the public path in tracebacks and reprs (`pytest_channels.Socket`, not `pytest_channels._socket.Socket`)."""

from __future__ import annotations

import contextlib
from typing import Any


def rename_module(namespace: dict[str, Any], module: str) -> None:
    """Set `__module__` to `module` on every class and function listed in the namespace's `__all__`."""
    for name in namespace["__all__"]:
        obj = namespace[name]
        if isinstance(obj, type) or callable(obj):
            with contextlib.suppress(AttributeError, TypeError):
                obj.__module__ = module
