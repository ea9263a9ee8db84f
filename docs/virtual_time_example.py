"""The behaviours described in docs/virtual-time.md, each as a test."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import anyio
import freezegun
import pytest

from pytest_channels import (
    Channel,
    InfoResult,
    InResult,
    JoinResult,
    NotIdle,
    Push,
    Socket,
    TokenError,
    VirtualClock,
    noreply,
    ok,
    reply,
)
from pytest_channels.testing import ChannelCase, real_clock


class Scheduler(Channel):
    """Says things now, or later with send_after; tells the time; or waits for an event nobody sets."""

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    async def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
        if event == "say":
            self.push("said", {"text": payload["text"]})
        elif event == "later":
            for text in payload["texts"]:
                self.send_after(payload["after"], text)
        elif event == "time":
            return reply(socket, "ok", {"time": time.time(), "now": dt.datetime.now(dt.UTC).isoformat()})
        elif event == "hang":
            await anyio.Event().wait()
        return noreply(socket)

    def handle_info(self, message: Any, socket: Socket) -> InfoResult:
        self.push("said", {"text": message})
        return noreply(socket)


def join(channels: ChannelCase) -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(), "scheduler", channel=Scheduler)


def said(channels: ChannelCase) -> list[str]:
    return [message.payload["text"] for message in channels.flush() if isinstance(message, Push)]


def test_channels_run_only_while_the_test_waits(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "say", {"text": "hi"})
    assert channels.mailbox == ()  # queued, not handled yet
    channels.settle()
    assert said(channels) == ["hi"]


def test_timers_due_at_the_same_instant_fire_in_the_order_they_were_set(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "later", {"after": 1, "texts": ["a", "b", "c"]})
    channels.push(socket, "later", {"after": 0.5, "texts": ["first"]})
    channels.advance(1)
    assert said(channels) == ["first", "a", "b", "c"]


def test_an_assertion_jumps_to_the_next_timer_not_to_its_deadline(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "later", {"after": 30, "texts": ["half a minute"]})
    push = channels.assert_push("said", timeout=3600)
    assert channels.now == 30
    assert push.at_ns == 30_000_000_000


def test_a_deadline_is_inclusive(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "later", {"after": 0.1, "texts": ["on the edge"]})
    channels.assert_push("said", {"text": "on the edge"})  # default timeout 0.1 s


def test_a_failed_assertion_leaves_the_clock_at_its_deadline(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "later", {"after": 1, "texts": ["too late"]})
    with pytest.raises(AssertionError, match=r"^assert_push\('said'\): nothing matched within 250 ms"):
        channels.assert_push("said", timeout=0.25)
    assert channels.now == 0.25


def test_a_refutation_waits_its_whole_timeout(channels: ChannelCase) -> None:
    join(channels)
    channels.refute_push("said", timeout=10)
    assert channels.now == 10


def test_a_refutation_fails_as_soon_as_a_match_arrives(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "later", {"after": 3, "texts": ["oops"]})
    with pytest.raises(AssertionError) as info:
        channels.refute_push("said", timeout=10)
    assert str(info.value) == (
        "refute_push: unexpectedly received Push(topic='scheduler', event='said', payload={'text': 'oops'}, "
        "t=3.000s) (checked at t=3.000s), which matches Push(event='said')."
    )


def test_advance_moves_by_a_duration_and_advance_to_moves_to_an_instant(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "later", {"after": 2, "texts": ["two"]})
    channels.push(socket, "later", {"after": 4, "texts": ["four"]})
    channels.advance(3)
    assert (channels.now, said(channels)) == (3, ["two"])
    channels.advance_to(4)
    assert (channels.now, said(channels)) == (4, ["four"])


def test_time_cannot_go_backwards(channels: ChannelCase) -> None:
    channels.advance(2)
    with pytest.raises(ValueError, match=r"^time can't go backwards: now is 2.000s, asked for 1.000s$"):
        channels.advance_to(1)


class Relay(Channel):
    """Hands a counter to the next relay through an intercepted broadcast, twenty times."""

    intercept = ("hop",)

    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_out(self, event: str, payload: Any, socket: Socket) -> InfoResult:
        hops = payload["hops"] + 1
        if hops == 20:
            self.push("arrived", {"hops": hops})
        else:
            assert socket.runtime is not None
            socket.runtime.broadcast(f"relay:{hops}", "hop", {"hops": hops})
        return noreply(socket)


def test_settle_runs_a_chain_of_messages_to_its_end(channels: ChannelCase) -> None:
    for n in range(20):
        channels.join(channels.socket(), f"relay:{n}", channel=Relay)
    channels.runtime.broadcast("relay:0", "hop", {"hops": 0})
    channels.settle()
    assert channels.runtime.idle
    assert channels.mailbox == (Push("relay:19", "arrived", {"hops": 20}, "20"),)


@pytest.mark.channels(idle_timeout=0.05)
def test_a_handler_that_never_finishes_fails_after_the_idle_timeout(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.push(socket, "hang")
    with pytest.raises(NotIdle) as info:
        channels.settle()
    assert str(info.value) == (
        "the channels were still busy after 0.05s of real time:\n"
        "  - Scheduler (topic 'scheduler') in handle_in('hang')\n"
        "A handler is awaiting something that never completes (real I/O, an event nobody sets). "
        "Raise idle_timeout if the wait is real and slow."
    )


def test_the_wall_clock_follows_virtual_time(channels: ChannelCase) -> None:
    socket = join(channels)
    channels.advance(90)
    assert dt.datetime.now(dt.UTC) == dt.datetime(2024, 1, 1, 0, 1, 30, tzinfo=dt.UTC)
    reply = channels.assert_reply(channels.push(socket, "time"), "ok")
    assert reply.payload == {"time": 1704067290.0, "now": "2024-01-01T00:01:30+00:00"}


def test_your_own_timing_stays_real(channels: ChannelCase) -> None:
    started = time.perf_counter()  # real by default: only the wall clock follows virtual time
    channels.advance(3600)
    assert dt.datetime.now(dt.UTC) == dt.datetime(2024, 1, 1, 1, tzinfo=dt.UTC)
    assert time.perf_counter() - started < 60
    assert real_clock.now().year > 2024  # the machine's wall clock, inside the frozen test


@freezegun.freeze_time("2030-06-01T12:00:00Z")
def test_a_freeze_time_of_your_own_sets_the_start_and_advance_moves_it(channels: ChannelCase) -> None:
    token = channels.runtime.tokens.sign("user salt", 42, max_age=60)
    channels.advance(61)
    assert dt.datetime.now(dt.UTC) == dt.datetime(2030, 6, 1, 12, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(TokenError, match="expired"):
        channels.runtime.tokens.verify("user salt", token)


def test_token_ages_are_measured_on_the_runtime_clock(channels: ChannelCase) -> None:
    tokens = channels.runtime.tokens
    token = tokens.sign("user salt", 42, max_age=86_400)
    channels.advance(86_400)
    assert tokens.verify("user salt", token) == 42
    channels.advance(0.001)
    with pytest.raises(TokenError, match="expired"):
        tokens.verify("user salt", token)


def test_a_virtual_clock_on_its_own() -> None:
    clock = VirtualClock()
    fired: list[str] = []
    clock.call_at(2_000_000_000, lambda: fired.append("two"), "say two")
    clock.call_at(1_000_000_000, lambda: fired.append("one"), "say one")
    clock.advance(1.5)
    assert (fired, clock.now()) == (["one"], 1.5)
    assert repr(clock) == "<VirtualClock now=1.500s timers=1>"
