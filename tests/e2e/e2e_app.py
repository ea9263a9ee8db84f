"""The application the end-to-end tests serve: the chapter's sockets, and one socket for protocol corners."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
from hello_sockets.sockets import AuthSocket, UserSocket

from pytest_channels import (
    Channel,
    ChannelsApp,
    ConnectResult,
    Drainer,
    InfoResult,
    InResult,
    JoinResult,
    Reason,
    Route,
    Runtime,
    Socket,
    SocketHandler,
    error,
    noreply,
    ok,
    reply,
    route,
    stop,
)

TERMINATED: list[tuple[str, str | None, Reason]] = []
"""(topic, join_ref, reason) of every EchoChannel that stopped, in this process."""

HOLD = threading.Event()
"""Holds every EchoChannel that handled "hold" until a test sets it (real-time, bounded by HOLD_FOR)."""
HOLD_FOR = 10.0

MAILBOX_PEAK: dict[str, int] = {}
"""The most messages seen waiting in each topic's mailbox, measured by the channel as it handles "echo"."""


class EchoChannel(Channel):
    """Every server-side behaviour a client can observe, one event each."""

    intercept = ("filtered",)

    def terminate(self, reason: Reason, socket: Socket) -> None:
        assert socket.topic is not None
        TERMINATED.append((socket.topic, socket.join_ref, reason))

    async def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        if payload.get("hang"):
            await anyio.sleep_forever()
        if payload.get("sleep"):
            await anyio.sleep(payload["sleep"])  # real-time: a slow join, as a database call would make it
        if payload.get("refuse"):
            return error({"reason": "refused on request"})
        if payload.get("crash"):
            raise RuntimeError("join crashed on request")
        if payload.get("greet"):
            self.send("after_join")
        return ok(socket, {"topic": topic, "user": socket.assigns.get("user"), "params": payload})

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        match event:
            case "echo":
                return reply(socket, "ok", payload)
            case "push":
                self.push("pushed", payload)
            case "broadcast":
                self.broadcast(payload["event"], payload["payload"])
            case "broadcast_to":  # what application code does: broadcast on any topic
                assert socket.runtime is not None
                socket.runtime.broadcast(payload["topic"], payload["event"], payload["payload"])
            case "crash":
                raise RuntimeError("crashed on request")
            case "stop":
                return stop(socket, "normal", reply=("ok", {"stopping": True}))
            case "binary":
                return reply(socket, "ok", bytes(reversed(payload)))
            case "binary_as_json":
                return reply(socket, "ok", {"bytes": list(reversed(payload))})
            case "push_binary":
                self.push("raw", b"\x00\x01\xff")
            case "disconnect":
                if socket.runtime is not None and socket.id is not None:
                    socket.runtime.broadcast(socket.id, "disconnect", {})
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        if message == "after_join":
            self.push("welcome", {"topic": socket.topic})
        return noreply(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        if payload.get("keep"):
            self.push(event, {**payload, "seen_by": "handle_out"})
        return noreply(socket)


class HeldChannel(Channel):
    """A channel that falls behind on request: "hold" waits for `HOLD`; "echo" replies and notes its backlog."""

    async def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "hold":
            await anyio.to_thread.run_sync(HOLD.wait, HOLD_FOR)  # real-time: a test releases it
            return noreply(socket)
        assert socket.topic is not None
        assert socket.channel_pid is not None
        waiting = len(socket.channel_pid.mailbox)
        MAILBOX_PEAK[socket.topic] = max(MAILBOX_PEAK.get(socket.topic, 0), waiting)
        return reply(socket, "ok", {"n": payload["n"]})


class ProtocolSocket(SocketHandler):
    """Refuses `refuse=1`; names the socket after the `user` param, so it can be disconnected."""

    channels = (route("echo:*", EchoChannel), route("held:*", HeldChannel))

    def connect(self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]) -> ConnectResult:
        if params.get("refuse"):
            return error()
        return ok(socket.assign(user=params.get("user"), auth_token=connect_info.get("auth_token")))

    def id(self, socket: Socket) -> str | None:
        user = socket.assigns["user"]
        return f"user:{user}" if user else None


class BrokenSocket(SocketHandler):
    """Its routing raises: a stand-in for a bug on the server's side of a frame."""

    @classmethod
    def route_for(cls, topic: str) -> Route | None:
        raise RuntimeError(f"routing {topic!r} is broken")


def make_app(**options: Any) -> ChannelsApp:
    """The e2e application on a fresh runtime, with LongPoll beside WebSocket; `options` go to `ChannelsApp`."""
    app = ChannelsApp(
        {"/socket": UserSocket, "/auth_socket": AuthSocket, "/protocol": ProtocolSocket, "/broken": BrokenSocket},
        runtime=Runtime(secret_key_base="an e2e secret of at least twenty characters"),
        **{"longpoll": True, "fallback": None, **options},
    )
    if app.fallback is None:
        app.fallback = _admin(app)
    return app


def _admin(app: ChannelsApp) -> Callable[[Any, Any, Any], Awaitable[None]]:
    """`POST /drain` drains the app on demand, as an operator would before taking a node out."""

    async def admin(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/drain":
            closed = await app.drain(Drainer(batch_interval=0))
            status, body = 200, str(closed).encode()
        else:
            status, body = 404, b"not found"
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    return admin


def without_websockets(app: ChannelsApp) -> Callable[[Any, Any, Any], Awaitable[None]]:
    """`app` behind a proxy that refuses every WebSocket upgrade (HTTP 403), as some corporate proxies do."""

    async def proxied(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1008})
            return
        await app(scope, receive, send)

    return proxied
