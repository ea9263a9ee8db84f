from __future__ import annotations

import math

import pytest

from pytest_channels import PayloadError
from pytest_channels._runtime._payload import to_wire


def test_keys_become_strings_and_the_result_is_a_copy() -> None:
    inner = [1, 2]
    payload = {"a": inner, 1: {"b": (3, 4)}}
    wired = to_wire(payload, where="test")
    assert wired == {"a": [1, 2], "1": {"b": [3, 4]}}
    assert wired["a"] is not inner


def test_none_stands_for_an_empty_payload() -> None:
    assert to_wire(None, where="test") == {}


def test_a_value_json_cannot_carry_is_named_with_its_path() -> None:
    with pytest.raises(PayloadError) as info:
        to_wire({"user": {"tags": [1, {2, 3}]}}, where="RoomChannel push 'joined'")
    assert str(info.value) == (
        "RoomChannel push 'joined': payload['user']['tags'][1] = {2, 3} (set) cannot be sent as JSON. "
        "Convert it to str, int, float, bool, None, list or dict, or turn payload checking off "
        "(check_payloads=False)."
    )


def test_nan_cannot_cross_the_wire() -> None:
    with pytest.raises(PayloadError, match=r"payload\['x'\] = nan \(float\)"):
        to_wire({"x": math.nan}, where="test")


def test_a_payload_must_be_a_json_object() -> None:
    with pytest.raises(
        PayloadError,
        match=r"^test: the payload must be a dict \(a JSON object\) or bytes \(a binary frame\), got list \[1\]$",
    ):
        to_wire([1], where="test")


def test_with_checking_off_objects_pass_but_keys_are_still_strings() -> None:
    marker = object()
    wired = to_wire({1: {"o": marker}}, where="test", check=False)
    assert list(wired) == ["1"]


def test_keys_convert_as_json_would_whether_checking_is_on_or_off() -> None:
    payload = {True: 1, None: 2, 1.5: 3, 7: 4}
    assert (
        to_wire(payload, where="t")
        == to_wire(payload, where="t", check=False)
        == {
            "true": 1,
            "null": 2,
            "1.5": 3,
            "7": 4,
        }
    )


def test_any_mapping_is_a_json_object() -> None:
    from types import MappingProxyType

    assert to_wire({"state": MappingProxyType({"a": 1})}, where="t") == {"state": {"a": 1}}


def test_with_checking_off_a_value_that_cannot_be_copied_is_passed_as_it_is() -> None:
    import threading

    lock = threading.Lock()
    assert to_wire({"lock": lock}, where="t", check=False)["lock"] is lock
