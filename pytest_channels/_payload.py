"""Payloads as the wire sees them.

Everything that crosses between a client and a channel goes through `to_wire`: it checks
that the value is a JSON object and returns a fresh copy with string keys, exactly what a
JSON round trip would give. With checking off it still copies and stringifies keys, but
lets other values through (for users who push Python objects on purpose).
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from ._errors import PayloadError


def _find_unserializable(value: Any, path: str) -> tuple[str, Any] | None:
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                return (f"{path} (key {key!r})", key)
            found = _find_unserializable(item, f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_unserializable(item, f"{path}[{index}]")
            if found:
                return found
        return None
    return (path, value)


def _stringify(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _stringify(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_stringify(v) for v in value]
    return copy.deepcopy(value)


def to_wire(payload: Any, *, where: str, check: bool = True) -> Any:
    """Return `payload` as the other side of the wire would receive it.

    Args:
        payload: the value to send; None stands for an empty object.
        where: who sends it and as what, for the error message (``"DedupeChannel push 'number'"``).
        check: refuse values that JSON cannot carry.

    Raises:
        PayloadError: `check` is on and the payload is not a JSON object of JSON values.

    Example:
        >>> to_wire({"n": 1, 2: [3]}, where="a test")
        {'n': 1, '2': [3]}
    """
    if payload is None:
        return {}
    if not check:
        return _stringify(payload)
    if not isinstance(payload, dict):
        raise PayloadError(
            f"{where}: the payload must be a dict (a JSON object), got {type(payload).__name__} {payload!r}"
        )
    found = _find_unserializable(payload, "payload")
    if found is not None:
        path, value = found
        raise PayloadError(
            f"{where}: {path} = {value!r} ({type(value).__name__}) cannot be sent as JSON. "
            "Convert it to str, int, float, bool, None, list or dict, or turn payload checking off "
            "(ini channels_check_payloads = false, or @pytest.mark.channels(check_payloads=False))."
        )
    result: Any = json.loads(json.dumps(payload))
    return result
