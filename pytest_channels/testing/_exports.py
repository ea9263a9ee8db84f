"""The harness's public names (`pytest_channels.testing.__all__`), imported for real on first use.

See `pytest_channels/_exports.py`: the same arrangement, one layer up.
"""

from __future__ import annotations

# _exports loads the runtime first, so its classes show their public names (pytest_channels.X) here too.
import pytest_channels._exports as _exports  # noqa: F401
import pytest_channels._public as _public

# Each name of the harness's `__all__`, and nothing else public (tests/test_public_api.py checks).
from ._async import AsyncChannelCase as AsyncChannelCase
from ._async import NeverAwaited as NeverAwaited
from ._client import Client as Client
from ._client import ClientChannel as ClientChannel
from ._cluster import Cluster as Cluster
from ._cluster import Node as Node
from ._core import ChannelCrashed as ChannelCrashed
from ._core import LooksLikeMilliseconds as LooksLikeMilliseconds
from ._core import virtual_anyio_backend as virtual_anyio_backend
from ._freeze import real_clock as real_clock
from ._interface import CaseFactory as CaseFactory
from ._loop import Deadlock as Deadlock
from ._loop import VirtualTimeLimit as VirtualTimeLimit
from ._loop import VirtualTimeLoop as VirtualTimeLoop
from ._loop import virtual_loop_factory as virtual_loop_factory
from ._matchers import Partial as Partial
from ._matchers import Where as Where
from ._network import Distribution as Distribution
from ._network import Exponential as Exponential
from ._network import Network as Network
from ._network import Uniform as Uniform
from ._presence import ClientPresence as ClientPresence
from ._presence import sync_diff as sync_diff
from ._presence import sync_state as sync_state
from ._settings import Settings as Settings
from ._sync import ChannelCase as ChannelCase

__test__ = _public.publish(globals(), "pytest_channels.testing")
