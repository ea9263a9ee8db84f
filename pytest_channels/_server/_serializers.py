"""The serializers a client may ask for with `vsn`, and how one is picked: Phoenix's negotiation.

Phoenix serves `{V1.JSONSerializer, "~> 1.0.0"}` and `{V2.JSONSerializer, "~> 2.0.0"}`: the
client's `vsn` (1.0.0 when it names none) must be a semantic version, and the first
requirement it matches picks the serializer. Anything else refuses the connection.

V1 frames are JSON objects, `{"topic", "event", "payload", "ref"}` (a client may add
`join_ref`; the server never sends one), in text frames only. V2 lives in `_serializer`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest_channels._server._serializer as v2

from .._runtime._errors import PayloadError
from .._runtime._messages import Broadcast
from ._serializer import Frame, FrameError

_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")


@dataclass(eq=False)
class Serializer:
    """One protocol version, both sides: what the server decodes and encodes, and the client's mirror.

    `fastlane` encodes a broadcast as the frame every subscriber gets; the last one is kept,
    so a broadcast to many connections is encoded once per serializer, as in Phoenix.
    """

    vsn: str
    requirement: str
    decode: Callable[[str | bytes], Frame]
    encode: Callable[[Frame], str | bytes]
    encode_client: Callable[[Frame], str | bytes]
    decode_client: Callable[[str | bytes], Frame]
    _last: Broadcast | None = None
    _last_data: str | bytes = ""

    def __repr__(self) -> str:
        return f"<Serializer vsn={self.vsn}>"

    def fastlane(self, broadcast: Broadcast) -> str | bytes:
        """The frame of a broadcast nobody intercepted, encoded once for all its subscribers.

        Raises:
            PayloadError: the payload cannot travel with this serializer.
        """
        if broadcast is not self._last:
            data = self.encode(Frame(None, None, broadcast.topic, broadcast.event, broadcast.payload))
            self._last, self._last_data = broadcast, data
        return self._last_data

    @functools.cached_property
    def text_only(self) -> Serializer:
        """This serializer for a transport that carries text only (LongPoll): bytes payloads are refused."""
        encode = self.encode

        def encode_text(frame: Frame) -> str:
            data = encode(frame)
            if isinstance(data, bytes):
                raise PayloadError(
                    f"{v2._describe(frame)} cannot be sent over LongPoll: it carries text frames only, as "
                    "Phoenix's does (the client must connect over WebSocket to receive bytes)"
                )
            return data

        return Serializer(self.vsn, self.requirement, self.decode, encode_text, self.encode_client, self.decode_client)

    def matches(self, major: int, minor: int, patch: int, pre: str | None) -> bool:
        """Elixir's `~> X.Y.0`: X.Y.anything, where X.Y.0's own pre-releases come before X.Y.0."""
        want_major, want_minor = (int(part) for part in self.vsn.split(".")[:2])
        return (major, minor) == (want_major, want_minor) and not (patch == 0 and pre is not None)


class VsnError(ValueError):
    """The client asked for a protocol version that is not served; the message says which are."""


# -- V1 -----------------------------------------------------------------------------------------


def decode_v1(data: str | bytes) -> Frame:
    """Decode a V1 frame a client sent: a JSON object.

    Raises:
        FrameError: the frame is binary, not JSON, not an object, or misses a key.

    Example:
        >>> decode_v1('{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1"}')
        Frame(join_ref=None, ref='1', topic='room:lobby', event='phx_join', payload={})
    """
    if isinstance(data, (bytes, bytearray)):
        raise FrameError("invalid V1 frame: binary frames are V2 only (connect with vsn=2.0.0 to send bytes)")
    try:
        decoded = v2.parse(data)
    except RecursionError:
        raise FrameError("invalid V1 frame: JSON nested too deeply") from None
    except ValueError as exc:
        raise FrameError(f"invalid V1 frame: not JSON ({exc})") from None
    if not isinstance(decoded, dict):
        raise FrameError(
            f"invalid V1 frame: expected a JSON object with topic, event, payload and ref, got {v2._clip(data)} "
            "(a [join_ref, ref, topic, event, payload] list is a V2 frame: connect with vsn=2.0.0)"
        )
    missing = [key for key in ("topic", "event", "payload", "ref") if key not in decoded]
    if missing:
        raise FrameError(f"invalid V1 frame: missing key {missing[0]!r} in {v2._clip(data)}")
    join_ref, ref, topic, event, payload = (decoded.get(k) for k in ("join_ref", "ref", "topic", "event", "payload"))
    v2._check_ref("join_ref", join_ref)
    v2._check_ref("ref", ref)
    if not isinstance(topic, str) or not isinstance(event, str):
        raise FrameError(f"invalid V1 frame: topic and event must be strings, got {v2._clip(data)}")
    if not isinstance(payload, dict):
        raise FrameError(f"invalid V1 frame: the payload must be a JSON object, got {v2._clip(json.dumps(payload))}")
    return Frame(join_ref, ref, topic, event, payload)


def encode_v1(frame: Frame) -> str:
    """Encode a frame the server sends as V1 JSON text: no join_ref, as Phoenix's V1 sends none.

    Raises:
        PayloadError: the payload is bytes (V1 has no binary frames) or cannot be JSON.

    Example:
        >>> encode_v1(Frame("1", "2", "room:lobby", "phx_reply", {"status": "ok", "response": {}}))
        '{"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"2"}'
    """
    return encode_v1_client(frame._replace(join_ref=None))


def encode_v1_client(frame: Frame) -> str:
    """Encode a frame as a V1 client (phoenix.js before 1.3) sends it, join_ref included when it has one.

    Raises:
        PayloadError: as for `encode_v1`.
    """
    _v1_payload(frame)
    value: dict[str, Any] = {"topic": frame.topic, "event": frame.event, "payload": frame.payload, "ref": frame.ref}
    if frame.join_ref is not None:
        value["join_ref"] = frame.join_ref
    return v2._json(value, frame, "V1")


def decode_v1_client(data: str | bytes) -> Frame:
    """Decode a V1 frame the server sent.

    Raises:
        FrameError: the frame is not a V1 object.
    """
    if isinstance(data, (bytes, bytearray)):
        raise FrameError("invalid V1 frame from the server: it is binary")
    try:
        decoded = json.loads(data)
        return Frame(None, decoded["ref"], decoded["topic"], decoded["event"], decoded["payload"])
    except (ValueError, TypeError, KeyError) as exc:
        raise FrameError(f"invalid V1 frame from the server: {exc!r}") from None


def _v1_payload(frame: Frame) -> None:
    payload = frame.payload
    response = payload.get("response") if isinstance(payload, dict) and frame.event == "phx_reply" else None
    if isinstance(payload, bytes) or isinstance(response, bytes):
        raise PayloadError(
            f"{v2._describe(frame)} cannot be sent with the V1 serializer: it has no binary frames "
            "(the client must connect with vsn=2.0.0 to receive bytes)"
        )
    if not isinstance(payload, dict):
        raise PayloadError(f"{v2._describe(frame)}: expected payload to be a map (a dict), got {type(payload)}")


# -- negotiation --------------------------------------------------------------------------------

V1 = Serializer("1.0.0", "~> 1.0.0", decode_v1, encode_v1, encode_v1_client, decode_v1_client)
"""Phoenix's V1 JSON serializer (`vsn=1.0.0`)."""

V2 = Serializer("2.0.0", "~> 2.0.0", v2.decode, v2.encode, v2.encode_client, v2.decode_client)
"""Phoenix's V2 JSON serializer (`vsn=2.0.0`), which phoenix.js 1.3 and later use."""

SERIALIZERS = (V1, V2)


def negotiate(vsn: str | None) -> Serializer:
    """The serializer for the client's `vsn` query parameter, as Phoenix picks it (1.0.0 when absent).

    Raises:
        VsnError: `vsn` is not a semantic version, or matches no served requirement.

    Example:
        >>> negotiate("2.0.0"), negotiate(None), negotiate("1.0.3")
        (<Serializer vsn=2.0.0>, <Serializer vsn=1.0.0>, <Serializer vsn=1.0.0>)
        >>> negotiate("3.0.0")
        Traceback (most recent call last):
        ...
        pytest_channels._server._serializers.VsnError: the client's requested transport version '3.0.0' does not \
match the server's requirements (~> 1.0.0 for V1 JSON, ~> 2.0.0 for V2 JSON)
    """
    vsn = "1.0.0" if vsn is None else vsn
    found = _SEMVER.fullmatch(vsn)
    if found is None:
        raise VsnError(f"the client sent an invalid transport version {vsn!r} (expected a version such as 2.0.0)")
    major, minor, patch = (int(part) for part in found.group(1, 2, 3))
    for serializer in SERIALIZERS:
        if serializer.matches(major, minor, patch, found.group(4)):
            return serializer
    served = ", ".join(f"{s.requirement} for V{s.vsn[0]} JSON" for s in SERIALIZERS)
    raise VsnError(
        f"the client's requested transport version {vsn!r} does not match the server's requirements ({served})"
    )
