"""Every test here runs an inner pytest session through `pytester`, with the plugin installed.

The `pytester` fixture is overridden so that each inner project starts with the same three
files: `sample_channels.py`, the channels the inner tests join; a `conftest.py` that runs
every `@pytest.mark.anyio` test on asyncio and on trio; and a `tox.ini` that keeps the
inner session as strict as ours, to which `make_ini` adds options.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

SAMPLE_CHANNELS = '''
"""Channels for the inner tests: one room channel whose events exercise the plugin."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import anyio

from pytest_channels import Channel, InfoResult, InResult, JoinResult, Socket, noreply, ok, reply

LOG: list[str] = []
"""What happened, in order: the inner tests compare it with what their fixtures saw."""

TIMERS: list[Any] = []
"""Every timer a RoomChannel set, to check that teardown cancelled them."""

TASKS: set[asyncio.Task[None]] = set()


def _clock() -> dict[str, Any]:
    return {"time": time.time(), "now": dt.datetime.now(dt.UTC).isoformat()}


async def _forever() -> None:
    await asyncio.Event().wait()


class RoomChannel(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.send("after_join")
        return ok(socket, {"joined": topic})

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "ping":
            return reply(socket, "ok", {"pong": payload.get("n")})
        if event == "remind":
            TIMERS.append(self.send_after(payload["after"], ("remind", payload["text"])))
            return reply(socket, "ok", {"in": payload["after"]})
        if event == "greet":
            self.push("greeting", {"hello": payload["name"]})
            return noreply(socket)
        if event == "clock":
            return reply(socket, "ok", _clock())
        if event == "clock_info":
            self.send("clock")
        if event == "boom":
            raise ValueError("boom")
        if event == "hang":
            await anyio.Event().wait()
        if event == "leak":
            task = asyncio.get_running_loop().create_task(_forever(), name="leaked-by-room-channel")
            TASKS.add(task)
            task.add_done_callback(TASKS.discard)
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        if message == "after_join":
            self.push("welcome", {"topic": socket.topic})
        elif message == "clock":
            self.push("clock", _clock())
        else:
            _, text = message
            self.push("reminder", {"text": text})
        return noreply(socket)

    def terminate(self, reason: Any, socket: Socket) -> None:
        LOG.append(f"terminate {socket.topic} {reason!r}")


class HangOnJoin(Channel):
    """Its join awaits an event nobody sets: the only work the idle guard's window ever holds."""

    async def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        await anyio.Event().wait()
        return ok(socket)
'''

INNER_CONFTEST = """
import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param
"""

# Warnings are errors in the inner session too. Hypothesis (installed for the fault explorer)
# is left out: importing it costs these inner sessions seconds on a loaded machine, which the
# ones with a real-time bound cannot spare, and none of them uses it.
INI = """
[pytest]
addopts = -p no:hypothesispytest
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
"""


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """`pytester`, with `sample_channels.py`, `conftest.py` and a strict `tox.ini` in the inner project."""
    pytester.makepyfile(sample_channels=textwrap.dedent(SAMPLE_CHANNELS))
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makeini(INI)
    return pytester


@pytest.fixture
def make_ini(pytester: pytest.Pytester) -> Callable[[str], Path]:
    """Write the inner `tox.ini`: the strict defaults above, then `options` (ini lines)."""

    def make(options: str) -> Path:
        return pytester.makeini(INI + textwrap.dedent(options))

    return make
