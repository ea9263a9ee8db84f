"""Joins `wild:a:b` only when b == 2a; a topic that is not numbers crashes the join."""

from __future__ import annotations

from typing import Any

from pytest_channels import Channel, InResult, JoinResult, Socket, error, ok, reply


class WildcardChannel(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        numbers = topic.removeprefix("wild:")
        return ok(socket) if _numbers_correct(numbers) else error({})

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        return reply(socket, "ok", {"ping": "pong"})


def _numbers_correct(numbers: str) -> bool:
    # int() raises on "invalid": the chapter lets a malformed topic crash the join on purpose.
    match [int(n) for n in numbers.split(":")]:
        case [a, b]:
            return b == a * 2
        case _:
            return False
