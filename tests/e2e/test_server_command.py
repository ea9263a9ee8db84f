"""The docs' own server command (`uvicorn server:app --app-dir examples`), run as an operator runs it."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from pathlib import Path

import pytest
from e2e_processes import ROOT, STARTUP, uvicorn_process, wait_for_exit
from e2e_servers import WAIT
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.asyncio  # the websockets client runs on asyncio

EXAMPLES = ROOT / "examples"


async def test_the_example_server_refuses_to_start_without_a_secret_and_says_how_to_make_one(tmp_path: Path) -> None:
    with uvicorn_process("server:app", EXAMPLES, tmp_path / "server.log", env={}) as served:
        assert await asyncio.to_thread(wait_for_exit, served) != 0
    output = served.output()
    assert "ChannelsApp will not start without a token secret" in output
    assert "Set the SECRET_KEY_BASE environment variable (the same in every process)" in output
    assert "Application startup failed. Exiting." in output


def post(address: str, path: str) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(f"http://{address}{path}", method="POST"), timeout=WAIT) as r:
        body: bytes = r.read()
        return body


async def test_under_uvicorns_own_logging_our_lines_carry_time_level_and_name_and_no_token_reaches_its_log(
    tmp_path: Path,
) -> None:
    env = {"SECRET_KEY_BASE": "the operator's secret, twenty chars or more"}
    with uvicorn_process("server:app", EXAMPLES, tmp_path / "server.log", env=env) as served:
        served.wait_for("Application startup complete", within=STARTUP)
        token = json.loads(await asyncio.to_thread(post, served.address, "/token?user_id=7"))["token"]
        async with asyncio.timeout(WAIT):
            async with connect(f"ws://{served.address}/auth_socket/websocket?token={token}&vsn=2.0.0") as ws:
                await ws.send(json.dumps([None, "1", "phoenix", "heartbeat", {}]))
                assert json.loads(await ws.recv())[1] == "1"
            with pytest.raises(InvalidStatus):
                async with connect(f"ws://{served.address}/socket/websocket?vsn=3.0.0&token={token}"):
                    pass
        output = served.wait_for("does not match the server's requirements")
    assert token not in output
    assert '"WebSocket /auth_socket/websocket?token=***&vsn=2.0.0" [accepted]' in output
    assert '"POST /token?user_id=*** HTTP/1.1" 200' in output
    refused = r"UserSocket connection from \S+ refused: the client's requested transport version"
    line = re.search(rf"^(\S+ \S+) (\w+) (\S+): {refused}", output, re.M)
    assert line is not None, output
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", line[1])
    assert (line[2], line[3]) == ("WARNING", "pytest_channels")
