"""Pushes a freshly signed token every 5 seconds."""

from __future__ import annotations

from typing import Any

from pytest_channels import Channel, InfoResult, JoinResult, Socket, noreply, ok

SEND_AFTER = 5.0
TOKEN_SALT = "salt identifier"


class RecurringChannel(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.send_after(SEND_AFTER, "send_token")
        return ok(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        if message != "send_token":
            return noreply(socket)
        self.send_after(SEND_AFTER, "send_token")
        self.push("new_token", {"token": _new_token(socket)})
        return noreply(socket)


def _new_token(socket: Socket) -> str:
    assert socket.runtime is not None
    return socket.runtime.tokens.sign(TOKEN_SALT, socket.assigns["user_id"])
