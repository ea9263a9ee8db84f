"""The chapter's two socket handlers."""

from __future__ import annotations

import logging
from typing import Any

from pytest_channels import ConnectResult, Socket, SocketHandler, TokenError, error, ok, route

from .dedupe_channel import DedupeChannel
from .ping_channel import PingChannel
from .recurring_channel import RecurringChannel
from .wildcard_channel import WildcardChannel

logger = logging.getLogger(__name__)

ONE_DAY = 86_400
TOKEN_SALT = "salt identifier"


class UserSocket(SocketHandler):
    """Anyone may connect; the socket is anonymous."""

    channels = (
        route("ping", PingChannel),
        route("ping:*", PingChannel),
        route("wild:*", WildcardChannel),
        route("dupe", DedupeChannel),
    )


class AuthSocket(SocketHandler):
    """Connects only with a token signed with the right salt; the socket id names the user."""

    channels = (
        route("ping", PingChannel),
        route("recurring", RecurringChannel),
    )

    def connect(self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]) -> ConnectResult:
        if "token" not in params:
            logger.error("AuthSocket connect error missing params")
            return error()
        assert socket.runtime is not None
        try:
            user_id = socket.runtime.tokens.verify(TOKEN_SALT, params["token"], max_age=ONE_DAY)
        except TokenError as exc:
            logger.error("AuthSocket connect error %s", exc.reason)
            return error()
        return ok(socket.assign(user_id=user_id))

    def id(self, socket: Socket) -> str | None:
        return f"auth_socket:{socket.assigns['user_id']}"
