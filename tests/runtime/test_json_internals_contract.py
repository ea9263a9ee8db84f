"""json's undocumented fast paths, as pytest_channels/_server/_serializer.py uses them.

The serializer decodes a frame with `JSONDecoder.scan_once` and encodes one with the encoder
`json.encoder.c_make_encoder` builds, skipping the Python that `decode` and `encode` wrap
around them. json documents neither: each test here checks one assumption against json's
public methods, so a Python release that changes one fails here by name rather than as
frames that decode or encode differently. Delete this file when the serializer stops using them.
"""

from __future__ import annotations

import enum
import json
import json.encoder
import math
import sys
from typing import Any, NamedTuple

import pytest

from pytest_channels._server import _serializer
from pytest_channels._server._serializer import DECODER, ENCODER, dump, parse

PYTHON = sys.version.split()[0]


def _broken(what: str) -> str:
    return (
        f"Python {PYTHON}'s json no longer {what}. pytest_channels/_server/_serializer.py relies on it: "
        "call DECODER.decode / ENCODER.encode there instead."
    )


class Color(enum.StrEnum):
    RED = "red"


class Point(NamedTuple):
    x: int
    y: int


VALUES: list[Any] = [
    ["1", "2", "room:1", "phx_reply", {"status": "ok", "response": {"n": 1}}],
    {"text": 'é✓ "quoted" \\ \n\t', "emoji": "😀", "none": None, "yes": True, "no": False},
    {"int": 2**53, "negative": -7, "float": 1.5, "tiny": 5e-324, "big": 1e308},
    {7: "int key", 1.5: "float key", True: "bool key", None: "none key"},
    {"enum": Color.RED, Color.RED: Point(1, 2), "tuple": (1, [2, (3,)])},
    [],
    {},
]


def test_cpython_has_the_c_encoder_the_serializer_builds() -> None:
    if sys.implementation.name != "cpython":
        pytest.skip("another Python: the serializer uses the encoder's iterencode")
    assert getattr(json.encoder, "c_make_encoder", None) is not None, _broken("has json.encoder.c_make_encoder")


@pytest.mark.parametrize("value", VALUES)
def test_the_serializer_encodes_what_the_public_encoder_encodes(value: Any) -> None:
    assert dump(value) == ENCODER.encode(value), _broken("builds its C encoder with these arguments")


@pytest.mark.parametrize("value", [math.nan, math.inf, {"x": -math.inf}])
def test_nan_and_infinities_are_refused_with_value_error(value: Any) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        dump(value)


def test_a_value_json_cannot_carry_is_refused_with_type_error() -> None:
    with pytest.raises(TypeError):
        dump({"set": {1}})


def test_a_cycle_fails_as_a_nesting_too_deep_does() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises((RecursionError, ValueError)):  # ValueError: json's own encoder, which keeps markers
        dump(cyclic)


@pytest.mark.parametrize("value", VALUES[:4])
def test_the_serializer_decodes_what_the_public_decoder_decodes(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert parse(text) == DECODER.decode(text), _broken("has a scan_once that returns (value, end)")
    assert _serializer._SCAN(text, 0) == (DECODER.decode(text), len(text)), _broken("ends scan_once at the value's end")


@pytest.mark.parametrize("text", [" [1]", "", "   "])
def test_the_scanner_stops_at_whitespace_or_nothing_and_decode_says_why(text: str) -> None:
    with pytest.raises(StopIteration):
        _serializer._SCAN(text, 0)
    if text.strip():
        assert parse(text) == [1]
    else:
        with pytest.raises(json.JSONDecodeError):
            parse(text)


def test_trailing_text_goes_to_decode_which_refuses_it() -> None:
    with pytest.raises(json.JSONDecodeError, match="Extra data"):
        parse("[1] x")
    assert parse("[1] ") == [1]


@pytest.mark.parametrize("text", ["[NaN]", "[Infinity]", "[1e999]"])
def test_the_scanner_keeps_the_decoders_refusals(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not JSON|out of range for a float"):
        parse(text)
