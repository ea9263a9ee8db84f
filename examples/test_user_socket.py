"""The chapter's UserSocketTest."""

from __future__ import annotations

from hello_sockets.sockets import UserSocket

from pytest_channels import Ok, Socket
from pytest_channels.testing import ChannelCase


def test_can_be_connected_to_without_parameters(channels: ChannelCase) -> None:
    result = channels.connect(UserSocket, {})
    assert isinstance(result, Ok)
    assert isinstance(result.socket, Socket)


def test_an_identifier_is_not_provided(channels: ChannelCase) -> None:
    socket = channels.connect(UserSocket, {}).socket
    assert UserSocket().id(socket) is None
    assert socket.id is None
