"""Run every sync test of a module twice: on the harness's own clock and on a virtual event loop.

A cluster test module imports `pytest_generate_tests` and `on_virtual_loop` from here. On the
loop the nodes serve as tasks and the loop's clock moves time, so the same assertions prove
that nodes, the network's delays and timers keep one timeline there too.
"""

from __future__ import annotations

import inspect

import pytest

CLOCKS = [
    pytest.param(False, id="own-clock"),
    pytest.param(True, id="virtual-loop", marks=pytest.mark.channels(virtual_loop=True)),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "channels" not in metafunc.fixturenames or inspect.iscoroutinefunction(metafunc.function):
        return
    if any("virtual_loop" in marker.kwargs for marker in metafunc.definition.iter_markers("channels")):
        return  # the test chose its loop itself
    metafunc.parametrize("on_virtual_loop", CLOCKS)


@pytest.fixture(autouse=True)
def on_virtual_loop(request: pytest.FixtureRequest) -> bool:
    """Whether this run of the test is on a virtual event loop (tests need not ask)."""
    return bool(getattr(request, "param", False))
