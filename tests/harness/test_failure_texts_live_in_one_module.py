"""Every failure a test sees is worded in one module, `testing/_format.py`: the harness raises the
texts it builds, and writes none of its own, so they stay alike and can be read in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest_channels.testing
from pytest_channels.testing import _format

TESTING = Path(pytest_channels.testing.__file__).parent
FAILURES = {"AssertionError", "ChannelCrashed", "NeverAwaited"}


def _worded_failures(source: str) -> list[int]:
    """The lines that raise a test failure with a text written right there (a literal or an f-string)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            name, args = node.exc.func, node.exc.args
            worded = any(isinstance(arg, (ast.Constant, ast.JoinedStr, ast.BinOp)) for arg in args)
            if isinstance(name, ast.Name) and name.id in FAILURES and worded:
                lines.append(node.lineno)
    return lines


def test_the_check_sees_a_failure_worded_in_place() -> None:
    assert _worded_failures('raise AssertionError(f"got {x}")\nraise AssertionError(text(x))\n') == [1]


def test_no_harness_module_words_a_failure_of_its_own() -> None:
    found = {
        path.name: lines
        for path in sorted(TESTING.glob("*.py"))
        if path.name != "_format.py" and (lines := _worded_failures(path.read_text()))
    }
    assert not found, f"word these failures in testing/_format.py: {found}"


def test_the_failure_module_documents_each_text_it_builds() -> None:
    public = [name for name in vars(_format) if not name.startswith("_") and callable(getattr(_format, name))]
    texts = [name for name in public if getattr(getattr(_format, name), "__module__", "") == _format.__name__]
    assert len(texts) > 20
    for name in texts:
        assert getattr(_format, name).__doc__, f"_format.{name} says what failure it words"
