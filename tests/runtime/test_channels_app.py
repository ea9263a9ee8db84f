"""ChannelsApp's arguments and the requests it is not for, without a network."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from pytest_channels import ChannelsApp, SocketHandler


class UserSocket(SocketHandler):
    pass


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"sockets": {"socket": UserSocket}}, ValueError, r"^a socket path must start with / \(got 'socket'\)$"),
        ({"sockets": {"/s": object}}, TypeError, r"^the socket at '/s' must be a SocketHandler subclass"),
        ({"idle_timeout": 0}, ValueError, r"^idle_timeout must be a finite number of seconds > 0 \(got 0\)$"),
        ({"join_timeout": float("inf")}, ValueError, r"^join_timeout must be a finite number of seconds > 0"),
        ({"max_frame_size": 0}, ValueError, r"^max_frame_size must be an int >= 1 \(got 0\)$"),
        ({"max_channels": 1.5}, ValueError, r"^max_channels must be an int >= 1 \(got 1.5\)$"),
        ({"check_origin": "https://a.example"}, TypeError, r"^check_origin must be a list of origins"),
    ],
    ids=["a relative path", "not a handler", "no idle time", "endless joins", "no frame", "half a channel", "a string"],
)
def test_bad_arguments_are_refused_with_a_message_naming_them(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ChannelsApp(**{"sockets": {"/socket": UserSocket}, **kwargs})


def test_each_socket_is_served_where_phoenix_js_connects() -> None:
    app = ChannelsApp({"/socket": UserSocket, "/admin/": UserSocket})
    assert app.paths == ["/socket/websocket", "/admin/websocket"]
    assert not app.serving


def test_an_http_request_without_a_fallback_gets_a_404_that_says_what_is_served() -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    anyio.run(ChannelsApp({"/socket": UserSocket}), {"type": "http", "path": "/"}, receive, send)
    assert sent[0]["status"] == 404
    assert sent[1]["body"] == b"Not found: this server speaks Phoenix channels over WebSocket at /socket/websocket"


def test_a_websocket_before_the_lifespan_started_is_refused_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/socket/websocket", "query_string": b"vsn=2.0.0", "client": ("1.2.3.4", 5)}
    anyio.run(ChannelsApp({"/socket": UserSocket}), scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert "UserSocket connection from 1.2.3.4:5 refused: the runtime is not serving" in caplog.text
