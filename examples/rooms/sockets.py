"""Users connect with {"user": name}; every room is served by the room channel."""

from __future__ import annotations

from typing import Any

from pytest_channels import ConnectResult, Socket, SocketHandler, error, ok, route

from .channel import RoomChannel


class RoomSocket(SocketHandler):
    channels = (route("room:*", RoomChannel),)

    def connect(self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]) -> ConnectResult:
        user = params.get("user")
        if not isinstance(user, str) or not user:
            return error({"reason": "a user name is required"})
        return ok(socket.assign(user=user))

    def id(self, socket: Socket) -> str:
        return f"user:{socket.assigns['user']}"
