"""Phoenix-style channels for Python, and a pytest plugin to test them in virtual time.

The runtime lives here; the test harness is `pytest_channels.testing`, and the fixtures
come from the pytest plugin `pytest_channels.plugin`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # What type checkers see; at run time, `__getattr__` below loads the same names on first use.
    from ._exports import *  # noqa: F403
    from ._exports import __all__ as __all__

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # pytest imports this package at every start-up, for the plugin inside it; the runtime
    # loads on the first use of a public name instead, which keeps `pytest --co` fast.
    # Private and dunder names never load it: the import system probes them. Nothing is
    # cached here: whoever empties sys.modules (pytester does, after each in-process run)
    # must get the runtime that the modules importing it anew will see.
    if name.startswith("_") and name != "__all__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    exports = importlib.import_module("._exports", __name__)
    if name != "__all__" and name not in exports.__all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(exports, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *importlib.import_module("._exports", __name__).__all__})
