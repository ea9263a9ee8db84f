"""Each harness wait, declared once: `ChannelCase` runs it to the end, `AsyncChannelCase` returns it to await.

A wait is a `CaseBase` method, decorated with `wait`, that returns the coroutine doing the
work. Each harness class says how it makes a method of one (its `_method`), and `CaseBase`
builds every wait of that class from the one declaration, with its signature and docstring,
so the two harnesses cannot drift apart (tests/harness/test_parity.py holds them to it).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

if TYPE_CHECKING:
    from ._async import AsyncChannelCase
    from ._base import CaseBase
    from ._sync import ChannelCase

P = ParamSpec("P")
T = TypeVar("T")

Work = Coroutine[Any, Any, T]
"""What a wait's body returns: the coroutine that does the work, which returns `T`."""


class Wait(Generic[P, T]):
    """One wait's declaration: the body, which builds the coroutine, with its name, signature and docstring."""

    def __init__(self, body: Callable[Concatenate[CaseBase, P], Work[T]]) -> None:
        self.body = body
        self.name = body.__name__
        self.__doc__ = body.__doc__

    def adopt(self, method: Callable[..., Any], returns: str) -> Callable[..., Any]:
        """Give a harness's `method` this wait's name, docstring and signature, returning `returns`
        (a format of what the work returns: `"Awaitable[{}]"`)."""
        signature = inspect.signature(self.body)
        work = str(signature.return_annotation)
        if not (work.startswith("Work[") and work.endswith("]")):
            raise TypeError(f"the wait {self.name} must be annotated to return Work[...] (got {work})")
        method.__name__ = self.name
        method.__doc__ = self.__doc__
        method.__signature__ = signature.replace(return_annotation=returns.format(work[5:-1]))  # type: ignore[attr-defined]
        return method

    if TYPE_CHECKING:  # at run time each harness class holds a plain function instead (see CaseBase)

        @overload
        def __get__(self, case: None, owner: type[Any]) -> Wait[P, T]: ...

        @overload
        def __get__(self, case: ChannelCase, owner: type[Any]) -> Callable[P, T]: ...

        @overload
        def __get__(self, case: AsyncChannelCase, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...

        def __get__(self, case: Any, owner: type[Any]) -> Any: ...


def wait(body: Callable[Concatenate[CaseBase, P], Work[T]]) -> Wait[P, T]:
    """Declare a harness wait (see the module's docstring)."""
    return Wait(body)


def waits(cls: type) -> list[Wait[Any, Any]]:
    """Every wait `cls` declares or inherits, in declaration order."""
    found: dict[str, Wait[Any, Any]] = {}
    for klass in reversed(cls.__mro__):
        found.update((name, value) for name, value in vars(klass).items() if isinstance(value, Wait))
    return list(found.values())
