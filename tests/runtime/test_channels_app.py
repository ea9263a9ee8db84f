"""ChannelsApp's arguments and the requests it is not for, without a network."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import pytest

from pytest_channels import ChannelsApp, PubSub, Runtime, SocketHandler
from pytest_channels.redis import RedisAdapter


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
        ({"check_origin": ["a.example"]}, ValueError, r"^check_origin: 'a.example' is not an origin with a host"),
        ({"check_origin": 3}, TypeError, r"^check_origin must be True, False, a list of origins or a function"),
        ({"max_connections": 0}, ValueError, r"^max_connections must be an int >= 1 or None \(got 0\)$"),
        ({"max_params_size": -1}, ValueError, r"^max_params_size must be an int >= 1 \(got -1\)$"),
        ({"max_messages_per_second": 0}, ValueError, r"^max_messages_per_second must be a finite number > 0"),
        ({"max_outgoing_bytes": 0}, ValueError, r"^max_outgoing_bytes must be an int >= 1 \(got 0\)$"),
        ({"max_mailbox": 0}, ValueError, r"^max_mailbox must be an int >= 1 \(got 0\)$"),
        ({"send_timeout": 0}, ValueError, r"^send_timeout must be a finite number of seconds > 0 \(got 0\)$"),
    ],
    ids=[
        "a relative path",
        "not a handler",
        "no idle time",
        "endless joins",
        "no frame",
        "half a channel",
        "a string",
        "an origin without a scheme or //",
        "a number of origins",
        "no connection",
        "negative params",
        "no message",
        "no outgoing byte",
        "no mailbox",
        "no time to send",
    ],
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


def lifespan_startup(app: ChannelsApp) -> list[dict[str, Any]]:
    """What the app answers to a lifespan startup followed at once by a shutdown."""
    sent: list[dict[str, Any]] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message)

    anyio.run(app, {"type": "lifespan"}, receive, send)
    return sent


def test_a_server_without_a_token_secret_fails_its_startup_with_what_to_do(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_KEY_BASE", raising=False)
    sent = lifespan_startup(ChannelsApp({"/socket": UserSocket}))
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert sent[0]["message"].startswith("ChannelsApp will not start without a token secret: a random one would")
    assert "Set the SECRET_KEY_BASE environment variable (the same in every process)" in sent[0]["message"]
    assert "will not start without a token secret" in caplog.text


def test_the_secret_comes_from_secret_key_base_in_the_environment_and_the_server_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECRET_KEY_BASE", "a secret from the environment, 20+ chars")
    app = ChannelsApp({"/socket": UserSocket})
    assert not app.runtime.ephemeral_secret
    # Every process given the same environment verifies what another signed.
    assert Runtime().tokens.verify("salt", app.runtime.tokens.sign("salt", 1)) == 1
    assert [m["type"] for m in lifespan_startup(app)] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_serving_in_a_worker_process_with_a_single_process_pubsub_warns_at_startup(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    runtime = Runtime(secret_key_base="a secret of twenty chars or more")
    sent = lifespan_startup(ChannelsApp({"/socket": UserSocket}, runtime=runtime))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert "ChannelsApp serves in one of WEB_CONCURRENCY=2 worker processes with a single-process PubSub" in (
        caplog.text
    )
    assert "Runtime(pubsub=PubSub(RedisAdapter(url)))" in caplog.text


def test_the_production_limits_are_on_by_default() -> None:
    app = ChannelsApp({"/socket": UserSocket})
    assert app.admission.origins.enabled
    assert (app.admission.max_connections, app.admission.max_params_size) == (10_000, 8_192)
    assert (app.max_outgoing_bytes, app.send_timeout, app.max_mailbox, app.max_messages_per_second) == (
        8_000_000,
        10.0,
        100,
        None,
    )


def test_a_pubsub_adapter_that_cannot_connect_fails_the_startup_with_its_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    adapter = RedisAdapter(url, node_name="web-1", connect_timeout=2.0)
    runtime = Runtime(pubsub=PubSub(adapter), secret_key_base="a secret of twenty chars or more")
    sent = lifespan_startup(ChannelsApp({"/socket": UserSocket}, runtime=runtime))
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert sent[0]["message"].startswith(f"could not connect to Redis at {url} within 2s: ")
    assert "ChannelsApp did not start: could not connect to Redis" in caplog.text
