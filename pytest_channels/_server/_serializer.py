"""Phoenix's V2 serializer: `[join_ref, ref, topic, event, payload]` JSON text frames and binary frames.

Both directions of both sides live here: the server decodes what clients send and encodes
what it sends back, and the same module encodes and decodes as the official JavaScript
client does, so that the test harness (the `wire` setting), the tests and the benchmark
speak the protocol through the code the server runs, not through a copy of it.

Binary frames (a payload that is `bytes` as a whole, Phoenix's `{:binary, data}`) carry
one-byte sizes, so a join_ref, ref, topic, event or status longer than 255 bytes cannot
travel in one.
"""

from __future__ import annotations

import json
import json.encoder
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote

from .._runtime._errors import ChannelsError, PayloadError
from .._runtime._messages import Close, Message, Push, Reply

VSN = "2.0.0"
"""The protocol version served: phoenix.js sends it as the `vsn` query parameter."""

PUSH, REPLY, BROADCAST = 0, 1, 2
"""The kinds of binary frame (the first byte)."""

_MAX_FIELD = 255


class FrameError(ChannelsError, ValueError):
    """A frame from the network is not a V2 frame; the message says what is wrong with it."""


class Frame(NamedTuple):
    """One protocol message, decoded. `payload` is a JSON object (a dict) or `bytes`.

    A named tuple rather than a frozen dataclass: every frame in or out makes one, and a
    frozen dataclass's `__init__` costs three times as much.
    """

    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: Any


# -- the server's side -------------------------------------------------------------------------


def decode(data: str | bytes) -> Frame:
    """Decode a frame a client sent: JSON text, or a binary push.

    Raises:
        FrameError: the frame is malformed; the message says how.

    Example:
        >>> decode('["1","2","room:lobby","new_msg",{"body":"hi"}]')
        Frame(join_ref='1', ref='2', topic='room:lobby', event='new_msg', payload={'body': 'hi'})
    """
    if isinstance(data, (bytes, bytearray)):
        return _decode_binary_push(bytes(data))
    try:
        decoded = parse(data)
    except RecursionError:
        raise FrameError("invalid frame: JSON nested too deeply") from None
    except ValueError as exc:
        raise FrameError(f"invalid frame: not JSON ({exc})") from None
    if not isinstance(decoded, list) or len(decoded) < 5:
        raise FrameError(f"invalid frame: expected [join_ref, ref, topic, event, payload], got {_clip(data)}")
    join_ref, ref, topic, event, payload = decoded[:5]  # Phoenix ignores anything after the fifth
    _check_ref("join_ref", join_ref)
    _check_ref("ref", ref)
    if not isinstance(topic, str) or not isinstance(event, str):
        raise FrameError(f"invalid frame: topic and event must be strings, got {_clip(data)}")
    if not isinstance(payload, dict):
        raise FrameError(f"invalid frame: the payload must be a JSON object, got {_clip(json.dumps(payload))}")
    return Frame(join_ref, ref, topic, event, payload)


def encode(frame: Frame) -> str | bytes:
    """Encode a frame the server sends: JSON text, or binary when the payload (or reply response) is bytes.

    Raises:
        PayloadError: the payload cannot travel: not a JSON object, not JSON at all, text that
            is not valid UTF-8, or a binary frame field over 255 bytes.
    """
    payload = frame.payload
    mapping = type(payload) is dict or isinstance(payload, Mapping)  # the exact type first: an ABC's check is slow
    if mapping and frame.event == "phx_reply" and isinstance(payload.get("response"), bytes):
        fields = [frame.join_ref or "", frame.ref or "", frame.topic, str(payload.get("status"))]
        response: bytes = payload["response"]
        return bytes([REPLY]) + _sized(fields, frame) + response
    if not mapping and isinstance(payload, bytes):
        if frame.join_ref is None and frame.ref is None:
            return bytes([BROADCAST]) + _sized([frame.topic, frame.event], frame) + payload
        return bytes([PUSH]) + _sized([frame.join_ref or "", frame.topic, frame.event], frame) + payload
    return _json([frame.join_ref, frame.ref, frame.topic, frame.event, payload], frame)


# -- the client's side, as phoenix.js does it ---------------------------------------------------


def encode_client(frame: Frame) -> str | bytes:
    """Encode a frame as phoenix.js sends it: JSON text, or a binary push for a bytes payload.

    Raises:
        PayloadError: as for `encode`.
    """
    if isinstance(frame.payload, bytes):
        fields = [frame.join_ref or "", frame.ref or "", frame.topic, frame.event]
        return bytes([PUSH]) + _sized(fields, frame) + frame.payload
    return _json([frame.join_ref, frame.ref, frame.topic, frame.event, frame.payload], frame)


def decode_client(data: str | bytes) -> Frame:
    """Decode a frame the server sent, as phoenix.js does (a binary reply becomes a `phx_reply`).

    Raises:
        FrameError: the frame is malformed.
    """
    if isinstance(data, (bytes, bytearray)):
        return _decode_binary_from_server(bytes(data))
    try:
        join_ref, ref, topic, event, payload = json.loads(data)
    except (ValueError, TypeError) as exc:
        raise FrameError(f"invalid frame from the server: {exc}") from None
    return Frame(join_ref, ref, topic, event, payload)


# -- connect params: the query string of the WebSocket URL --------------------------------------


def decode_params(query: str, *, max_params: int = 100) -> dict[str, str]:
    """The connect params the server reads from a query string: flat, every value a string.

    A key given twice keeps its last value. phoenix.js's nested keys (`user[id]=1`) stay as
    they are: `{"user[id]": "1"}`.

    Raises:
        ValueError: more than `max_params` parameters.

    Example:
        >>> decode_params("vsn=2.0.0&token=a%20b&n=1")
        {'vsn': '2.0.0', 'token': 'a b', 'n': '1'}
    """
    return dict(parse_qsl(query, keep_blank_values=True, max_num_fields=max_params))


def encode_params(params: Mapping[str, Any], parent: str | None = None) -> str:
    """A query string as phoenix.js builds it from `params` (its `serialize`).

    Numbers and booleans become text, nested objects and lists become `key[sub]=...`, and a
    null value is left out, as JavaScript's `for...in` over `null` yields nothing.

    Example:
        >>> encode_params({"token": "a b", "n": 1, "ok": True, "user": {"id": 7}, "gone": None})
        'token=a%20b&n=1&ok=true&user%5Bid%5D=7'
    """
    parts: list[str] = []
    for key, value in params.items():
        name = f"{parent}[{key}]" if parent is not None else str(key)
        if isinstance(value, Mapping):
            nested = encode_params(value, name)
        elif isinstance(value, (list, tuple)):
            nested = encode_params({str(index): item for index, item in enumerate(value)}, name)
        elif value is None:
            continue
        else:
            nested = f"{quote(name, safe=_JS_SAFE)}={quote(_js_text(value), safe=_JS_SAFE)}"
        if nested:
            parts.append(nested)
    return "&".join(parts)


_JS_SAFE = "-_.!~*'()"  # what encodeURIComponent leaves alone


def _js_text(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # JavaScript prints 1.0 as "1"
    return str(value)


# -- messages and frames ------------------------------------------------------------------------


def frame_of(message: Message) -> Frame:
    """The frame the server sends for what a channel delivered to its transport.

    A `Close` becomes `phx_close` with the channel's join_ref as its ref, as in Phoenix.
    """
    if type(message) is Reply:  # the answer to a push, the most frequent
        reply = {"status": message.status, "response": message.payload}
        return Frame(message.join_ref, message.ref, message.topic, "phx_reply", reply)
    if isinstance(message, Push):
        return Frame(message.join_ref, None, message.topic, message.event, message.payload)
    if isinstance(message, Close):
        return Frame(message.join_ref, message.join_ref, message.topic, "phx_close", {})
    raise TypeError(f"a {type(message).__name__} is not sent to clients (got {message!r})")


def error_frame(topic: str, join_ref: str | None) -> Frame:
    """The `phx_error` frame the client gets when its channel crashed."""
    return Frame(join_ref, join_ref, topic, "phx_error", {"reason": "channel_crash"})


def reply_frame(frame: Frame, status: str, response: Any, *, join_ref: str | None = None) -> Frame:
    """A `phx_reply` to the client frame `frame`."""
    return Frame(join_ref, frame.ref, frame.topic, "phx_reply", {"status": status, "response": response})


# -- helpers ------------------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    # Python reads 1e400 as infinity, which JSON cannot carry: refused here, so that every
    # decoded payload is already what `to_wire` would make of it (the runtime copies it no more).
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is out of range for a float")
    return value


# Made once: `json.loads` and `json.dumps` build a new decoder or encoder for every call given
# an option, which costs as much as decoding or encoding a small frame.
DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
"""Decodes a frame's JSON text: NaN, Infinity and numbers beyond a float are not JSON, so they are refused."""
ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
"""Encodes a frame as Phoenix's Jason does: compact, UTF-8 as it is, no NaN."""

# What `DECODER.decode` and `ENCODER.encode` call, called directly: their Python around it costs
# as much as the C work on a small frame, and this runs for every frame. Encoding keeps no
# markers of the containers it is in (a dict more per frame): a cycle fails as a nesting too
# deep does, with RecursionError, which the encoders refuse as a payload that cannot travel.
# json documents neither; tests/runtime/test_json_internals_contract.py checks both, and a
# Python without json's C encoder gets the encoder's own (slower) `iterencode`.
_SCAN: Callable[[str, int], tuple[Any, int]] = DECODER.scan_once  # type: ignore[attr-defined]  # set in its __init__
_C_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
_ENCODE: Callable[[Any, int], Iterable[str]] = (
    _C_ENCODER(None, ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    if _C_ENCODER is not None
    else lambda value, _level: ENCODER.iterencode(value)
)


def parse(text: str) -> Any:
    """`DECODER.decode(text)`, without its two regular expressions when no whitespace surrounds the value.

    Raises:
        ValueError: `text` is not JSON (a `json.JSONDecodeError`, as from `decode`).
    """
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:  # whitespace first, or no JSON at all: decode says which
        return DECODER.decode(text)
    return value if end == len(text) else DECODER.decode(text)


def dump(value: Any) -> str:
    """`ENCODER.encode(value)`, from json's C encoder directly.

    Raises:
        TypeError: a value JSON cannot carry.
        ValueError: NaN or an infinity.
    """
    return "".join(_ENCODE(value, 0))


def _check_ref(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise FrameError(f"invalid frame: {name} must be a string or null, got {value!r}")


def _clip(text: str | bytes, limit: int = 80) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit] + "..."


def _json(value: list[Any] | dict[str, Any], frame: Frame, version: str = "V2") -> str:
    if type(frame.payload) is not dict and not isinstance(frame.payload, Mapping):
        raise PayloadError(
            f"{_describe(frame)}: expected payload to be a map (a dict) or bytes, got {type(frame.payload).__name__}"
        )
    try:
        text = dump(value)
        if not text.isascii():
            text.encode("utf-8")  # a lone surrogate is not text: refuse it here, not in the server
    except (TypeError, ValueError, RecursionError) as exc:
        raise PayloadError(f"{_describe(frame)} cannot be sent as a {version} JSON frame: {exc}") from None
    return text


def _sized(fields: list[str], frame: Frame) -> bytes:
    encoded = [field.encode("utf-8") for field in fields]
    for name, raw in zip(fields, encoded, strict=True):
        if len(raw) > _MAX_FIELD:
            raise PayloadError(
                f"{_describe(frame)} cannot be sent as a binary frame: {_clip(name)} is {len(raw)} bytes, "
                f"and a binary frame field must be at most {_MAX_FIELD} bytes"
            )
    return bytes(len(raw) for raw in encoded) + b"".join(encoded)


def _describe(frame: Frame) -> str:
    if frame.event == "phx_reply":
        return f"the reply to ref {frame.ref!r} on {frame.topic!r}"
    return f"{frame.event!r} on {frame.topic!r}"


def _take(data: bytes, sizes: list[int], offset: int, what: str) -> tuple[list[str], int]:
    fields: list[str] = []
    for size in sizes:
        if offset + size > len(data):
            raise FrameError(f"invalid binary {what}: its sizes run past the end of the frame")
        try:
            fields.append(data[offset : offset + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise FrameError(f"invalid binary {what}: a field is not UTF-8") from None
        offset += size
    return fields, offset


def _decode_binary_push(data: bytes) -> Frame:
    if len(data) < 5:
        raise FrameError(f"invalid binary frame: {len(data)} bytes is shorter than its header")
    if data[0] != PUSH:
        raise FrameError(f"invalid binary frame: kind {data[0]} (a client may only send kind {PUSH}, a push)")
    (join_ref, ref, topic, event), offset = _take(data, list(data[1:5]), 5, "push")
    return Frame(join_ref or None, ref or None, topic, event, data[offset:])


def _decode_binary_from_server(data: bytes) -> Frame:
    kind = data[0] if data else None
    if kind == PUSH and len(data) >= 4:
        (join_ref, topic, event), offset = _take(data, list(data[1:4]), 4, "push")
        return Frame(join_ref or None, None, topic, event, data[offset:])
    if kind == REPLY and len(data) >= 5:
        (join_ref, ref, topic, status), offset = _take(data, list(data[1:5]), 5, "reply")
        return Frame(join_ref or None, ref, topic, "phx_reply", {"status": status, "response": data[offset:]})
    if kind == BROADCAST and len(data) >= 3:
        (topic, event), offset = _take(data, list(data[1:3]), 3, "broadcast")
        return Frame(None, None, topic, event, data[offset:])
    raise FrameError(f"invalid binary frame from the server: kind {kind}, {len(data)} bytes")
