"""Buffers intercepted "number" broadcasts and pushes the unique values 1 s after the first."""

from __future__ import annotations

from typing import Any

from pytest_channels import Channel, InfoResult, JoinResult, Runtime, Socket, noreply, ok

FLUSH_AFTER = 1.0


class DedupeChannel(Channel):
    intercept = ("number",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        buffer = [payload["number"], *socket.assigns.get("buffer", [])]
        return noreply(self._enqueue_send_buffer(socket.assign(buffer=buffer)))

    def _enqueue_send_buffer(self, socket: Socket) -> Socket:
        if socket.assigns.get("awaiting_buffer?"):
            return socket
        self.send_after(FLUSH_AFTER, "send_buffer")
        return socket.assign({"awaiting_buffer?": True})

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        if message != "send_buffer":
            return noreply(socket)
        # The buffer is newest first, as the chapter builds its list; dict keeps first-seen order.
        for number in dict.fromkeys(reversed(socket.assigns["buffer"])):
            self.push("number", {"value": number})
        return noreply(socket.assign({"buffer": [], "awaiting_buffer?": False}))


def broadcast(runtime: Runtime, numbers: list[int], times: int) -> None:
    """Broadcast every number `times` times on "dupe" (the chapter's DedupeChannel.broadcast/2)."""
    for _ in range(times):
        for number in numbers:
            runtime.broadcast("dupe", "number", {"number": number})
