"""The V2 serializer on its own: frames both ways, the binary layouts, and what it refuses."""

from __future__ import annotations

import pytest

from pytest_channels import Close, FrameError, PayloadError, Push, Reply
from pytest_channels._serializer import (
    Frame,
    decode,
    decode_client,
    decode_params,
    encode,
    encode_client,
    encode_params,
    error_frame,
    frame_of,
)


def test_decoding_takes_the_first_five_elements_and_ignores_the_rest() -> None:
    assert decode('["1","2","t","e",{"a":1},"extra"]') == Frame("1", "2", "t", "e", {"a": 1})


def test_messages_become_phoenixs_frames() -> None:
    assert encode(frame_of(Push("t", "e", {"a": 1}, "1"))) == '["1",null,"t","e",{"a":1}]'
    assert encode(frame_of(Push("t", "e", {"a": 1}))) == '[null,null,"t","e",{"a":1}]'
    reply = Reply("t", "5", "ok", {"a": 1}, "1")
    assert encode(frame_of(reply)) == '["1","5","t","phx_reply",{"status":"ok","response":{"a":1}}]'
    assert encode(frame_of(Close("t", "normal", "1"))) == '["1","1","t","phx_close",{}]'
    assert encode(error_frame("t", "1")) == '["1","1","t","phx_error",{"reason":"channel_crash"}]'


def test_text_is_sent_as_utf8_not_escaped() -> None:
    assert encode(Frame(None, None, "t", "e", {"s": "é✓"})) == '[null,null,"t","e",{"s":"é✓"}]'


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (Push("t", "e", b"\x01", "12"), b"\x00\x02\x01\x0112te\x01"),
        (Push("t", "e", b"\x01"), b"\x02\x01\x01te\x01"),
        (Reply("t", "7", "ok", b"\x01", "12"), b"\x01\x02\x01\x01\x0212" + b"7tok\x01"),
    ],
    ids=["push (kind 0)", "broadcast (kind 2)", "reply (kind 1)"],
)
def test_binary_payloads_use_phoenixs_binary_layouts_and_decode_back(message: Push | Reply, expected: bytes) -> None:
    data = encode(frame_of(message))
    assert data == expected
    decoded = decode_client(data)
    assert (decoded.topic, decoded.join_ref) == (message.topic, message.join_ref)
    if isinstance(message, Reply):
        assert decoded.payload == {"status": "ok", "response": b"\x01"}
    else:
        assert decoded.payload == b"\x01"


def test_a_client_binary_push_decodes_to_bytes() -> None:
    frame = Frame("1", "2", "room:1", "upload", b"\x00\xff")
    assert decode(encode_client(frame)) == frame


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (Frame(None, None, "t", "e", [1]), r"^'e' on 't': expected payload to be a map \(a dict\) or bytes, got list$"),
        (
            Frame(None, None, "t", "e", {"x": float("nan")}),
            r"^'e' on 't' cannot be sent as a V2 JSON frame: Out of range float values are not JSON compliant",
        ),
        (Frame(None, None, "t", "e", {"x": "\udc00"}), r"^'e' on 't' cannot be sent as a V2 JSON frame: .*surrogate"),
        (Frame("1", None, "t" * 256, "e", b""), r"a binary frame field must be at most 255 bytes$"),
    ],
    ids=["a list", "NaN", "a lone surrogate", "a 256-byte topic"],
)
def test_what_cannot_travel_is_refused_with_a_message_naming_it(frame: Frame, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        encode(frame)


def test_a_client_may_not_send_a_binary_reply() -> None:
    with pytest.raises(FrameError, match=r"kind 1 \(a client may only send kind 0, a push\)"):
        decode(b"\x01\x00\x00\x00\x00")


def test_connect_params_encode_as_phoenix_js_does_and_decode_flat() -> None:
    query = encode_params({"a b": "c&d", "n": 1.0, "list": [1, 2], "no": False, "none": None})
    assert query == "a%20b=c%26d&n=1&list%5B0%5D=1&list%5B1%5D=2&no=false"
    assert decode_params(query) == {"a b": "c&d", "n": "1", "list[0]": "1", "list[1]": "2", "no": "false"}


def test_too_many_connect_params_are_refused() -> None:
    with pytest.raises(ValueError, match="Max number of fields exceeded"):
        decode_params("&".join(f"p{n}=1" for n in range(101)))
