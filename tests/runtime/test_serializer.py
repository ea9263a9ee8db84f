"""The V2 serializer on its own: frames both ways, the binary layouts, and what it refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_channels import Broadcast, Close, FrameError, PayloadError, Push, Reply
from pytest_channels._server._serializer import (
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
from pytest_channels._server._serializers import (
    V1,
    V2,
    VsnError,
    decode_v1,
    decode_v1_client,
    encode_v1,
    encode_v1_client,
    negotiate,
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


# -- V1, and picking a serializer from vsn ------------------------------------------------------


def test_v1_sends_objects_without_join_ref_and_reads_join_ref_when_a_client_gives_one() -> None:
    reply = encode_v1(frame_of(Reply("t", "5", "ok", {"a": 1}, "1")))
    assert json.loads(reply) == {
        "topic": "t",
        "event": "phx_reply",
        "payload": {"status": "ok", "response": {"a": 1}},
        "ref": "5",
    }
    assert json.loads(encode_v1(frame_of(Close("t", "normal", "1")))) == {
        "topic": "t",
        "event": "phx_close",
        "payload": {},
        "ref": "1",
    }
    sent = '{"topic":"t","event":"e","payload":{},"ref":"2","join_ref":"1"}'
    assert decode_v1(sent) == Frame("1", "2", "t", "e", {})
    assert decode_v1_client(encode_v1(Frame("1", "2", "t", "e", {"b": [1]}))) == Frame(None, "2", "t", "e", {"b": [1]})
    assert decode_v1(encode_v1_client(Frame("1", "2", "t", "e", {}))) == Frame("1", "2", "t", "e", {})


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ('{"topic":"t","event":"e","payload":{}}', r"^invalid V1 frame: missing key 'ref' in "),
        ('{"topic":"t","event":"e","payload":[1],"ref":null}', r"^invalid V1 frame: the payload must be a JSON object"),
        ('"text"', r"^invalid V1 frame: expected a JSON object with topic, event, payload and ref"),
        ("nope", r"^invalid V1 frame: not JSON"),
    ],
    ids=["no ref", "a list payload", "not an object", "not JSON"],
)
def test_v1_refuses_what_is_not_a_v1_frame(frame: str, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        decode_v1(frame)


def test_v1_cannot_carry_bytes_and_says_which_vsn_can() -> None:
    with pytest.raises(PayloadError, match=r"'e' on 't' cannot be sent with the V1 serializer: it has no binary"):
        encode_v1(Frame(None, None, "t", "e", b"\x00"))
    with pytest.raises(PayloadError, match=r"connect with vsn=2.0.0 to receive bytes"):
        encode_v1(frame_of(Reply("t", "5", "ok", b"\x00", "1")))


@pytest.mark.parametrize(
    ("vsn", "picked"),
    [
        (None, "1.0.0"),
        ("1.0.0", "1.0.0"),
        ("1.0.9", "1.0.0"),
        ("2.0.0", "2.0.0"),
        ("2.0.3+build.1", "2.0.0"),
        ("2.0.1-rc.1", "2.0.0"),
    ],
)
def test_a_vsn_picks_the_serializer_whose_requirement_it_matches_as_elixir_matches(
    vsn: str | None, picked: str
) -> None:
    assert negotiate(vsn).vsn == picked


@pytest.mark.parametrize("vsn", ["3.0.0", "2.1.0", "1.1.0", "0.9.0", "2.0.0-rc.1", "2.0", "v2.0.0", "02.0.0", ""])
def test_a_vsn_outside_every_requirement_is_refused(vsn: str) -> None:
    with pytest.raises(VsnError, match=r"transport version"):
        negotiate(vsn)


def test_a_broadcast_is_encoded_once_per_serializer_and_each_serializer_encodes_its_own() -> None:
    broadcast = Broadcast("t", "e", {"n": 1})
    first = V2.fastlane(broadcast)
    assert V2.fastlane(broadcast) is first
    assert first == '[null,null,"t","e",{"n":1}]'
    assert json.loads(V1.fastlane(broadcast)) == {"topic": "t", "event": "e", "payload": {"n": 1}, "ref": None}
    assert V2.fastlane(Broadcast("t", "e", {"n": 2})) == '[null,null,"t","e",{"n":2}]'


@pytest.mark.parametrize("decoder", [decode, decode_v1], ids=["V2", "V1"])
def test_a_number_too_large_for_a_float_is_refused_as_not_json(decoder: Any) -> None:
    # JSON itself would read 1e400 as infinity, which no frame may carry back: refused on the way in.
    frame = (
        '["1", "1", "t", "e", {"n": 1e400}]'
        if decoder is decode
        else '{"topic": "t", "event": "e", "payload": {"n": 1e400}, "ref": "1"}'
    )
    with pytest.raises(FrameError, match=r"not JSON \(1e400 is out of range for a float"):
        decoder(frame)
