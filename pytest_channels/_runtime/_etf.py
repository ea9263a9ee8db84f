"""Erlang's external term format, for the values Phoenix puts in its tokens.

`Phoenix.Token.encrypt` stores `:erlang.term_to_binary({data, signed_at_ms, max_age})`, so a
token made by Phoenix can only be read, and one made here can only be read by Phoenix, in
that format. This covers the terms that have a Python value: integers, floats, atoms,
binaries, tuples, lists and maps. Pids, references, functions and improper lists have none
and are refused with ValueError.

Python values map as: `None` is `nil`, `True`/`False` are `true`/`false`, `str` is a UTF-8
binary (an Elixir string), `bytes` a binary, `tuple` a tuple, `list` a list, `dict` a map and
`Atom` any other atom. Decoding gives a `str` for a binary that is valid UTF-8, else `bytes`.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Any

_VERSION = 131
_NEW_FLOAT, _BIT_BINARY, _COMPRESSED, _SMALL_INT, _INT, _FLOAT = 70, 77, 80, 97, 98, 99
_ATOM, _SMALL_TUPLE, _LARGE_TUPLE, _NIL, _STRING, _LIST, _BINARY = 100, 104, 105, 106, 107, 108, 109
_SMALL_BIG, _LARGE_BIG, _SMALL_ATOM, _MAP, _ATOM_UTF8, _SMALL_ATOM_UTF8 = 110, 111, 115, 116, 118, 119

_SPECIAL_ATOMS: dict[str, Any] = {"nil": None, "true": True, "false": False}


class Atom(str):
    """An Erlang/Elixir atom (`:admin`); equal to the `str` of its name.

    Example:
        >>> Atom("admin") == "admin", repr(Atom("admin"))
        (True, "Atom('admin')")
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Atom({str(self)!r})"


def encode(value: Any) -> bytes:
    """`:erlang.term_to_binary(value)` as OTP 26 writes it (UTF-8 atoms).

    Example:
        >>> encode((1, "a")).hex()
        '83680261016d0000000161'
    """
    out = bytearray([_VERSION])
    _encode(value, out)
    return bytes(out)


def decode(data: bytes) -> Any:
    """`:erlang.binary_to_term(data)` for the terms Python can hold.

    Raises:
        ValueError: `data` is not a term, or holds one with no Python value (a pid, a function).

    Example:
        >>> decode(bytes.fromhex("83680261016d0000000161"))
        (1, 'a')
    """
    if not data or data[0] != _VERSION:
        raise ValueError("not an Erlang term: it does not start with version byte 131")
    if len(data) > 1 and data[1] == _COMPRESSED:
        size = _unpack(">I", data, 2)[0]
        data = bytes([_VERSION]) + zlib.decompress(data[6:])
        if len(data) != size + 1:
            raise ValueError("a compressed Erlang term has the wrong size")
    try:
        value, end = _decode(data, 1)
    except RecursionError:
        raise ValueError("an Erlang term nests too deeply") from None
    if end != len(data):
        raise ValueError(f"{len(data) - end} bytes follow the Erlang term")
    return value


def _encode(value: Any, out: bytearray) -> None:
    if value is None or isinstance(value, (bool, Atom)):
        _encode_atom("nil" if value is None else str(value).lower() if isinstance(value, bool) else value, out)
    elif isinstance(value, int):
        _encode_int(value, out)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"Erlang has no float {value!r}")
        out += struct.pack(">Bd", _NEW_FLOAT, value)
    elif isinstance(value, (str, bytes, bytearray)):
        raw = value.encode() if isinstance(value, str) else value
        out += struct.pack(">BI", _BINARY, len(raw)) + raw
    elif isinstance(value, tuple):
        out += (
            struct.pack(">BB", _SMALL_TUPLE, len(value))
            if len(value) < 256
            else struct.pack(">BI", _LARGE_TUPLE, len(value))
        )
        for item in value:
            _encode(item, out)
    elif isinstance(value, list):
        _encode_list(value, out)
    elif isinstance(value, dict):
        out += struct.pack(">BI", _MAP, len(value))
        # Erlang writes a small map's keys in term order; the same order gives the same bytes.
        items = sorted(value.items(), key=lambda item: _order(item[0])) if len(value) <= 32 else value.items()
        for key, item in items:
            _encode(key, out)
            _encode(item, out)
    else:
        raise ValueError(f"{type(value).__name__} {value!r} has no Erlang term")


def _encode_atom(name: str, out: bytearray) -> None:
    raw = name.encode()
    if len(name) > 255:
        raise ValueError(f"an atom has at most 255 characters (got {len(name)})")
    out += (
        struct.pack(">BB", _SMALL_ATOM_UTF8, len(raw)) if len(raw) < 256 else struct.pack(">BH", _ATOM_UTF8, len(raw))
    )
    out += raw


def _encode_int(value: int, out: bytearray) -> None:
    if 0 <= value < 256:
        out += struct.pack(">BB", _SMALL_INT, value)
    elif -(2**31) <= value < 2**31:
        out += struct.pack(">Bi", _INT, value)
    else:
        magnitude = abs(value).to_bytes((abs(value).bit_length() + 7) // 8, "little")
        head = (
            struct.pack(">BB", _SMALL_BIG, len(magnitude))
            if len(magnitude) < 256
            else struct.pack(">BI", _LARGE_BIG, len(magnitude))
        )
        out += head + bytes([value < 0]) + magnitude


def _encode_list(value: list[Any], out: bytearray) -> None:
    if not value:
        out.append(_NIL)
    elif len(value) < 65536 and all(type(item) is int and 0 <= item < 256 for item in value):
        out += struct.pack(">BH", _STRING, len(value)) + bytes(value)  # Erlang's own choice for such lists
    else:
        out += struct.pack(">BI", _LIST, len(value))
        for item in value:
            _encode(item, out)
        out.append(_NIL)


def _order(value: Any) -> tuple[Any, ...]:
    """Erlang's term order: number < atom < tuple < map < list < binary."""
    if value is None or isinstance(value, (bool, Atom)):
        return (1, "nil" if value is None else str(value).lower() if isinstance(value, bool) else str(value))
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, tuple):
        return (2, len(value), tuple(_order(item) for item in value))
    if isinstance(value, dict):
        return (3, len(value), tuple(sorted(_order(key) for key in value)))
    if isinstance(value, list):
        return (4, tuple(_order(item) for item in value)) if value else (3.5,)
    if isinstance(value, str):
        return (5, value.encode())
    return (5, bytes(value))


def _unpack(fmt: str, data: bytes, at: int) -> tuple[Any, ...]:
    return struct.unpack(fmt, _take(data, at, struct.calcsize(fmt)))


def _take(data: bytes, at: int, size: int) -> bytes:
    if at + size > len(data):
        raise ValueError("the Erlang term is cut short")
    return data[at : at + size]


def _decode(data: bytes, at: int) -> tuple[Any, int]:
    tag = _unpack(">B", data, at)[0]
    at += 1
    if tag == _SMALL_INT:
        return data[at], at + 1
    if tag == _INT:
        return _unpack(">i", data, at)[0], at + 4
    if tag in (_SMALL_BIG, _LARGE_BIG):
        size, head = (data[at], 1) if tag == _SMALL_BIG else (_unpack(">I", data, at)[0], 4)
        sign = _take(data, at + head, 1)[0]
        magnitude = int.from_bytes(_take(data, at + head + 1, size), "little")
        return (-magnitude if sign else magnitude), at + head + 1 + size
    if tag == _NEW_FLOAT:
        return _unpack(">d", data, at)[0], at + 8
    if tag == _FLOAT:
        return float(_take(data, at, 31).rstrip(b"\0")), at + 31
    if tag in (_ATOM, _ATOM_UTF8, _SMALL_ATOM, _SMALL_ATOM_UTF8):
        size, head = (_unpack(">H", data, at)[0], 2) if tag in (_ATOM, _ATOM_UTF8) else (_unpack(">B", data, at)[0], 1)
        raw = _take(data, at + head, size)
        name = raw.decode("utf-8" if tag in (_ATOM_UTF8, _SMALL_ATOM_UTF8) else "latin-1")
        return _SPECIAL_ATOMS.get(name, Atom(name)), at + head + size
    if tag == _BINARY:
        size = _unpack(">I", data, at)[0]
        raw = _take(data, at + 4, size)
        try:
            return raw.decode(), at + 4 + size
        except UnicodeDecodeError:
            return raw, at + 4 + size
    if tag in (_SMALL_TUPLE, _LARGE_TUPLE):
        arity, at = (data[at], at + 1) if tag == _SMALL_TUPLE else (_unpack(">I", data, at)[0], at + 4)
        items, at = _decode_many(data, at, arity)
        return tuple(items), at
    if tag == _NIL:
        return [], at
    if tag == _STRING:
        size = _unpack(">H", data, at)[0]
        return list(_take(data, at + 2, size)), at + 2 + size
    if tag == _LIST:
        values, at = _decode_many(data, at + 4, _unpack(">I", data, at)[0])
        if _unpack(">B", data, at)[0] != _NIL:
            raise ValueError("an improper list (one whose tail is not []) has no Python value")
        return values, at + 1
    if tag == _MAP:
        arity = _unpack(">I", data, at)[0]
        at += 4
        mapping: dict[Any, Any] = {}
        for _ in range(arity):
            key, at = _decode(data, at)
            item, at = _decode(data, at)
            try:
                mapping[key] = item
            except TypeError:
                raise ValueError(f"a map key {key!r} has no hashable Python value") from None
        return mapping, at
    if tag == _BIT_BINARY:
        raise ValueError("a bitstring that is not whole bytes has no Python value")
    raise ValueError(f"the Erlang term tag {tag} (a pid, reference, port or function) has no Python value")


def _decode_many(data: bytes, at: int, count: int) -> tuple[list[Any], int]:
    """The `count` terms that follow one another from `at` (a tuple's or a list's elements)."""
    items = []
    for _ in range(count):
        item, at = _decode(data, at)
        items.append(item)
    return items, at
