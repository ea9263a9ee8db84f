"""The official `phoenix` client's Presence, in Node.js, against the rooms application served by ChannelsApp.

Two pages see each other join and leave, a crashed channel shows as a leave (and its rejoin
as a join), and a page that reconnects re-syncs from the new join's presence_state. The
client's Presence and Socket are the npm package's, unchanged; the app runs under uvicorn and hypercorn.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_servers import SERVERS
from rooms.channel import RoomChannel
from rooms.sockets import RoomSocket
from test_phoenix_js import NODE_TIMEOUT, ROOT, _node

from pytest_channels import ChannelsApp, InResult, Runtime, Socket, route

SCRIPT = Path(__file__).with_name("presence_client.mjs")


class CrashableRoom(RoomChannel):
    """The rooms channel, with one more event: "crash" raises, as a bug would."""

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "crash":
            raise RuntimeError("crashed on request")
        return super().handle_in(event, payload, socket)


class E2ERoomSocket(RoomSocket):
    channels = (route("room:*", CrashableRoom),)


@pytest.fixture(scope="module", params=list(SERVERS))
def address(request: pytest.FixtureRequest) -> Iterator[str]:
    app = ChannelsApp({"/rooms": E2ERoomSocket}, runtime=Runtime(secret_key_base="an e2e secret for the rooms app"))
    with SERVERS[request.param](app) as served:
        yield served


def run(address: str, scenario: str) -> dict[str, Any]:
    done = subprocess.run(
        [_node(), str(SCRIPT), scenario, address],
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,  # real-time: the script gives up by itself after 8 s
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, f"{scenario} exited {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    events: list[list[Any]] = json.loads(done.stdout)["events"]
    return {name: data for name, data in events}


def test_two_pages_see_each_other_join_and_leave(address: str) -> None:
    seen = run(address, "join_and_leave")
    assert seen["ada sees"] == seen["grace sees"] == ["ada", "grace"]
    assert seen["names"] == ["Ada Lovelace", "Grace Hopper"]  # added by the presence's fetch
    assert seen["after leave"] == ["ada"]
    assert seen["changes"] == [["join", "ada", 1], ["join", "grace", 1], ["leave", "grace", 1]]


def test_a_crashed_channel_shows_as_a_leave_and_its_rejoin_as_a_join(address: str) -> None:
    seen = run(address, "crash_is_a_leave")
    assert seen["after crash"] == ["ada"]
    assert seen["after rejoin"] == ["ada", "grace"]
    assert seen["changes"] == [["leave", "grace", 1], ["join", "grace", 1]]


def test_a_page_that_reconnects_resyncs_from_the_new_state(address: str) -> None:
    seen = run(address, "reconnect_resyncs")
    assert seen["while away"] == ["ada", "grace"]
    assert seen["after reconnect"] == ["ada"]
    # The rejoin pushes the state before tracking ada again: syncState sees both gone, then her diff.
    assert seen["changes"][2:] == [["leave", "ada", 1], ["leave", "grace", 1], ["join", "ada", 1]]
