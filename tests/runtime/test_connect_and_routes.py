from __future__ import annotations

import logging
from typing import Any

import pytest

from pytest_channels import (
    Channel,
    ConnectResult,
    JoinResult,
    Ok,
    Socket,
    SocketHandler,
    error,
    ok,
    route,
)
from pytest_channels.testing import ChannelCase


class Echo(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket, {"topic": topic, "assigns": dict(socket.assigns)})


class Other(Channel):
    def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
        return ok(socket, {"other": True})


class Routed(SocketHandler):
    channels = (
        route("room:lobby", Other),
        route("room:*", Echo, assigns={"via": "room"}),
        route("room:special", Other),  # never reached: the splat above matches first
    )


def test_the_first_matching_route_wins(channels: ChannelCase) -> None:
    socket = channels.socket(Routed)
    assert channels.join(socket, "room:lobby").reply == {"other": True}
    assert channels.join(socket, "room:special").reply == {"topic": "room:special", "assigns": {"via": "room"}}


def test_route_assigns_are_merged_into_the_socket_on_join(channels: ChannelCase) -> None:
    socket = channels.socket(Routed, assigns={"user": 7})
    joined = channels.join(socket, "room:1")
    assert isinstance(joined, Ok)
    assert joined.socket.assigns == {"user": 7, "via": "room"}


def test_an_unmatched_topic_is_refused_and_logged(channels: ChannelCase, caplog: pytest.LogCaptureFixture) -> None:
    assert channels.join(channels.socket(Routed), "nope") == error({"reason": "unmatched topic"})
    assert caplog.records[-1].levelno == logging.WARNING
    assert caplog.records[-1].getMessage() == "Routed has no channel route for topic 'nope': unmatched topic"


def test_a_splat_that_is_not_last_is_refused_at_definition() -> None:
    with pytest.raises(ValueError, match=r"^channel route 'room:\*:x': a splat pattern must end with \*"):
        route("room:*:x", Echo)


def test_channels_must_be_routes() -> None:
    with pytest.raises(TypeError, match=r"^Bad.channels must hold route\(...\) entries \(got 'room:\*'\)$"):

        class Bad(SocketHandler):
            channels = ("room:*",)  # type: ignore[assignment]


class Refusing(SocketHandler):
    def connect(self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]) -> ConnectResult:
        if params.get("password") != "secret":
            return error({"reason": "unauthorized"})
        return ok(socket.assign(user=params["user"], peer=connect_info.get("peer")))

    def id(self, socket: Socket) -> str | None:
        return f"user:{socket.assigns['user']}"


def test_connect_passes_params_with_string_keys_and_connect_info(channels: ChannelCase) -> None:
    result = channels.connect(Refusing, {"password": "secret", "user": 3}, {"peer": "127.0.0.1"})
    assert isinstance(result, Ok)
    assert result.socket.assigns == {"user": 3, "peer": "127.0.0.1"}
    assert result.socket.id == "user:3"
    assert result.socket.handler is Refusing


def test_connect_can_refuse_with_a_reason(channels: ChannelCase, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pytest_channels")
    assert channels.connect(Refusing, {}) == error({"reason": "unauthorized"})
    assert "Refusing refused the connection: {'reason': 'unauthorized'}" in caplog.text


def test_a_connected_socket_with_an_id_subscribes_the_test_to_it(channels: ChannelCase) -> None:
    channels.connect(Refusing, {"password": "secret", "user": 3})
    channels.runtime.broadcast("user:3", "disconnect", {})
    channels.assert_broadcast("disconnect", {}, topic="user:3")


class BadId(SocketHandler):
    def id(self, socket: Socket) -> str | None:
        return 42  # type: ignore[return-value]


def test_an_id_that_is_not_a_str_refuses_the_connection(
    channels: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    assert channels.connect(BadId) == error()
    assert caplog.records[-1].getMessage() == "BadId.id returned 42; expected a str or None; the connection is refused"


class BadConnect(SocketHandler):
    def connect(self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]) -> ConnectResult:
        return socket  # type: ignore[return-value]


def test_an_invalid_connect_result_refuses_the_connection_and_names_the_shapes(
    channels: ChannelCase, caplog: pytest.LogCaptureFixture
) -> None:
    assert channels.connect(BadConnect) == error()
    message = caplog.records[-1].getMessage()
    assert message.startswith("BadConnect.connect returned Socket(")
    assert message.endswith("; expected ok(socket) or error() / error(reason); the connection is refused")


class AsyncHandler(SocketHandler):
    async def connect(self, params: dict[str, Any], socket: Socket, connect_info: dict[str, Any]) -> ConnectResult:
        return ok(socket.assign(async_=True))

    async def id(self, socket: Socket) -> str | None:
        return "async"


def test_connect_and_id_may_be_async(channels: ChannelCase) -> None:
    result = channels.connect(AsyncHandler)
    assert result.socket.id == "async"
    assert result.socket.assigns == {"async_": True}


def test_a_socket_built_without_connect_has_no_id_and_the_given_assigns(channels: ChannelCase) -> None:
    socket = channels.socket(Routed, "s1", {"a": 1})
    assert (socket.handler, socket.id, dict(socket.assigns), socket.joined) == (Routed, "s1", {"a": 1}, False)
