"""The chapter's sockets served for real, with a demo page that uses the official phoenix client.

Run it from the repository root (after `npm ci`, which brings the client's phoenix.js), with
the token secret in the environment (the server refuses to start without one):

    export SECRET_KEY_BASE="$(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
    uvicorn server:app --app-dir examples --host 127.0.0.1 --port 4000

then open http://127.0.0.1:4000/. The page joins the chapter's ping, dedupe and recurring
channels and shows what they send, and who is online in a room (open a second tab with
`?user=grace` to see both).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from hello_sockets import dedupe_channel
from hello_sockets.sockets import TOKEN_SALT, AuthSocket, UserSocket
from rooms.sockets import RoomSocket

from pytest_channels import ChannelsApp, Runtime, install_redaction

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

DEMO = Path(__file__).with_name("demo")
PHOENIX_JS = Path(__file__).parents[1] / "node_modules" / "phoenix" / "priv" / "static" / "phoenix.js"


class DemoPage:
    """The page, its script, the official client, and two stand-ins for the rest of an application.

    `POST /token?user_id=1` signs a token, as a login page would put one in the page it
    renders; `POST /dupe?numbers=1,2,1` broadcasts numbers to the dedupe channel, as
    application code would.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), max_num_fields=10))
        if method == "GET" and path == "/":
            await _respond(send, 200, "text/html; charset=utf-8", (DEMO / "index.html").read_bytes())
        elif method == "GET" and path == "/demo.js":
            await _respond(send, 200, "text/javascript", (DEMO / "demo.js").read_bytes())
        elif method == "GET" and path == "/phoenix.js":
            if PHOENIX_JS.exists():
                await _respond(send, 200, "text/javascript", PHOENIX_JS.read_bytes())
            else:
                await _respond(send, 404, "text/plain", b"phoenix.js is missing: run `npm ci` at the repository root")
        elif method == "POST" and path == "/token" and query.get("user_id", "").isdigit():
            token = self.runtime.tokens.sign(TOKEN_SALT, int(query["user_id"]))
            await _respond(send, 200, "application/json", json.dumps({"token": token}).encode())
        elif method == "POST" and path == "/dupe":
            numbers = [int(n) for n in query.get("numbers", "").split(",") if n.strip().isdigit()][:100]
            dedupe_channel.broadcast(self.runtime, numbers, 1)
            await _respond(send, 200, "application/json", json.dumps({"broadcast": numbers}).encode())
        else:
            await _respond(send, 404, "text/plain", b"not found")


async def _respond(send: Send, status: int, content_type: str, body: bytes) -> None:
    headers = [(b"content-type", content_type.encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def make_app(runtime: Runtime | None = None) -> ChannelsApp:
    """The chapter's UserSocket at /socket and AuthSocket at /auth_socket, the rooms at /rooms, the page at /."""
    runtime = runtime or Runtime()
    return ChannelsApp(
        {"/socket": UserSocket, "/auth_socket": AuthSocket, "/rooms": RoomSocket},
        runtime=runtime,
        fallback=DemoPage(runtime),
        longpoll=True,  # for browsers behind a proxy that refuses WebSockets
    )


# Connect params travel in the URL: keep the tokens in them out of uvicorn's log lines.
install_redaction(["uvicorn.access", "uvicorn.error"])
app = make_app()
