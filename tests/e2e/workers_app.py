"""An application served by `uvicorn workers_app:app --workers 2`: each worker process imports it.

With `REDIS_URL` set, the runtime's PubSub crosses the workers through Redis (on the Redis
channel `REDIS_CHANNEL`); without it, each worker has a PubSub of its own. `POST /token`
signs a token and `POST /broadcast?n=1` broadcasts on "news:all" from application code;
both answer with the worker's pid, and so does a join. A "shout" push broadcasts from the
channel, on the worker the client joined.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from pytest_channels import (
    Channel,
    ChannelsApp,
    ConnectResult,
    InResult,
    JoinResult,
    PubSub,
    Runtime,
    Socket,
    SocketHandler,
    TokenError,
    error,
    ok,
    reply,
    route,
)
from pytest_channels.redis import RedisAdapter

SALT = "worker user"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class NewsChannel(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket, {"pid": os.getpid()})

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        # A broadcast from channel code on this very worker: which worker sends is then the
        # test's choice, not the kernel's (POST /broadcast lands on whichever worker accepts).
        self.broadcast("news", {"n": payload["n"], "from": os.getpid()})
        return reply(socket, "ok", {"pid": os.getpid()})


class WorkerSocket(SocketHandler):
    """Connects only with a token, which any worker may have signed."""

    channels = (route("news:*", NewsChannel),)

    def connect(self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]) -> ConnectResult:
        assert socket.runtime is not None
        try:
            return ok(socket.assign(user=socket.runtime.tokens.verify(SALT, params.get("token"), max_age=60)))
        except TokenError:
            return error()


def make_runtime() -> Runtime:
    url = os.environ.get("REDIS_URL")
    if url is None:
        return Runtime()
    return Runtime(pubsub=PubSub(RedisAdapter(url, channel=os.environ["REDIS_CHANNEL"], connect_timeout=5.0)))


runtime = make_runtime()


async def application_code(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    if scope["path"] == "/token":
        body: dict[str, Any] = {"token": runtime.tokens.sign(SALT, query.get("user", "x")), "pid": os.getpid()}
    elif scope["path"] == "/broadcast":
        failed = runtime.broadcast("news:all", "news", {"n": int(query["n"]), "from": os.getpid()})
        body = {"pid": os.getpid(), "error": None if failed is None else str(failed)}
    else:
        body = {}
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


app = ChannelsApp({"/socket": WorkerSocket}, runtime=runtime, fallback=application_code)
