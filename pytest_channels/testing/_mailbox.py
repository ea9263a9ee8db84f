"""The test's side of every connection: an ordered mailbox, like the Phoenix test process's."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, TypeVar

from .._runtime._messages import Broadcast, Exit, Message

M = TypeVar("M", bound=Message)


class Mailbox:
    """Receives what channels send to the test: a transport and a PubSub subscriber in one.

    `messages` holds what no assertion has consumed yet, in arrival order; `consumed` holds
    what assertions took, so failure output can show everything that was received.
    """

    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self.messages: list[Message] = []
        self.consumed: list[Message] = []
        self.exits: list[Exit] = []
        self.reported_exits: list[Exit] = []
        self.raised_crashes: list[Exit] = []  # reported as ChannelCrashed, still claimable
        self._on_change = on_change  # wakes a wait that is watching the mailbox
        # Which joined channel's transport delivered each message (see Recipient), by id: every
        # message stays referenced (in messages or consumed), so no id is reused meanwhile.
        self._recipients: dict[int, object] = {}

    # Transport
    def deliver(self, message: Message, sender: object = None) -> None:
        """Receive `message`; `sender` is the join's transport that delivered it, for `socket=`."""
        self.messages.append(message)
        if sender is not None:
            self._recipients[id(message)] = sender
        self._on_change()

    def recipient(self, message: Message) -> object:
        """The `Recipient` (one per join) that delivered `message`; None for the test's own broadcasts."""
        return self._recipients.get(id(message))

    def exited(self, exit: Exit) -> None:
        self.exits.append(exit)
        self._on_change()

    # Subscriber
    def receive_broadcast(self, broadcast: Broadcast) -> None:
        self.messages.append(broadcast.copy())
        self._on_change()

    def take(self, kind: type[M], matches: Callable[[M], bool]) -> M | None:
        """Remove and return the first message of `kind` that `matches` (a selective receive)."""
        for index, message in enumerate(self.messages):
            if isinstance(message, kind) and matches(message):
                del self.messages[index]
                self.consumed.append(message)
                return message
        return None

    def find(self, kind: type[M], matches: Callable[[M], bool]) -> M | None:
        """The first message of `kind` that `matches`, left in place."""
        for message in self.messages:
            if isinstance(message, kind) and matches(message):
                return message
        return None

    def take_exit(self, matches: Callable[[Exit], bool]) -> Exit | None:
        """Claim the first exit that `matches`; a crash already raised as `ChannelCrashed` counts too.

        A test that expected the crash where it was raised (`pytest.raises(ChannelCrashed)`)
        can still claim it afterwards, as in Phoenix, where the exit message stays in the mailbox.
        """
        for index, exit in enumerate(self.exits):
            if matches(exit):
                del self.exits[index]
                self.reported_exits.append(exit)
                return exit
        for index, exit in enumerate(self.raised_crashes):
            if matches(exit):
                del self.raised_crashes[index]
                return exit
        return None

    def unexpected_crashes(self) -> list[Exit]:
        """Crash exits no assertion has claimed; each is returned once."""
        crashes = [e for e in self.exits if e.crashed]
        for crash in crashes:
            self.exits.remove(crash)
            self.reported_exits.append(crash)
        self.raised_crashes += crashes
        return crashes

    def flush(self) -> list[Message]:
        taken, self.messages = self.messages, []
        self.consumed.extend(taken)
        return taken


class Recipient:
    """The transport of one join: delivers into the shared mailbox, remembering who received what.

    Every channel a test joins writes to the test's one mailbox, as every channel of a Phoenix
    test process does; this is what lets `assert_push(..., socket=bob)` tell bob's from alice's.
    """

    __slots__ = ("via",)

    def __init__(self, mailbox: Mailbox) -> None:
        self.via = mailbox  # the test's mailbox: what disconnect by id matches channels on

    def deliver(self, message: Message) -> None:
        self.via.deliver(message, self)

    def exited(self, exit: Exit) -> None:
        self.via.exited(exit)


class Addressee(NamedTuple):
    """Who a `socket=` assertion expects to have received a message, shown as a short name."""

    transport: object
    topic: str
    name: str
    recipient: Callable[[Message], object]  # the mailbox's: which transport delivered a message

    def received(self, message: Message) -> bool:
        """Whether this join got `message`: its transport delivered it, on its topic.

        With `wire`, one connection carries every join of a socket, as a real one does: the
        topic tells its joins apart (a socket joins a topic once).
        """
        return self.recipient(message) is self.transport and message.topic == self.topic

    def __repr__(self) -> str:
        return self.name
