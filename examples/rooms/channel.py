"""A room: the online list on join, then every change; "typing" marks the user's meta for a while."""

from __future__ import annotations

from typing import Any

from pytest_channels import Channel, InfoResult, InResult, JoinResult, Socket, noreply, ok, reply

from .presence import RoomPresence

TYPING_FOR = 3.0
"""Seconds a typing indicator lasts after the user's last keystroke."""


class RoomChannel(Channel):
    """`room:<name>`: tracks the user with {"device", "typing"}, pushes "presence_state" then diffs."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.send("after_join")
        device = payload.get("device", "web") if isinstance(payload, dict) else "web"
        return ok(socket.assign(device=device, typing_until=None))

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        if message == "after_join":
            self.push("presence_state", RoomPresence.list(socket))
            RoomPresence.track(socket, socket.assigns["user"], {"device": socket.assigns["device"], "typing": False})
            return noreply(socket)
        if isinstance(message, tuple) and message[0] == "stop_typing":
            if message[1] != socket.assigns["typing_until"]:
                return noreply(socket)  # typed again since: a later timer ends it
            RoomPresence.update(socket, socket.assigns["user"], lambda meta: {**meta, "typing": False})
            return noreply(socket.assign(typing_until=None))
        return noreply(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "typing":
            until = socket.runtime.clock.now_ns() if socket.runtime is not None else 0
            if socket.assigns["typing_until"] is None:
                RoomPresence.update(socket, socket.assigns["user"], lambda meta: {**meta, "typing": True})
            self.send_after(TYPING_FOR, ("stop_typing", until))
            return noreply(socket.assign(typing_until=until))
        if event == "say":
            self.broadcast("said", {"user": socket.assigns["user"], "body": payload.get("body", "")})
            return reply(socket, "ok", {})
        return reply(socket, "error", {"reason": f"unknown event {event!r}"})
