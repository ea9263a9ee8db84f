"""Messages and results built on the hot path without their dataclass __init__ are the same values."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest

from pytest_channels import Broadcast, NoReply, Push, Replied, Reply, Socket, noreply, reply
from pytest_channels._runtime._messages import new_broadcast, new_push, new_reply

SOCKET = Socket(topic="room")

BUILT = [
    pytest.param(new_push("room", "ev", {"a": 1}, "1", 5, "n1"), Push("room", "ev", {"a": 1}, "1", 5, "n1"), id="push"),
    pytest.param(new_reply("room", "2", "ok", {}, "1", 5), Reply("room", "2", "ok", {}, "1", 5), id="reply"),
    pytest.param(new_broadcast("room", "ev", {}, 5, None), Broadcast("room", "ev", {}, 5, None), id="broadcast"),
    pytest.param(noreply(SOCKET), NoReply(SOCKET), id="noreply"),
    pytest.param(reply(SOCKET, "ok", None), Replied(SOCKET, "ok", {}), id="replied"),
]


@pytest.mark.parametrize(("built", "constructed"), BUILT)
def test_a_fast_built_value_has_every_field_in_order_and_equals_the_constructed_one(
    built: Any, constructed: Any
) -> None:
    # A field added to one of these classes must be added to its builder too: this fails first.
    assert list(vars(built)) == [field.name for field in dataclasses.fields(constructed)]
    assert built == constructed
    assert repr(built) == repr(constructed)
    if isinstance(built, Push | Reply | Broadcast):  # what clients receive; results hold a Socket, never pickled
        assert pickle.loads(pickle.dumps(built)) == constructed


@pytest.mark.parametrize(("built", "constructed"), BUILT)
def test_a_fast_built_value_is_still_frozen(built: Any, constructed: Any) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.payload = {"changed": True}
