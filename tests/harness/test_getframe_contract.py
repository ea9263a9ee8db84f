"""`sys._getframe`, as the harness uses it to name the line of a test's call.

`AsyncChannelCase` records where each wait was made (`sys._getframe(2)` in testing/_async.py,
so a never-awaited wait names its line) and the habit checks find the first frame outside the
package (testing/_habits.py). Python documents `sys._getframe` as a CPython implementation
detail: these tests check what those uses assume, so an interpreter without it fails here by
name. Delete this file when neither module calls it.
"""

from __future__ import annotations

import sys
from types import FrameType

import pytest

PYTHON = f"{sys.implementation.name} {sys.version.split()[0]}"


def _broken(what: str) -> str:
    return (
        f"{PYTHON}: sys._getframe no longer {what}. pytest_channels/testing/_async.py and _habits.py rely on it "
        "to name the test's line: use inspect.stack() there, or f_back from inspect.currentframe()."
    )


def _caller(depth: int) -> tuple[FrameType, int]:
    frame = sys._getframe(depth)
    return frame, frame.f_lineno  # the line read now, while the call is being made, as _async.py does


def _through(depth: int) -> tuple[FrameType, int]:
    return _caller(depth)


def test_getframe_n_is_the_frame_n_calls_up_with_its_file_line_and_globals() -> None:
    here = sys._getframe()
    line = here.f_lineno + 1
    frame, called_at = _through(2)
    assert frame is here, _broken("returns the frame `depth` calls above its caller")
    assert (frame.f_code.co_filename, called_at) == (__file__, line), _broken(
        "gives a frame its f_code.co_filename and the f_lineno of the call it is making"
    )
    assert frame.f_globals["__name__"] == __name__, _broken("gives a frame its module's f_globals")
    assert _caller(0)[0].f_back is here, _broken("links a frame to its caller's as f_back")


def test_getframe_past_the_outermost_frame_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="call stack is not deep enough"):
        sys._getframe(10_000)
