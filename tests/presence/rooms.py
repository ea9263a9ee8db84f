"""A room channel that tracks its user, as Phoenix's guides write it, shared by the presence tests."""

from __future__ import annotations

from typing import Any

from pytest_channels import Channel, InfoResult, InResult, JoinResult, Presence, Socket, noreply, ok, reply


class RoomPresence(Presence):
    """No callbacks: Phoenix's defaults."""


class RoomChannel(Channel):
    """Joins with {"user": ...}; after join pushes the presence state, then tracks the user."""

    presence: type[Presence] = RoomPresence

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.send("after_join")
        return ok(socket.assign(user=payload["user"], device=payload.get("device", "web")))

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.push("presence_state", self.presence.list(socket))
        self.presence.track(socket, socket.assigns["user"], {"device": socket.assigns["device"]})
        return noreply(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "status":
            ref = self.presence.update(socket, socket.assigns["user"], lambda meta: {**meta, **payload})
            return reply(socket, "ok", {"phx_ref": ref})
        if event == "untrack":
            self.presence.untrack(socket, socket.assigns["user"])
            return reply(socket, "ok", {})
        return noreply(socket)
