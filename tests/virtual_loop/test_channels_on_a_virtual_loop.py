"""Channel code that sleeps by itself, in virtual time, on the runtime's own timeline."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket as net
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from pytest_channels import Channel, InfoResult, InResult, JoinResult, Socket, noreply, ok, reply
from pytest_channels._runtime._clock import LoopClock
from pytest_channels.testing import AsyncChannelCase, ChannelCase, Deadlock, VirtualTimeLimit, virtual_anyio_backend

pytestmark = pytest.mark.channels(virtual_loop=True)


class Sleepy(Channel):
    """Sleeps, waits and times out on its own, with asyncio and with anyio."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        self.send_after(2, "timer")
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        match event:
            case "sleep":
                await asyncio.sleep(payload["seconds"])
            case "anyio_sleep":
                await anyio.sleep(payload["seconds"])
            case "wait_for":
                try:
                    await asyncio.wait_for(asyncio.Event().wait(), payload["seconds"])
                except TimeoutError:
                    return reply(socket, "timeout", {"at": _now()})
            case "fail_after":
                try:
                    with anyio.fail_after(payload["seconds"]):
                        await anyio.Event().wait()
                except TimeoutError:
                    return reply(socket, "timeout", {"at": _now()})
            case "hang":
                await anyio.Event().wait()
            case "poll_forever":
                while True:
                    await asyncio.sleep(5)  # virtual time, not real-time: no real wait
        return reply(socket, "ok", {"at": _now()})

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.push("timer", {"at": _now()})
        return noreply(socket)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%H:%M:%S")


def join(channels: ChannelCase) -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(), "t", channel=Sleepy)


def test_a_handlers_own_sleep_takes_virtual_time_and_no_real_time(channels: ChannelCase) -> None:
    socket = join(channels)
    ref = channels.push(socket, "sleep", {"seconds": 3600})
    channels.refute_reply(ref, timeout=3599.999)
    channels.assert_reply(ref, "ok", {"at": "01:00:00"}, timeout=0.001)
    assert channels.now == 3600
    assert isinstance(channels.clock, LoopClock)


@pytest.mark.channels(wire=True)
def test_on_the_wire_the_connection_state_machine_runs_on_the_virtual_loop_too(channels: ChannelCase) -> None:
    socket = join(channels)
    ref = channels.push(socket, "sleep", {"seconds": 60})
    channels.assert_reply(ref, "ok", {"at": "00:01:00"}, timeout=60)
    channels.assert_push("timer", {"at": "00:01:00"}, timeout=0)


def test_runtime_timers_and_handler_sleeps_share_one_timeline(channels: ChannelCase) -> None:
    socket = join(channels)
    ref = channels.push(socket, "sleep", {"seconds": 5})
    # The timer fires at t=2, but the actor is busy sleeping until t=5: one message at a time.
    channels.assert_reply(ref, "ok", {"at": "00:00:05"}, timeout=5)
    channels.assert_push("timer", {"at": "00:00:05"}, timeout=0)


def test_wait_for_in_a_handler_times_out_in_virtual_time(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.assert_reply(channels.push(socket, "wait_for", {"seconds": 30}), "timeout", {"at": "00:00:30"}, timeout=30)


def test_anyio_timeouts_in_a_handler_are_virtual_too(channels: ChannelCase) -> None:
    socket = join(channels)
    ref = channels.push(socket, "fail_after", {"seconds": 7})
    channels.assert_reply(ref, "timeout", {"at": "00:00:07"}, timeout=7)


def test_advance_lets_handlers_sleep_through(channels: ChannelCase) -> None:
    socket = join(channels)
    ref = channels.push(socket, "anyio_sleep", {"seconds": 90})
    channels.advance(90)
    channels.assert_reply(ref, "ok", {"at": "00:01:30"}, timeout=0)


@pytest.mark.channels(idle_timeout=0.05)
def test_a_handler_waiting_for_nothing_is_a_deadlock_naming_it(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.advance(2)  # past the join's timer: nothing else is scheduled
    channels.push(socket, "hang")
    with pytest.raises(Deadlock, match=r"^nothing can wake up: every task waits") as info:
        channels.settle()
    assert "at handle_in (" in str(info.value)


@pytest.mark.channels(max_time=60)
def test_a_handler_polling_forever_stops_at_the_virtual_end_of_time(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "poll_forever")
    with pytest.raises(VirtualTimeLimit, match=r"^the next timer is at t=65.000s, past max_time=60s"):
        channels.settle()


@pytest.mark.asyncio
async def test_async_tests_run_on_the_virtual_loop_under_pytest_asyncio(channels: AsyncChannelCase) -> None:
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "t", channel=Sleepy)
    await asyncio.sleep(
        3
    )  # the test's own sleep is virtual and on the same timeline; virtual time, not real-time: no real wait
    await channels.assert_push("timer", {"at": "00:00:02"}, timeout=0)
    ref = channels.push(socket, "sleep", {"seconds": 10})
    await channels.assert_reply(ref, "ok", {"at": "00:00:13"}, timeout=10)
    assert channels.now == 13


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_anyio_backend(request.param)


@pytest.mark.anyio
async def test_async_tests_run_in_virtual_time_under_anyio_on_asyncio_and_trio(channels: AsyncChannelCase) -> None:
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "t", channel=Sleepy)
    await anyio.sleep(3)  # virtual time, not real-time: no real wait
    await channels.assert_push("timer", {"at": "00:00:02"}, timeout=0)
    ref = channels.push(socket, "fail_after", {"seconds": 4})
    await channels.assert_reply(ref, "timeout", {"at": "00:00:07"}, timeout=4)
    assert channels.now == 7


class Fetcher(Channel):
    """Talks to a real local TCP server, with a generous virtual timeout."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        reader, writer = await asyncio.open_connection("127.0.0.1", payload["port"])
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=10)
        except TimeoutError:
            return reply(socket, "timeout", {})
        finally:
            writer.close()
        return reply(socket, "ok", {"line": line.decode().strip()})


@pytest.fixture
def slow_server() -> Iterator[int]:
    """A real TCP server on another thread that answers each connection after 20 ms of real time."""
    server = net.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                stop.wait(0.02)  # real-time: the server's answer is on its way while the client waits
                conn.sendall(b"hello\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_by_default_time_jumps_over_real_io_that_is_still_on_its_way(channels: ChannelCase, slow_server: int) -> None:
    socket = channels.join(channels.socket(), "f", channel=Fetcher).socket
    ref = channels.push(socket, "fetch", {"port": slow_server})
    channels.assert_reply(ref, "timeout", {}, timeout=10)  # the 10 s virtual timeout won the race


@pytest.mark.channels(io_grace=5)
def test_io_grace_waits_for_real_io_before_time_jumps(channels: ChannelCase, slow_server: int) -> None:
    socket = channels.join(channels.socket(), "f", channel=Fetcher).socket
    ref = channels.push(socket, "fetch", {"port": slow_server})
    channels.assert_reply(ref, "ok", {"line": "hello"}, timeout=10)
    assert channels.now == 0  # it waited in real time, not virtual
