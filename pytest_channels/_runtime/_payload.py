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
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import PayloadError


class _Unsendable(Exception):
    """A value JSON cannot carry; `path` grows as the error climbs out of the nesting."""

    def __init__(self, value: Any, path: str = "") -> None:
        self.value = value
        self.path = path


def _key(key: Any, check: bool) -> str:
    # json.dumps' own key rules, so both modes agree: True -> "true", None -> "null", 1 -> "1".
    if key is True or key is False or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, (int, float)):
        return repr(key) if isinstance(key, float) else str(key)
    if check:
        raise _Unsendable(key, f" (key {key!r})")
    return str(key)


# JSON values that need neither a check nor a copy (floats need a finiteness check).
_PASSED_AS_IS = frozenset({str, int, bool, type(None)})


def _convert(value: Any, check: bool) -> Any:
    # Exact type checks first: this runs for every payload, and ABC checks are slow.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if isinstance(value, str):  # a StrEnum, say: JSON carries the text, as a str
        return str.__str__(value)
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        converted = {}
        for key, item in value.items():
            wire_key = key if type(key) is str else _key(key, check)
            try:
                converted[wire_key] = item if type(item) in _PASSED_AS_IS else _convert(item, check)
            except _Unsendable as exc:
                exc.path = f"[{key!r}]{exc.path}"
                raise
        return converted
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):  # a NamedTuple is an array too
        items = []
        for index, item in enumerate(value):
            try:
                items.append(item if type(item) in _PASSED_AS_IS else _convert(item, check))
            except _Unsendable as exc:
                exc.path = f"[{index}]{exc.path}"
                raise
        return items
    if kind is float or isinstance(value, (int, float)):
        if check and not math.isfinite(value):
            raise _Unsendable(value)
        return value
    if check:
        raise _Unsendable(value)
    try:
        return copy.deepcopy(value)
    except Exception:
        return value  # cannot be copied (a lock, a connection): the receiver shares it, on purpose


def _type_name(value: Any) -> str:
    # The repr shows the value's own class; say which standard type it is, which is what the
    # advice is about: a test double's datetime (a subclass) is still a datetime, a user's
    # Decimal subclass a Decimal. A class with no standard base but object names itself.
    for cls in type(value).__mro__[:-1]:
        if cls.__module__.partition(".")[0] in sys.stdlib_module_names:
            return cls.__name__
    return type(value).__name__


def _unserializable(where: str, path: str, value: Any) -> str:
    return (
        f"{where}: {path} = {value!r} ({_type_name(value)}) cannot be sent as JSON. "
        "Convert it to str, int, float, bool, None, list or dict, or turn payload checking off "
        "(check_payloads=False)."
    )


def to_wire(payload: Any, *, where: str | Callable[[], str], check: bool = True) -> Any:
    """Return `payload` as the other side of the wire would receive it.

    Args:
        payload: the value to send; None stands for an empty object.
        where: who sends it and as what, for the error message (``"DedupeChannel push 'number'"``),
            or a function that says so (called only when there is an error: this is a hot path).
        check: refuse values that JSON cannot carry.

    Raises:
        PayloadError: `check` is on and the payload is not a JSON object of JSON values.

    Example:
        >>> to_wire({"n": 1, 2: [3], None: (4,)}, where="a test")
        {'n': 1, '2': [3], 'null': [4]}
    """
    __tracebackhide__ = True
    if type(payload) is not dict:  # nearly every payload is one, and goes straight to the conversion
        if payload is None:
            return {}
        if isinstance(payload, (bytes, bytearray, memoryview)):
            return bytes(payload)  # a binary payload: immutable, so every receiver may share it
        if check and not isinstance(payload, Mapping):
            raise PayloadError(
                f"{_said(where)}: the payload must be a dict (a JSON object) or bytes (a binary frame), "
                f"got {type(payload).__name__} {payload!r}"
            )
    try:
        return _convert(payload, check)
    except _Unsendable as exc:
        raise PayloadError(_unserializable(_said(where), f"payload{exc.path}", exc.value)) from None


def _said(where: str | Callable[[], str]) -> str:
    return where if isinstance(where, str) else where()


def copy_wire(value: Any) -> Any:
    """A fresh copy of a value that already went through `to_wire`, for each receiver of a broadcast."""
    kind = type(value)
    # A shallow copy in C, then only the nested containers replaced: most payloads are flat,
    # and this runs once per receiver of every broadcast.
    if kind is dict:
        copied = value.copy()
        for key, item in copied.items():
            if type(item) not in _SCALARS:
                copied[key] = copy_wire(item)
        return copied
    if kind is list:
        copied_list = value.copy()
        for index, item in enumerate(copied_list):
            if type(item) not in _SCALARS:
                copied_list[index] = copy_wire(item)
        return copied_list
    if kind in _SCALARS:
        return value
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


_SCALARS = frozenset({str, int, float, bool, bytes, type(None)})  # immutable: shared, not copied
