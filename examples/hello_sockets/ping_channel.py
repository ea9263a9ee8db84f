"""Answers "ping" with "pong"."""

from __future__ import annotations

from typing import Any

from pytest_channels import Channel, InResult, JoinResult, Socket, ok, reply


class PingChannel(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        return reply(socket, "ok", {"ping": "pong"})
