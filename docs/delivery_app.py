"""The chapter's "Message Delivery", twice: Phoenix's at-most-once, and at-least-once built on top of it.

A broadcast to another node is sent once, with no acknowledgement and no retry, and a push to a
client is never acknowledged either: a client gets each message zero or one time. `FeedChannel`
is an app that forgets this. `ReliableFeedChannel` does the work the chapter says at-least-once
takes: the publisher keeps every message until each reader acknowledged it and resends the rest,
and each reader keeps a message once, by id, however many times it arrives.
"""

from __future__ import annotations

from typing import Any

from pytest_channels import (
    Channel,
    ConnectResult,
    InfoResult,
    InResult,
    JoinResult,
    Socket,
    SocketHandler,
    noreply,
    ok,
    route,
)
from pytest_channels.testing import Client, ClientChannel

RETRY_EVERY = 0.5
"""Seconds between the publisher's resends of what is not acknowledged yet."""


class FeedChannel(Channel):
    """At most once: whatever is broadcast on "feed", on any node, goes straight to the reader."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)


class ReliableFeedChannel(Channel):
    """At least once: the publisher resends each message until every reader acknowledged it.

    Every channel on "reliable" hears every "msg" and "ack"; its role decides what it does with them.
    """

    intercept = ("msg", "ack")

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        if payload.get("role") == "publisher":
            self.send_after(RETRY_EVERY, "retry")
            return ok(socket.assign(role="publisher", readers=list(payload["readers"]), pending={}))
        return ok(socket.assign(role="reader"))

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "publish":  # from the app, on the publisher's node
            waiting = {**socket.assigns["pending"], str(payload["id"]): (payload, list(socket.assigns["readers"]))}
            self.broadcast("msg", payload)
            return noreply(socket.assign(pending=waiting))
        # "ack", from a reader's client: tell the publisher, wherever it runs
        self.broadcast("ack", {"id": payload["id"], "reader": socket.assigns["name"]})
        return noreply(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        if socket.assigns["role"] == "reader":
            if event == "msg":
                self.push("msg", payload)
            return noreply(socket)
        if event == "ack":
            pending = dict(socket.assigns["pending"])
            entry = pending.get(str(payload["id"]))
            if entry is not None:
                message, readers = entry
                left = [r for r in readers if r != payload["reader"]]
                if left:
                    pending[str(payload["id"])] = (message, left)
                else:
                    del pending[str(payload["id"])]
            return noreply(socket.assign(pending=pending))
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        for payload, _ in socket.assigns["pending"].values():  # "retry"
            self.broadcast("msg", payload)
        self.send_after(RETRY_EVERY, "retry")
        return noreply(socket)


class FeedSocket(SocketHandler):
    """Readers give their name; "feed" is at most once, "reliable" at least once."""

    channels = (route("feed", FeedChannel), route("reliable", ReliableFeedChannel))

    def connect(self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]) -> ConnectResult:
        return ok(socket.assign(name=params.get("name", "anonymous")))


class Reader:
    """A reader's browser: a simulated phoenix.js client that keeps each message once, by id.

    Args:
        client: the simulated client, made with `channels.client(FeedSocket, {"name": ...})`.
        topic: "feed" or "reliable".
        ack: acknowledge each message (the at-least-once protocol's half on the client).
    """

    def __init__(self, client: Client, topic: str, *, ack: bool) -> None:
        self.client = client
        self.ack = ack
        client.connect()
        self.room: ClientChannel = client.channel(topic)
        self.room.join()
        self.kept: dict[int, Any] = {}
        self._read = 0

    def read(self) -> None:
        """Handle what arrived since the last read, as the client's `channel.on("msg", ...)` would."""
        for message in self.room.messages[self._read :]:
            if message.event != "msg":
                continue
            self.kept.setdefault(message.payload["id"], message.payload["body"])  # dedupe by id
            if self.ack:
                self.room.push("ack", {"id": message.payload["id"]})
        self._read = len(self.room.messages)
