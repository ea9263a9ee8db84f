"""handle_call and handle_cast: a test, or other code, asks a channel a question or tells it something."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from pytest_channels import (
    CallRef,
    CallResult,
    CallTimeout,
    Channel,
    ChannelExited,
    InfoResult,
    InResult,
    JoinResult,
    NodeStopped,
    Runtime,
    Socket,
    call_reply,
    noreply,
    ok,
    reply,
)
from pytest_channels.testing import AsyncChannelCase, ChannelCase

sockets: dict[str, Socket] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    sockets.clear()


class Counter(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket.assign(count=0))

    def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        return reply(socket.assign(count=socket.assigns["count"] + 1), "ok", {})

    def handle_call(self, message: Any, from_: CallRef, socket: Socket) -> CallResult:
        match message:
            case "ping":
                return call_reply(socket, "pong")
            case "count":
                return call_reply(socket, socket.assigns["count"])
            case ("add", n):
                count = socket.assigns["count"] + n
                return call_reply(socket.assign(count=count), count)
            case ("answer_later", seconds):
                self.send_after(seconds, ("answer", from_))
                return noreply(socket)
            case "never":
                return noreply(socket)
            case "crash":
                raise RuntimeError("cannot count today")
            case "bad":
                return "pong"  # type: ignore[return-value]
        raise AssertionError(message)

    def handle_cast(self, message: Any, socket: Socket) -> InfoResult:
        self.push("cast", {"got": message})
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        _, from_ = message
        from_.reply(socket.assigns["count"])
        return noreply(socket)


class Silent(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)


def counter(channels: ChannelCase, topic: str = "counter:1") -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(), topic, channel=Counter)


def test_a_call_returns_the_channels_answer(channels: ChannelCase) -> None:
    # Phoenix: assert GenServer.call(socket.channel_pid, :ping) == :pong
    assert channels.call(counter(channels), "ping") == "pong"


def test_a_call_is_handled_in_mailbox_order_after_what_was_sent_before(channels: ChannelCase) -> None:
    socket = counter(channels)
    channels.push(socket, "inc")
    channels.push(socket, "inc")
    assert channels.call(socket, "count") == 2


def test_the_socket_handle_call_returns_is_the_channels_next_state(channels: ChannelCase) -> None:
    socket = counter(channels)
    assert channels.call(socket, ("add", 5)) == 5
    assert channels.get_state(socket).assigns["count"] == 5


def test_a_call_answered_later_returns_when_the_answer_comes_in_virtual_time(channels: ChannelCase) -> None:
    socket = counter(channels)
    assert channels.call(socket, ("answer_later", 2)) == 0
    assert channels.now == 2


def test_a_call_with_no_answer_times_out_in_virtual_time(channels: ChannelCase) -> None:
    socket = counter(channels)
    with pytest.raises(CallTimeout) as info:
        channels.call(socket, "never", timeout=3)
    assert str(info.value) == (
        "call('never') to Counter on 'counter:1' got no answer within 3s of virtual time (t=0.000s to t=3.000s). "
        "The channel is still running: its handle_call returned noreply(socket) without a later "
        "from_.reply(value), or is still working. Answer with call_reply(socket, value), or give the call a "
        "longer timeout."
    )
    assert channels.now == 3
    assert isinstance(info.value, TimeoutError)


def test_an_answer_after_the_timeout_is_dropped(channels: ChannelCase) -> None:
    socket = counter(channels)
    with pytest.raises(CallTimeout):
        channels.call(socket, ("answer_later", 7), timeout=5)
    channels.advance(10)  # the late answer finds nobody waiting, and nothing fails
    assert channels.call(socket, "ping") == "pong"


def test_a_call_to_a_channel_that_exited_says_when_and_why(channels: ChannelCase) -> None:
    socket = counter(channels)
    channels.advance(1)
    channels.close(socket)
    with pytest.raises(ChannelExited) as info:
        channels.call(socket, "ping")
    assert str(info.value) == (
        "call('ping') to Counter on 'counter:1': the channel is not running: "
        "it exited at t=1.000s with reason ('shutdown', 'closed')"
    )


def test_a_channel_that_crashes_on_the_call_answers_with_its_exit(channels: ChannelCase) -> None:
    socket = counter(channels)
    with pytest.raises(ChannelExited, match=r"before answering$") as info:
        channels.call(socket, "crash")
    assert isinstance(info.value.__cause__, RuntimeError)
    # The crash is a crash like any other: the test claims it, or it fails the test.
    assert isinstance(channels.assert_exit(socket).reason, RuntimeError)


def test_an_invalid_handle_call_result_crashes_naming_the_shapes(channels: ChannelCase) -> None:
    socket = counter(channels)
    with pytest.raises(ChannelExited):
        channels.call(socket, "bad")
    reason = channels.assert_exit(socket).reason
    assert "Counter.handle_call returned 'pong'; expected call_reply(socket, value), noreply(socket)" in str(reason)


def test_a_channel_without_handle_call_crashes_naming_the_call(channels: ChannelCase) -> None:
    socket = channels.subscribe_and_join_or_raise(channels.socket(), "silent", channel=Silent)
    with pytest.raises(ChannelExited):
        channels.call(socket, "ping")
    reason = channels.assert_exit(socket).reason
    assert str(reason) == "Silent does not define handle_call(message, from_, socket); it was called with 'ping'"


def test_a_cast_reaches_handle_cast_at_the_next_wait(channels: ChannelCase) -> None:
    socket = counter(channels)
    channels.cast(socket, {"ping": 1})
    assert channels.mailbox == ()
    channels.assert_push("cast", {"got": {"ping": 1}})


def test_a_cast_to_a_channel_that_exited_is_dropped(channels: ChannelCase) -> None:
    socket = counter(channels)
    channels.close(socket)
    channels.cast(socket, "hello")
    channels.refute_push("cast")


def test_a_call_or_cast_to_a_stopped_node_raises_node_stopped(channels: ChannelCase) -> None:
    cluster = channels.cluster("server", "remote")
    socket = channels.subscribe_and_join_or_raise(channels.socket(node="remote"), "counter:1", channel=Counter)
    cluster.stop("remote")
    channels.settle()
    with pytest.raises(NodeStopped, match=r"^cast: node 'remote'"):
        channels.cast(socket, "hello")
    with pytest.raises(NodeStopped, match=r"^call: node 'remote'"):
        channels.call(socket, "ping")


class Asker(Channel):
    """Asks another channel during its own handle_in, as application code would."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        assert socket.runtime is not None
        count = await socket.runtime.call(sockets["counter"], ("add", payload["n"]))
        return reply(socket, "ok", {"count": count})


def test_a_channel_may_call_another_channel(channels: ChannelCase) -> None:
    sockets["counter"] = counter(channels)
    asker = channels.subscribe_and_join_or_raise(channels.socket(), "asker", channel=Asker)
    channels.assert_reply(channels.push(asker, "ask", {"n": 3}), "ok", {"count": 3})


@pytest.mark.channels(virtual_loop=True)
def test_on_a_virtual_loop_a_call_times_out_in_virtual_time_too(channels: ChannelCase) -> None:
    socket = counter(channels)
    with pytest.raises(CallTimeout, match=r"within 5.0s of virtual time \(t=0.000s to t=5.000s\)"):
        channels.call(socket, "never")
    assert channels.call(socket, ("answer_later", 1)) == 0


@pytest.mark.asyncio
async def test_an_async_test_awaits_its_calls(channels: AsyncChannelCase) -> None:
    socket = await channels.subscribe_and_join_or_raise(channels.socket(), "counter:1", channel=Counter)
    assert await channels.call(socket, "ping") == "pong"


class Discard:
    """A transport that drops what it gets: these tests only read the answers to calls."""

    def deliver(self, message: Any) -> None:
        pass

    def exited(self, exit: Any) -> None:
        pass


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_serving_runtime_answers_calls_and_times_them_out_on_its_own_clock(backend: str) -> None:
    async def main() -> tuple[Any, str]:
        runtime = Runtime()
        async with runtime.serving():
            socket = (await runtime.join(runtime.socket(), "c", {}, Discard(), channel=Counter)).socket
            answer = await runtime.call(socket, ("add", 2))
            with pytest.raises(CallTimeout) as info:
                await runtime.call(socket, "never", timeout=0.01)  # real-time: a 10 ms bound, on the system clock
        return answer, str(info.value)

    answer, message = anyio.run(main, backend=backend)
    assert answer == 2
    assert "got no answer within 0.01s of real time" in message
