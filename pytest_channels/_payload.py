"""Payloads as the wire sees them.

Everything that crosses between a client and a channel goes through `to_wire`: it checks
that the value is a JSON object and returns a fresh copy with the keys JSON would give
(strings), exactly what a JSON round trip would give. With checking off it still copies
and converts keys the same way, but lets other values through (for users who push Python
objects on purpose).

A payload may also be binary as a whole (`bytes`), Phoenix's `{:binary, data}`: the V2
serializer carries it in a binary frame. Bytes inside a JSON object cannot cross the wire.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from ._errors import PayloadError


def _key(key: Any, where: str, check: bool) -> str:
    __tracebackhide__ = True
    # json.dumps' own key rules, so both modes agree: True -> "true", None -> "null", 1 -> "1".
    if isinstance(key, str):
        return key
    if key is True or key is False or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, (int, float)):
        return repr(key) if isinstance(key, float) else str(key)
    if check:
        raise PayloadError(_unserializable(where, f"key {key!r}", key))
    return str(key)


def _convert(value: Any, path: str, where: str, check: bool) -> Any:
    __tracebackhide__ = True
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if check and not math.isfinite(value):
            raise PayloadError(_unserializable(where, path, value))
        return value
    if isinstance(value, Mapping):
        return {_key(k, where, check): _convert(v, f"{path}[{k!r}]", where, check) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_convert(v, f"{path}[{i}]", where, check) for i, v in enumerate(value)]
    if check:
        raise PayloadError(_unserializable(where, path, value))
    try:
        return copy.deepcopy(value)
    except Exception:
        return value  # cannot be copied (a lock, a connection): the receiver shares it, on purpose


def _type_name(value: Any) -> str:
    # Under freezegun a datetime is a FakeDatetime: name the class the user wrote.
    for cls in type(value).__mro__:
        if not cls.__module__.startswith("freezegun"):
            return cls.__name__
    return type(value).__name__


def _unserializable(where: str, path: str, value: Any) -> str:
    return (
        f"{where}: {path} = {value!r} ({_type_name(value)}) cannot be sent as JSON. "
        "Convert it to str, int, float, bool, None, list or dict, or turn payload checking off "
        "(ini channels_check_payloads = false, or @pytest.mark.channels(check_payloads=False))."
    )


def to_wire(payload: Any, *, where: str, check: bool = True) -> Any:
    """Return `payload` as the other side of the wire would receive it.

    Args:
        payload: the value to send; None stands for an empty object.
        where: who sends it and as what, for the error message (``"DedupeChannel push 'number'"``).
        check: refuse values that JSON cannot carry.

    Raises:
        PayloadError: `check` is on and the payload is not a JSON object of JSON values.

    Example:
        >>> to_wire({"n": 1, 2: [3], None: (4,)}, where="a test")
        {'n': 1, '2': [3], 'null': [4]}
    """
    __tracebackhide__ = True
    if payload is None:
        return {}
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)  # a binary payload: immutable, so every receiver may share it
    if check and not isinstance(payload, Mapping):
        raise PayloadError(
            f"{where}: the payload must be a dict (a JSON object) or bytes (a binary frame), "
            f"got {type(payload).__name__} {payload!r}"
        )
    return _convert(payload, "payload", where, check)


def copy_wire(value: Any) -> Any:
    """A fresh copy of a value that already went through `to_wire`, for each receiver of a broadcast."""
    if isinstance(value, dict):
        return {k: copy_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_wire(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bytes)):
        return value
    try:
        return copy.deepcopy(value)
    except Exception:
        return value
