"""The plugin talks to a case only through `PluginCase`: it builds one with `new_case` and calls the
three methods the protocol declares, never the case's state."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest_channels.plugin
from pytest_channels.testing import AsyncChannelCase, ChannelCase
from pytest_channels.testing._interface import PluginCase

PLUGIN = Path(pytest_channels.plugin.__file__)
DECLARED = {name for name, value in vars(PluginCase).items() if inspect.isfunction(value) and name[:2] != "__"}


def _uses_of_cases(tree: ast.AST) -> set[str]:
    """The attributes plugin.py reads off any name `case` (the only name it gives a case)."""
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "case"
    }


def test_the_protocol_declares_three_documented_calls() -> None:
    assert {"_wrap_test", "_end", "_failure_note"} == DECLARED
    for name in DECLARED:
        assert inspect.getdoc(getattr(PluginCase, name)), name


def test_the_plugin_calls_only_what_the_protocol_declares() -> None:
    used = _uses_of_cases(ast.parse(PLUGIN.read_text()))
    assert used, "the check found no use of a case at all: has the plugin renamed its variable?"
    assert used <= DECLARED, f"plugin.py reaches into the case: {sorted(used - DECLARED)}"


def test_the_plugin_imports_nothing_private_of_the_harness_but_the_interface_and_the_tables() -> None:
    tree = ast.parse(PLUGIN.read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    assert modules == {"testing", "testing._interface", "testing._settings", "testing._format", "testing._loop"}


def test_both_harnesses_implement_the_protocol() -> None:
    for case in (ChannelCase, AsyncChannelCase):
        for name in DECLARED:
            assert callable(getattr(case, name)), (case, name)
    assert AsyncChannelCase._wrap_test is not ChannelCase._wrap_test  # the async one runs the body in its loop
