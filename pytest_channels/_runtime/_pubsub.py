"""PubSub: topics, subscribers, and an adapter seam for other nodes or a real broker."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from ._messages import Broadcast

publisher: ContextVar[object | None] = ContextVar("pytest_channels_publisher", default=None)
"""Who is publishing right now (a channel process inside its own broadcast), for adapters that
keep order per publisher as Phoenix's PG2 adapter does; None means the node's other code."""


class Subscriber(Protocol):
    """Anything that can receive broadcasts: a channel process, a test client."""

    def receive_broadcast(self, broadcast: Broadcast) -> None:
        """Take one broadcast; must not block.

        Every subscriber gets the same `Broadcast`: treat its payload as read-only, and copy
        it to keep or change it (channels copy it when they handle it).
        """
        ...


class PubSubAdapter(Protocol):
    """Carries broadcasts to other nodes (Phoenix.PubSub.Adapter).

    `publish` is fire-and-forget, like Phoenix's PG2 adapter: at most once, no ack. A remote
    node that receives the broadcast hands it to its own `PubSub.local_broadcast`.
    """

    node_name: str

    def publish(self, broadcast: Broadcast) -> None:
        """Send the broadcast to every other node. Its payload is shared: read-only here too."""
        ...


Dispatcher = Callable[[list[tuple[Subscriber, Any]], Subscriber | None, Broadcast], object]
"""Delivers one broadcast to a topic's entries, `(subscriber, metadata)` pairs, skipping `from_`
if it likes (Phoenix.PubSub's custom dispatchers: `dispatch(entries, from, message)`)."""


@dataclass
class LocalAdapter:
    """The single-node adapter: there is nobody else to tell."""

    node_name: str = "local"

    def publish(self, broadcast: Broadcast) -> None:
        return None


@dataclass(frozen=True)
class PubSubStatistics:
    """Subscriber counts per topic, for debugging and benchmarks."""

    subscribers: dict[str, int]


class PubSub:
    """Topic subscriptions and dispatch, in the caller's process as Phoenix does it.

    Subscribing twice delivers twice (as in Phoenix); `unsubscribe` removes every copy. Each
    subscription may carry `metadata`, which a custom dispatcher reads (Phoenix's
    `subscribe(pubsub, topic, metadata: value)`).

    Args:
        adapter: carries broadcasts to other nodes; defaults to `LocalAdapter`.
    """

    def __init__(self, adapter: PubSubAdapter | None = None) -> None:
        self.adapter: PubSubAdapter = adapter or LocalAdapter()
        self._topics: defaultdict[str, list[tuple[Subscriber, Any]]] = defaultdict(list)

    @property
    def node_name(self) -> str:
        return self.adapter.node_name

    @property
    def node(self) -> str | None:
        """This node's name when broadcasts cross nodes; None for the single-node `LocalAdapter`.

        Broadcasts and pushes carry it as their `origin`.
        """
        return None if isinstance(self.adapter, LocalAdapter) else self.adapter.node_name

    def subscribe(self, topic: str, subscriber: Subscriber, *, metadata: Any = None) -> None:
        if not isinstance(topic, str):
            raise TypeError(f"a topic must be a str (got {topic!r})")
        self._topics[topic].append((subscriber, metadata))

    def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        entries = self._topics.get(topic)
        if entries is None:
            return
        entries[:] = [entry for entry in entries if entry[0] is not subscriber]
        if not entries:
            del self._topics[topic]

    def subscribers(self, topic: str) -> list[Subscriber]:
        return [subscriber for subscriber, _ in self._topics.get(topic, ())]

    def entries(self, topic: str) -> list[tuple[Subscriber, Any]]:
        """The topic's subscriptions as `(subscriber, metadata)` pairs (Registry.lookup)."""
        return list(self._topics.get(topic, ()))

    def broadcast(self, broadcast: Broadcast, *, from_: Subscriber | None = None) -> None:
        """Deliver to every local subscriber except `from_`, then hand to the adapter."""
        if broadcast.origin is None and self.node is not None:
            broadcast = dataclasses.replace(broadcast, origin=self.node)
        self.local_broadcast(broadcast, from_=from_)
        self.adapter.publish(broadcast)

    def local_broadcast(
        self, broadcast: Broadcast, *, from_: Subscriber | None = None, dispatcher: Dispatcher | None = None
    ) -> None:
        """Deliver to this node's subscribers only, through `dispatcher` if given."""
        entries = self._topics.get(broadcast.topic)
        if not entries:
            return
        if dispatcher is not None:
            dispatcher(list(entries), from_, broadcast)
            return
        for subscriber, _ in list(entries):
            if subscriber is not from_:
                subscriber.receive_broadcast(broadcast)

    def statistics(self) -> PubSubStatistics:
        return PubSubStatistics({topic: len(subs) for topic, subs in self._topics.items()})
