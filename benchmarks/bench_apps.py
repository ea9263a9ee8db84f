"""The two servers the benchmark compares, both run by uvicorn: our channels, and a bare echo as the floor."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pytest_channels import (
    Channel,
    ChannelsApp,
    InResult,
    JoinResult,
    Runtime,
    Socket,
    SocketHandler,
    noreply,
    ok,
    reply,
    route,
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


FANOUT = "fanout"
"""The event (ours) or the text prefix (the echo's) that makes the server broadcast to every other client."""


class BenchChannel(Channel):
    """Replies to every push with its payload: the smallest channel that does a round trip.

    A `fanout` push is broadcast as `msg` to every other subscriber of the topic instead.
    """

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == FANOUT:
            self.broadcast_from("msg", payload)
            return noreply(socket)
        return reply(socket, "ok", payload)


class BenchSocket(SocketHandler):
    channels = (route("bench:*", BenchChannel),)


channels_app = ChannelsApp(
    {"/socket": BenchSocket},
    runtime=Runtime(secret_key_base="a benchmark's own secret, 20+ chars"),
    longpoll=True,
    max_connections=None,  # the benchmark holds 10,000 connections and more when asked to
)

_CLIENTS: set[Send] = set()
"""Every open echo connection's `send`: a fan-out frame goes to all of them."""


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The floor: accept, then send every text frame straight back. No JSON, no channels.

    A frame `fanout:<text>` sends `<text>` to every other connection instead, one after the
    other: the same frames ours broadcasts, with no encoding and no subscriptions.
    """
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "http":  # the LongPoll floor: read the body, answer a small JSON at once
        body = b""
        while (message := await receive())["type"] == "http.request":
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer = b'{"status":200,"messages":[' + (b'"' + body.replace(b'"', b'\\"') + b'"' if body else b"") + b"]}"
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
        return
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    _CLIENTS.add(send)
    prefix = FANOUT + ":"
    try:
        while (message := await receive())["type"] == "websocket.receive":
            text = message.get("text")
            if text is None or not text.startswith(prefix):
                await send({"type": "websocket.send", "text": text})
                continue
            sent = {"type": "websocket.send", "text": text[len(prefix) :]}
            for other in list(_CLIENTS):
                if other is not send:
                    with contextlib.suppress(Exception):  # that client left meanwhile
                        await other(sent)
    finally:
        _CLIENTS.discard(send)
