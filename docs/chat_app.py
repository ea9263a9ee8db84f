"""The small chat application that the guides in docs/ test: one socket handler, one channel."""

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
    error,
    noreply,
    ok,
    reply,
    route,
)


class RoomChannel(Channel):
    """A chat room: answers pings, relays messages, and sends reminders later."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        if topic == "room:staff" and not socket.assigns.get("staff"):
            return error({"reason": "unauthorized"})
        return ok(socket.assign(sent=0), {"topic": topic})

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "ping":
            return reply(socket, "ok", {"pong": payload.get("n")})
        if event == "say":
            self.broadcast("said", {"from": socket.assigns["name"], "body": payload["body"]})
            return noreply(socket.assign(sent=socket.assigns["sent"] + 1))
        if event == "remind_me":
            self.send_after(payload["after"], ("remind", payload["text"]))
            return reply(socket, "ok", {"in": payload["after"]})
        return reply(socket, "error", {"reason": f"unknown event {event!r}"})

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        match message:
            case ("remind", text):
                self.push("reminder", {"text": text})
        return noreply(socket)


class ChatSocket(SocketHandler):
    """Accepts users who give a name; routes every "room:..." topic to RoomChannel."""

    channels = (route("room:*", RoomChannel),)

    def connect(self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]) -> ConnectResult:
        name = params.get("name")
        if not isinstance(name, str) or not name:
            return error({"reason": "a name is required"})
        return ok(socket.assign(name=name, staff=params.get("staff") is True))

    def id(self, socket: Socket) -> str | None:
        return f"user:{socket.assigns['name']}"
