"""Phoenix's LongPoll transport over real HTTP, request by request, with a hand-written client.

The official client runs over LongPoll in test_phoenix_js.py; here each request is one
Phoenix's LongPoll answers in a known way, including those phoenix.js never sends.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from e2e_app import TERMINATED, make_app
from e2e_servers import WAIT, serve_uvicorn

from pytest_channels import ChannelsApp, LongPoll, Runtime
from pytest_channels._server._longpoll import TOKEN_SALT

WINDOW = 2.0
"""Real seconds a poll waits before its 204; a session not polled for 1.5 windows ends. Long enough
that a session never expires between two requests of a test on a loaded machine."""

SHORT_WINDOW = 0.5
"""The window of the server whose tests wait for a 204 or for a session to expire."""


@pytest.fixture(scope="module")
def app() -> ChannelsApp:
    return make_app(longpoll=LongPoll(window=WINDOW), max_frame_size=1_000)


@pytest.fixture(scope="module")
def server(app: ChannelsApp) -> Iterator[str]:
    with serve_uvicorn(app) as address:
        yield address


@pytest.fixture(scope="module")
def short_server() -> Iterator[str]:
    with serve_uvicorn(make_app(longpoll=LongPoll(window=SHORT_WINDOW))) as address:
        yield address


def terminated(topic: str) -> list[tuple[str | None, Any]]:
    return [(join_ref, reason) for stopped, join_ref, reason in TERMINATED if stopped == topic]


def eventually(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {WAIT}s")
        time.sleep(0.01)  # real-time: the server thread acts in real time


class Client:
    """One LongPoll session, as phoenix.js drives it: GETs that poll, POSTs of ndjson frames."""

    def __init__(self, address: str, path: str = "/protocol", query: str = "vsn=2.0.0") -> None:
        self.address, self.path, self.query = address, path, query
        self.token: str | None = None
        self.token_in = "header"  # or "param", as phoenix.js before 1.8.17 sends it
        self.received: list[Any] = []
        self.statuses: list[int] = []  # of every poll, for failure messages

    def request(
        self, method: str, body: bytes | None = None, headers: dict[str, str] | None = None, token: str | None = None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """(HTTP status, the JSON body, the headers) of one request; `token` defaults to the session's."""
        token = token or self.token
        query = self.query
        if token and self.token_in == "param":
            query += f"&token={quote(token)}"
        elif token:
            headers = {**(headers or {}), "X-Phoenix-Longpoll-Token": token}
        host, port = self.address.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=WAIT)
        try:
            connection.request(method, f"{self.path}/longpoll?{query}", body=body, headers=headers or {})
            response = connection.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}, {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()

    def open(self) -> dict[str, Any]:
        status, body, _ = self.request("GET")
        assert status == 200
        if body.get("status") == 410:
            self.token = body["token"]
        return body

    def poll(self) -> dict[str, Any]:
        status, body, _ = self.request("GET")
        assert status == 200
        self.received += [json.loads(message) for message in body.get("messages", [])]
        self.statuses.append(body["status"])
        return body

    def post(self, *frames: Any, raw: bytes | None = None, token: str | None = None) -> dict[str, Any]:
        body = raw if raw is not None else "\n".join(json.dumps(f) for f in frames).encode()
        status, answer, _ = self.request("POST", body, {"Content-Type": "application/x-ndjson"}, token=token)
        assert status == 200
        return answer

    def until(self, count: int) -> list[Any]:
        """Poll until `count` frames arrived in all (each poll answers at once when frames wait)."""
        deadline = time.monotonic() + WAIT
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"only {self.received} arrived within {WAIT}s; polls: {self.statuses}"
            self.poll()
        return self.received


def joined(server: str, topic: str, query: str = "vsn=2.0.0") -> Client:
    client = Client(server, query=query)
    assert client.open()["status"] == 410
    assert client.post(["1", "1", topic, "phx_join", {}]) == {"status": 200}
    assert client.until(1)[0][3:] == ["phx_reply", {"status": "ok", "response": Any_(dict)}]
    client.received.clear()
    return client


class Any_:
    def __init__(self, kind: type) -> None:
        self.kind = kind

    def __eq__(self, other: object) -> bool:
        return isinstance(other, self.kind)


def test_the_first_get_opens_a_session_with_410_and_a_token_and_answers_no_cache(server: str) -> None:
    client = Client(server)
    status, body, headers = client.request("GET")
    assert (status, body["status"], body["messages"]) == (200, 410, [])
    assert isinstance(body["token"], str)
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["cache-control"] == "no-store"
    assert headers["access-control-allow-origin"] == "*"


def test_frames_posted_in_one_batch_are_handled_in_order_and_come_back_batched(server: str) -> None:
    client = joined(server, "echo:lp-batch")
    frames = [["1", str(n), "echo:lp-batch", "echo", {"n": n}] for n in range(2, 6)]
    assert client.post(*frames) == {"status": 200}
    replies = client.until(4)
    assert [(ref, payload["response"]) for _, ref, _, _, payload in replies] == [
        (str(n), {"n": n}) for n in range(2, 6)
    ]


def test_a_join_slower_than_the_window_is_not_cut_short_and_its_post_is_answered_once_it_joined(
    short_server: str,
) -> None:
    client = Client(short_server)
    client.open()
    assert client.post(["1", "1", "echo:lp-slow", "phx_join", {"sleep": SHORT_WINDOW * 2}]) == {"status": 200}
    assert client.until(1)[0][4]["status"] == "ok"


def test_a_poll_with_nothing_to_send_is_answered_204_after_the_window_with_the_same_token(short_server: str) -> None:
    client = Client(short_server)
    client.open()
    started = time.monotonic()
    body = client.poll()
    assert (body["status"], body["messages"], body["token"]) == (204, [], client.token)
    assert time.monotonic() - started >= SHORT_WINDOW


def test_the_token_may_travel_as_the_last_token_param_as_phoenix_js_1_8_sends_it(server: str) -> None:
    client = Client(server, query="vsn=2.0.0&user=ada")
    client.open()
    client.token_in = "param"
    assert client.post(["1", "1", "echo:lp-param", "phx_join", {}]) == {"status": 200}
    reply = client.until(1)[0]
    assert reply[4] == {"status": "ok", "response": {"topic": "echo:lp-param", "user": "ada", "params": {}}}


def test_a_client_binary_frame_travels_in_base64_and_a_server_one_crashes_the_channel(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = joined(server, "echo:lp-bin")
    push = b"\x00\x01\x01\x0b\x0e" + b"12echo:lp-binbinary_as_json" + b"\x01\x02\x03"
    assert client.post(raw=base64.b64encode(push)) == {"status": 200}
    assert client.until(1)[0][4] == {"status": "ok", "response": {"bytes": [3, 2, 1]}}
    assert client.post(["1", "3", "echo:lp-bin", "push_binary", {}]) == {"status": 200}
    assert client.until(2)[1] == ["1", "1", "echo:lp-bin", "phx_error", {"reason": "channel_crash"}]
    assert "cannot be sent over LongPoll: it carries text frames only" in caplog.text


@pytest.mark.parametrize("where", ["header", "param"])
def test_a_forged_token_opens_a_new_session_on_get_and_gets_410_on_post(server: str, where: str) -> None:
    client = joined(server, "echo:lp-forged")
    client.token_in = where
    assert client.token is not None
    forged = client.token[:-2] + ("AA" if not client.token.endswith("AA") else "BB")
    assert client.post(["1", "2", "echo:lp-forged", "echo", {}], token=forged) == {"status": 410}
    status, body, _ = client.request("GET", token=forged)
    assert (status, body["status"]) == (200, 410)
    assert body["token"] != client.token  # a new session: phoenix.js, which had a token, reconnects
    # The real session is untouched.
    assert client.post(["1", "3", "echo:lp-forged", "echo", {"still": "here"}]) == {"status": 200}
    assert client.until(1)[0][4]["response"] == {"still": "here"}


def test_an_expired_token_or_one_signed_elsewhere_or_for_another_socket_is_refused(
    server: str, app: ChannelsApp
) -> None:
    client = joined(server, "echo:lp-expired")
    session_id, path = app.runtime.tokens.verify(TOKEN_SALT, client.token)
    two_weeks_ago = time.time() - LongPoll().max_age - 1
    expired = app.runtime.tokens.sign(TOKEN_SALT, [session_id, path], signed_at=two_weeks_ago)
    elsewhere = Runtime(secret_key_base="another app's secret, twenty characters").tokens.sign(
        TOKEN_SALT, [session_id, path]
    )
    other_socket = app.runtime.tokens.sign(TOKEN_SALT, [session_id, "/socket/longpoll"])
    for token in (expired, elsewhere, other_socket):
        assert client.post(["1", "2", "echo:lp-expired", "echo", {}], token=token) == {"status": 410}
    assert Client(server, path="/socket").post(["1", "1", "ping", "phx_join", {}], token=client.token) == {
        "status": 410
    }


def test_polls_after_the_session_ended_get_its_last_frames_then_410_and_its_channels_stop(server: str) -> None:
    client = joined(server, "echo:lp-end", query="vsn=2.0.0&user=lp-end")
    assert client.post(["1", "2", "echo:lp-end", "push", {"last": True}], ["1", "3", "echo:lp-end", "disconnect", {}])
    eventually(lambda: bool(terminated("echo:lp-end")), "the channel to stop")
    assert terminated("echo:lp-end") == [("1", ("shutdown", "closed"))]
    assert client.until(1)[0] == ["1", None, "echo:lp-end", "pushed", {"last": True}]
    body = client.poll()
    while body["status"] == 204 or (body["status"] == 200 and body["messages"] == []):
        body = client.poll()  # the session's end may be seen by this poll or the next
    assert body["status"] == 410  # phoenix.js, which has a token, closes with 3410 and reconnects
    assert client.post(["1", "4", "echo:lp-end", "echo", {}]) == {"status": 410}


def test_a_session_nobody_polls_ends_after_a_window_and_a_half_and_its_channels_stop(short_server: str) -> None:
    client = joined(short_server, "echo:lp-quiet")
    eventually(lambda: bool(terminated("echo:lp-quiet")), "the quiet session to end")
    assert terminated("echo:lp-quiet") == [("1", ("shutdown", "closed"))]
    assert client.post(["1", "2", "echo:lp-quiet", "echo", {}]) == {"status": 410}


def test_a_frame_over_max_frame_size_ends_only_its_session_with_413(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    big, bystander = joined(server, "echo:lp-big"), joined(server, "echo:lp-bystander")
    assert big.post(["1", "2", "echo:lp-big", "echo", {"x": "y" * 1_000}]) == {"status": 413}
    assert big.post(["1", "3", "echo:lp-big", "echo", {}]) == {"status": 410}
    assert bystander.post(["1", "2", "echo:lp-bystander", "echo", {"ok": 1}]) == {"status": 200}
    assert bystander.until(1)[0][4]["response"] == {"ok": 1}
    assert "a frame over max_frame_size (1000 bytes)" in caplog.text


def test_a_post_of_more_than_100_frames_is_refused_before_any_is_handled(server: str) -> None:
    client = joined(server, "echo:lp-many")
    frames = [["1", str(n), "echo:lp-many", "echo", {}] for n in range(101)]
    assert client.post(*frames) == {"status": 400}
    assert client.post(["1", "x", "echo:lp-many", "echo", {"after": True}]) == {"status": 200}
    assert client.until(1) == [["1", "x", "echo:lp-many", "phx_reply", {"status": "ok", "response": {"after": True}}]]


@pytest.mark.parametrize(
    ("raw", "logged"), [(b"not base64!", "neither UTF-8 frames nor base64"), (b'["1"]', "invalid frame")]
)
def test_a_malformed_post_ends_its_session_with_400(
    server: str, raw: bytes, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = joined(server, "echo:lp-bad")
    assert client.post(raw=raw) == {"status": 400}
    assert client.post(["1", "2", "echo:lp-bad", "echo", {}]) == {"status": 410}
    assert logged in caplog.text


def test_a_v1_client_posts_one_json_object_and_polls_v1_frames(server: str) -> None:
    client = Client(server, query="vsn=1.0.0")
    assert client.open()["status"] == 410
    join = {"topic": "echo:lp-v1", "event": "phx_join", "payload": {}, "ref": "1"}
    status, body, _ = client.request("POST", json.dumps(join).encode(), {"Content-Type": "application/json"})
    assert (status, body) == (200, {"status": 200})
    reply = client.until(1)[0]
    assert (reply["event"], reply["ref"]) == ("phx_reply", "1")
    assert "join_ref" not in reply


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        ("vsn=3.0.0", "requested transport version '3.0.0' does not match"),
        ("vsn=2.0.0&refuse=1", "refused by ProtocolSocket.connect: {}"),
    ],
)
def test_a_refused_connection_gets_403(server: str, query: str, logged: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "pytest_channels")
    assert Client(server, query=query).open() == {"status": 403}
    assert logged in caplog.text


def test_a_cors_preflight_is_answered_and_another_method_gets_400(server: str) -> None:
    client = Client(server)
    status, _, headers = client.request(
        "OPTIONS", headers={"Access-Control-Request-Headers": "x-phoenix-longpoll-token"}
    )
    assert status == 200
    assert headers["access-control-allow-headers"] == "x-phoenix-longpoll-token"
    assert headers["access-control-allow-methods"] == "get, post, options"
    assert client.request("PUT")[0] == 400


def test_check_origin_applies_to_every_longpoll_request() -> None:
    with serve_uvicorn(make_app(check_origin=["https://good.example"])) as address:
        client = Client(address)
        _, body, _ = client.request("GET", headers={"Origin": "https://good.example"})
        assert body["status"] == 410
        client.token = body["token"]
        assert client.request("GET", headers={"Origin": "https://evil.example"})[1] == {"status": 403}
        frame = json.dumps(["1", "1", "echo:lp-origin", "phx_join", {}]).encode()
        assert client.request("POST", frame, {"Origin": "https://evil.example"})[1] == {"status": 403}


def test_max_messages_per_second_holds_over_longpoll_too_ending_the_session_with_429(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serve_uvicorn(make_app(longpoll=LongPoll(window=WINDOW), max_messages_per_second=5)) as address:
        client = Client(address)
        assert client.open()["status"] == 410
        frames: list[list[Any]] = [
            [None, str(n), "phoenix", "heartbeat", {}] for n in range(20)
        ]  # one POST: far over 5 a second
        assert client.post(*frames) == {"status": 429}
        assert [message[1] for message in client.until(5)] == ["0", "1", "2", "3", "4"]
        assert client.post([None, "x", "phoenix", "heartbeat", {}]) == {"status": 410}
    assert "ended: over max_messages_per_second (5)" in caplog.text


def test_a_session_that_does_not_poll_while_max_outgoing_bytes_pile_up_ends_as_a_slow_consumer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serve_uvicorn(make_app(longpoll=LongPoll(window=WINDOW), max_outgoing_bytes=10_000)) as address:
        client = joined(address, "echo:lp-slow")
        # Pushed back to this client, which does not poll meanwhile: 20 KB wait for it, over the 10 KB allowed.
        frames = [["1", str(n), "echo:lp-slow", "push", {"n": n, "data": "x" * 1_000}] for n in range(20)]
        client.post(*frames)
        eventually(lambda: bool(terminated("echo:lp-slow")), "the slow session to end")
        body = client.poll()
        while body["status"] == 200:
            body = client.poll()  # whatever was kept before the limit, then the end
        assert body["status"] == 410
    assert "slow consumer" in caplog.text
