"""Payload matchers. Assertions compare with `expected == actual`, so any object with an
`__eq__` works too: `unittest.mock.ANY`, dirty-equals, your own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class Partial:
    """Equal to any mapping that holds at least these keys with equal values (a subset match).

    Nested dicts match as subsets too, at every level, as an Elixir map pattern does. By
    default assertions compare exactly, which is the chapter's point about pinning `^reply`.

    Example:
        >>> Partial({"ping": "pong"}) == {"ping": "pong", "extra": True}
        True
        >>> Partial(user={"id": 1}) == {"user": {"id": 1, "name": "a"}}
        True
        >>> Partial({"ping": "pong"}) == {"ping": "PONG"}
        False
    """

    __slots__ = ("expected",)

    def __init__(self, expected: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        self.expected = {**(expected or {}), **kwargs}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return False
        return all(key in other and _subset(value) == other[key] for key, value in self.expected.items())

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"Partial({self.expected!r})"


def _subset(value: Any) -> Any:
    return Partial(value) if isinstance(value, dict) else value


class Where:
    """Equal to any value for which `predicate(value)` is true.

    Example:
        >>> Where(lambda p: p["value"] > 1) == {"value": 2}
        True
    """

    __slots__ = ("description", "predicate")

    def __init__(self, predicate: Callable[[Any], bool], description: str | None = None) -> None:
        self.predicate = predicate
        self.description = description or getattr(predicate, "__name__", repr(predicate))

    def __eq__(self, other: object) -> bool:
        try:
            return bool(self.predicate(other))
        except (TypeError, ValueError, KeyError, IndexError, AttributeError):
            return False

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"Where({self.description})"


def same(expected: Any, actual: Any) -> bool:
    """How every assertion compares: `expected == actual`, so the expected side's `__eq__` decides."""
    return bool(expected == actual)
