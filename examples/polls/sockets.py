"""The socket handler, built around a store: the store is the channel's one dependency, given by the route."""

from __future__ import annotations

from typing import Any

from pytest_channels import ConnectResult, Socket, SocketHandler, error, ok, route

from .channel import PollChannel
from .store import PollStore


def poll_socket(store: PollStore) -> type[SocketHandler]:
    """A socket handler whose poll channels read and write `store`. Voters connect with {"voter": name}."""

    class PollSocket(SocketHandler):
        channels = (route("poll:*", PollChannel, {"store": store}),)

        def connect(self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]) -> ConnectResult:
            voter = params.get("voter")
            if not isinstance(voter, str) or not voter:
                return error({"reason": "a voter name is required"})
            return ok(socket.assign(voter=voter))

        def id(self, socket: Socket) -> str:
            return f"voter:{socket.assigns['voter']}"

    return PollSocket
