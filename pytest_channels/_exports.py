"""The runtime's public names (`pytest_channels.__all__`), imported for real on first use.

`pytest_channels/__init__.py` stays light because pytest imports it at every start-up (the
plugin lives inside the package); importing this module loads the whole runtime at once, so
every public class is named by its public path (`pytest_channels.Socket`) from then on,
whichever name was asked for first.
"""

from __future__ import annotations

from types import FunctionType as FunctionType_

from . import __all__ as _names  # the package lists the public names; each is imported here
from . import _public
from ._asgi import ChannelsApp as ChannelsApp
from ._calls import CallRef as CallRef
from ._channel import Channel as Channel
from ._channel import SocketRef as SocketRef
from ._clock import Clock as Clock
from ._clock import LoopClock as LoopClock
from ._clock import SystemClock as SystemClock
from ._clock import Timer as Timer
from ._clock import VirtualClock as VirtualClock
from ._cluster import Cluster as Cluster
from ._cluster import ClusterAdapter as ClusterAdapter
from ._cluster import Node as Node
from ._drain import Drainer as Drainer
from ._errors import BroadcastError as BroadcastError
from ._errors import BrokerUnreachable as BrokerUnreachable
from ._errors import CallTimeout as CallTimeout
from ._errors import ChannelExited as ChannelExited
from ._errors import ChannelsError as ChannelsError
from ._errors import InvalidReturn as InvalidReturn
from ._errors import NodeStopped as NodeStopped
from ._errors import NotIdle as NotIdle
from ._errors import NotJoined as NotJoined
from ._errors import PayloadError as PayloadError
from ._errors import PresenceError as PresenceError
from ._errors import TokenError as TokenError
from ._errors import UnknownNode as UnknownNode
from ._etf import Atom as Atom
from ._logs import RedactQuery as RedactQuery
from ._logs import install_redaction as install_redaction
from ._longpoll import LongPoll as LongPoll
from ._messages import Broadcast as Broadcast
from ._messages import Close as Close
from ._messages import Exit as Exit
from ._messages import Message as Message
from ._messages import Push as Push
from ._messages import Reason as Reason
from ._messages import Reply as Reply
from ._network import Distribution as Distribution
from ._network import Exponential as Exponential
from ._network import Network as Network
from ._network import NetworkStatistics as NetworkStatistics
from ._network import Packet as Packet
from ._network import Uniform as Uniform
from ._presence import Presence as Presence
from ._presence import PresenceServer as PresenceServer
from ._process import ChannelProcess as ChannelProcess
from ._process import Transport as Transport
from ._pubsub import Dispatcher as Dispatcher
from ._pubsub import LocalAdapter as LocalAdapter
from ._pubsub import PubSub as PubSub
from ._pubsub import PubSubAdapter as PubSubAdapter
from ._pubsub import Subscriber as Subscriber
from ._results import CallReplied as CallReplied
from ._results import CallResult as CallResult
from ._results import ConnectResult as ConnectResult
from ._results import Error as Error
from ._results import InfoResult as InfoResult
from ._results import InResult as InResult
from ._results import JoinResult as JoinResult
from ._results import NoReply as NoReply
from ._results import Ok as Ok
from ._results import Replied as Replied
from ._results import Stop as Stop
from ._results import call_reply as call_reply
from ._results import error as error
from ._results import noreply as noreply
from ._results import ok as ok
from ._results import reply as reply
from ._results import stop as stop
from ._runtime import Runtime as Runtime
from ._serializer import FrameError as FrameError
from ._socket import Route as Route
from ._socket import Socket as Socket
from ._socket import SocketHandler as SocketHandler
from ._socket import route as route
from ._telemetry import Telemetry as Telemetry
from ._token import Tokens as Tokens

_public.rename_module(globals(), "pytest_channels", _names)

# doctest skips objects that say they come from another module, as these now do: listing
# them here is what runs the examples in their docstrings.
__test__ = {name: globals()[name] for name in _names if isinstance(globals()[name], type | FunctionType_)}
