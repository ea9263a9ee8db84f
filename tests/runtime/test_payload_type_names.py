"""A payload error names the standard type of the value it refuses, whatever subclass it is."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest

from pytest_channels import Channel, InResult, JoinResult, PayloadError, Socket, ok, reply
from pytest_channels.testing import ChannelCase


class Money(decimal.Decimal):
    pass


class Opaque:
    pass


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({1, 2}, "set"),
        (Money("1.5"), "Decimal"),
        (Opaque(), "Opaque"),
    ],
    ids=["a builtin", "a subclass of a standard type", "a class of its own"],
)
def test_a_refused_value_is_named_by_its_standard_type(channels: ChannelCase, value: object, named: str) -> None:
    with pytest.raises(PayloadError, match=rf"payload\['v'\] = .* \({named}\) cannot be sent as JSON"):
        channels.push(_joined(channels), "echo", {"v": value})


def test_a_datetime_under_the_frozen_clock_is_named_datetime(channels: ChannelCase) -> None:
    now = dt.datetime.now()
    assert type(now).__name__ != "datetime"  # the harness's frozen clock answers with a subclass
    with pytest.raises(PayloadError, match=r"\(datetime\) cannot be sent as JSON"):
        channels.push(_joined(channels), "echo", {"v": now})


class Echo(Channel):
    def join(self, topic: str, payload: dict[str, object], socket: Socket) -> JoinResult:
        return ok(socket)

    def handle_in(self, event: str, payload: dict[str, object], socket: Socket) -> InResult:
        return reply(socket, "ok", payload)


def _joined(channels: ChannelCase) -> Socket:
    return channels.subscribe_and_join_or_raise(channels.socket(), "echo:1", channel=Echo)
