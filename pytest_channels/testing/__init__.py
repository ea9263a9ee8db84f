"""The test harness: Phoenix's ChannelCase for pytest, in virtual time.

Most tests use it through the `channels` fixture of the pytest plugin. Elsewhere, use a case
as a context manager, which stops its channels and freezegun on exit:
`with ChannelCase() as channels: ...` or `async with AsyncChannelCase() as channels: ...`.
"""

from __future__ import annotations

# _exports loads the runtime first, so its classes show their public names (pytest_channels.X) here too.
from .. import _exports, _public  # noqa: F401
from ._async import AsyncChannelCase as AsyncChannelCase
from ._async import NeverAwaited as NeverAwaited
from ._backends import virtual_anyio_backend as virtual_anyio_backend
from ._client import Client as Client
from ._client import ClientChannel as ClientChannel
from ._client_presence import ClientPresence as ClientPresence
from ._client_presence import sync_diff as sync_diff
from ._client_presence import sync_state as sync_state
from ._cluster import Cluster as Cluster
from ._cluster import Node as Node
from ._core import ChannelCrashed as ChannelCrashed
from ._factory import CaseFactory as CaseFactory
from ._habits import LooksLikeMilliseconds as LooksLikeMilliseconds
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
from ._real import real_clock as real_clock
from ._settings import Settings as Settings
from ._sync import ChannelCase as ChannelCase

__all__ = (
    # the harness
    "ChannelCase",
    "AsyncChannelCase",
    "Settings",
    "CaseFactory",
    # virtual time for channel code's own sleeps
    "VirtualTimeLoop",
    "virtual_loop_factory",
    "virtual_anyio_backend",
    # real time inside a frozen test
    "real_clock",
    # several nodes, and the network between them
    "Cluster",
    "Node",
    "Network",
    "Distribution",
    "Uniform",
    "Exponential",
    # a simulated official JavaScript client
    "Client",
    "ClientChannel",
    "ClientPresence",
    "sync_state",
    "sync_diff",
    # matchers
    "Partial",
    "Where",
    # failures
    "ChannelCrashed",
    "NeverAwaited",
    "Deadlock",
    "VirtualTimeLimit",
    "LooksLikeMilliseconds",
)


_public.rename_module(globals(), "pytest_channels.testing")
