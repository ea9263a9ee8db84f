"""The runtime's public names (`pytest_channels.__all__`), imported for real on first use.

`pytest_channels/__init__.py` stays light because pytest imports it at every start-up (the
plugin lives inside the package); importing this module loads the whole runtime at once, so
every public class is named by its public path (`pytest_channels.Socket`) from then on,
whichever name was asked for first.
"""

from __future__ import annotations

import pytest_channels._public as _public

# Each name of the package's `__all__`, and nothing else public (tests/test_public_api.py checks).
from ._runtime._calls import CallRef as CallRef
from ._runtime._channel import Channel as Channel
from ._runtime._channel import SocketRef as SocketRef
from ._runtime._clock import Timer as Timer
from ._runtime._clock import VirtualClock as VirtualClock
from ._runtime._errors import BroadcastError as BroadcastError
from ._runtime._errors import BrokerUnreachable as BrokerUnreachable
from ._runtime._errors import CallTimeout as CallTimeout
from ._runtime._errors import ChannelExited as ChannelExited
from ._runtime._errors import ChannelsError as ChannelsError
from ._runtime._errors import InvalidReturn as InvalidReturn
from ._runtime._errors import NodeStopped as NodeStopped
from ._runtime._errors import NotIdle as NotIdle
from ._runtime._errors import NotJoined as NotJoined
from ._runtime._errors import PayloadError as PayloadError
from ._runtime._errors import PresenceError as PresenceError
from ._runtime._errors import Refused as Refused
from ._runtime._errors import TokenError as TokenError
from ._runtime._errors import UnknownNode as UnknownNode
from ._runtime._etf import Atom as Atom
from ._runtime._messages import Broadcast as Broadcast
from ._runtime._messages import Close as Close
from ._runtime._messages import Exit as Exit
from ._runtime._messages import Message as Message
from ._runtime._messages import Push as Push
from ._runtime._messages import Reason as Reason
from ._runtime._messages import Reply as Reply
from ._runtime._presence import Presence as Presence
from ._runtime._process import ChannelProcess as ChannelProcess
from ._runtime._process import Transport as Transport
from ._runtime._pubsub import PubSub as PubSub
from ._runtime._pubsub import PubSubAdapter as PubSubAdapter
from ._runtime._pubsub import Subscriber as Subscriber
from ._runtime._results import CallReplied as CallReplied
from ._runtime._results import CallResult as CallResult
from ._runtime._results import ConnectResult as ConnectResult
from ._runtime._results import Error as Error
from ._runtime._results import InfoResult as InfoResult
from ._runtime._results import InResult as InResult
from ._runtime._results import JoinResult as JoinResult
from ._runtime._results import NoReply as NoReply
from ._runtime._results import Ok as Ok
from ._runtime._results import Replied as Replied
from ._runtime._results import Stop as Stop
from ._runtime._results import call_reply as call_reply
from ._runtime._results import error as error
from ._runtime._results import noreply as noreply
from ._runtime._results import ok as ok
from ._runtime._results import reply as reply
from ._runtime._results import stop as stop
from ._runtime._runtime import Runtime as Runtime
from ._runtime._socket import Route as Route
from ._runtime._socket import Socket as Socket
from ._runtime._socket import SocketHandler as SocketHandler
from ._runtime._socket import route as route
from ._runtime._token import Tokens as Tokens
from ._server._asgi import ChannelsApp as ChannelsApp
from ._server._drain import Drainer as Drainer
from ._server._longpoll import LongPoll as LongPoll
from ._server._serializer import FrameError as FrameError
from ._server._startup import RedactQuery as RedactQuery
from ._server._startup import install_redaction as install_redaction

__test__ = _public.publish(globals(), "pytest_channels")
