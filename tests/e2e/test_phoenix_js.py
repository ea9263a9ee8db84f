"""The official `phoenix` JavaScript client, in Node.js over the `ws` package, against our server.

Nobody on this project wrote that client: if it connects, joins, pushes, rejoins and
reconnects here, the protocol is Phoenix's. Each test runs one scenario of
phoenix_client.mjs against a server in this process, under uvicorn and under hypercorn,
and checks what the client saw. The chapter's examples are served as they are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from e2e_app import TERMINATED, make_app, without_websockets
from e2e_servers import SERVERS, serve_uvicorn
from hello_sockets import dedupe_channel, recurring_channel

from pytest_channels import ChannelsApp

ROOT = Path(__file__).parents[2]
SCRIPT = Path(__file__).with_name("phoenix_client.mjs")
NODE_TIMEOUT = 15.0
"""Real seconds a scenario may run; the script gives up by itself after 8."""

TRANSPORTS = ("websocket", "longpoll")


class Served(NamedTuple):
    app: ChannelsApp
    address: str
    transport: str


def _node() -> str:
    node = shutil.which("node")
    missing = (
        "Node.js is not installed"
        if node is None
        else "the phoenix npm package is not installed (run `npm ci` at the repository root)"
        if not (ROOT / "node_modules" / "phoenix").is_dir()
        else None
    )
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}: CI must run the official client", pytrace=False)
        pytest.skip(missing)
    assert node is not None
    return node


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest) -> Iterator[tuple[ChannelsApp, str]]:
    app = make_app()
    with SERVERS[request.param](app) as address:
        yield app, address


@pytest.fixture(params=TRANSPORTS)
def served(request: pytest.FixtureRequest, server: tuple[ChannelsApp, str]) -> Served:
    """Every scenario runs over each transport phoenix.js has, under each server."""
    return Served(*server, request.param)


def run(served: Served, scenario: str, **options: Any) -> dict[str, Any]:
    """Run one scenario; returns {event name: data} (the last of each name) and checks it finished."""
    return run_at(served.address, scenario, transport=served.transport, **options)


def run_at(address: str, scenario: str, **options: Any) -> dict[str, Any]:
    done = subprocess.run(
        [_node(), str(SCRIPT), scenario, address, json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, f"{scenario} exited {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    events: list[list[Any]] = json.loads(done.stdout)["events"]
    return {"_all": events, **{name: data for name, data in events}}


def test_connect_params_reach_connect_and_join_params_reach_join(served: Served) -> None:
    seen = run(served, "connect_params")
    assert seen["join"] == ["ok", {"topic": "echo:params", "user": "ada", "params": {"color": "red"}}]


def test_a_refused_join_and_an_accepted_join_with_its_reply(served: Served) -> None:
    seen = run(served, "joins")
    assert seen["refused"] == ["error", {"reason": "refused on request"}]
    assert seen["accepted"] == ["ok", {"topic": "echo:accepted", "user": None, "params": {"hello": "server"}}]
    assert seen["state"] == "joined"


def test_a_push_is_answered_a_server_push_arrives_and_a_heartbeat_round_trips(served: Served) -> None:
    seen = run(served, "push_reply")
    assert seen["reply"] == ["ok", {"n": 1, "list": [1, "two", None]}]
    assert seen["pushed"] == {"from": "server"}
    assert seen["rtt"] is True


def test_broadcasts_reach_every_client_and_handle_out_filters_intercepted_ones(served: Served) -> None:
    seen = run(served, "broadcasts")
    assert seen["news"] == [{"n": 1}, {"n": 1}]
    assert seen["filtered"] == [{"keep": True, "seen_by": "handle_out"}] * 2


def test_a_crash_reaches_the_client_as_an_error_and_the_client_rejoins_by_itself(
    served: Served,
) -> None:
    seen = run(served, "crash_rejoin")
    assert [name for name, _ in seen["_all"]] == ["joined", "error", "joined", "after_rejoin"]
    assert seen["error"] == {"reason": "channel_crash"}
    assert seen["after_rejoin"] == ["ok", {"alive": True}]


def test_a_server_side_stop_reaches_the_client_as_a_close(served: Served) -> None:
    seen = run(served, "server_stop")
    assert seen["reply"] == ["ok", {"stopping": True}]
    assert seen["closed"] == "closed"


def test_the_client_reconnects_and_rejoins_after_the_server_drops_the_connection(
    served: Served,
) -> None:
    before = len(TERMINATED)
    seen = run(served, "reconnect")
    assert [name for name, _ in seen["_all"]] == ["open", "joined", "close", "open", "joined", "after_reconnect"]
    # LongPoll learns of the end when its next poll finds the session gone: phoenix.js's own 3410.
    closed = {"websocket": (1001, "disconnected"), "longpoll": (3410, "session_gone")}[served.transport]
    assert seen["close"] == {"code": closed[0], "reason": closed[1]}
    assert seen["after_reconnect"] == ["ok", {"back": True}]
    stopped = [(topic, reason) for topic, _, reason in TERMINATED[before:]]
    assert ("echo:reconnect", ("shutdown", "closed")) in stopped  # the channel of the dropped connection


def test_a_drained_client_reconnects_and_rejoins_and_its_old_channel_terminated_draining(served: Served) -> None:
    before = len(TERMINATED)
    seen = run(served, "drain")
    assert [name for name, _ in seen["_all"] if name != "drained"] == ["joined", "close", "joined", "after_drain"]
    closed = {"websocket": (1012, "service restart"), "longpoll": (3410, "session_gone")}[served.transport]
    assert seen["close"] == {"code": closed[0], "reason": closed[1]}
    assert seen["after_drain"] == ["ok", {"back": True}]
    stopped = [(topic, reason) for topic, _, reason in TERMINATED[before:]]
    assert ("echo:drain", ("shutdown", "draining")) in stopped


def test_binary_payloads_cross_as_array_buffers(served: Served) -> None:
    seen = run(served, "binary")
    if served.transport == "websocket":
        assert seen["reply"] == ["ok", [3, 2, 1]]
        assert seen["pushed"] == [0, 1, 255]
    else:  # the client's bytes travel in base64; the server's cannot travel, so the push crashes the channel
        assert seen["reply"] == ["ok", {"bytes": [3, 2, 1]}]
        assert seen["pushed"] == {"reason": "channel_crash"}


def test_the_client_falls_back_to_longpoll_by_itself_when_websockets_are_refused() -> None:
    with serve_uvicorn(without_websockets(make_app())) as address:
        seen = run_at(address, "fallback")
    assert seen["join"] == ["ok", {"topic": "echo:fallback", "user": None, "params": {}}]
    assert seen["reply"] == ["ok", {"over": "longpoll"}]
    assert seen["transport"] == "longpoll"


def test_the_chapters_ping_channel_answers_pong(served: Served) -> None:
    assert run(served, "ping")["reply"] == ["ok", {"ping": "pong"}]


def test_the_chapters_wildcard_channel_joins_only_when_b_is_twice_a(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    seen = run(served, "wildcard")
    assert seen["wild:2:4"] == ["ok", {}]
    assert seen["wild:2:5"] == ["error", {}]
    assert seen["wild:a:b"] == ["error", {"reason": "join crashed"}]
    assert seen["reply"] == ["ok", {"ping": "pong"}]
    assert "WildcardChannel.join crashed on topic 'wild:a:b'" in caplog.text


def test_the_chapters_dedupe_channel_pushes_each_number_once(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedupe_channel, "FLUSH_AFTER", 0.1)  # real time here: 1 s would only slow the test
    assert run(served, "dedupe")["numbers"] == [1, 2, 3]


def test_the_chapters_recurring_channel_pushes_tokens_that_verify_to_the_user(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recurring_channel, "SEND_AFTER", 0.1)  # real time here: 5 s would only slow the test
    tokens = served.app.runtime.tokens
    seen = run(served, "recurring", token=tokens.sign("salt identifier", 7))
    assert len(seen["tokens"]) == 2
    assert [tokens.verify("salt identifier", token, max_age=60) for token in seen["tokens"]] == [7, 7]


def test_the_chapters_auth_socket_refuses_a_bad_token(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    assert run(served, "auth_refused")["error"] is False
    assert "AuthSocket connect error invalid" in caplog.text
