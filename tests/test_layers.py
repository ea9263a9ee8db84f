"""The package's directories are its layers, and its modules import one another without a cycle.

The layers, each a directory, and the doors open one way (design.md):

    plugin.py  ->  testing/ (and explore.py)  ->  _server/  ->  _runtime/

The runtime knows nothing of the transports, the harness or pytest, and the transports
nothing of the harness: checked over every import, lazy ones included. The public modules
(`__init__`, `_exports`, `redis`, `opentelemetry`) re-export what the layers under them define.

A cycle works only while every module in it happens to reach the names it needs before the
others are done executing; a merge that reorders one import turns it into an ImportError for
some users and not others. Imports under `TYPE_CHECKING` and inside functions run later (or
never), so the cycle check leaves them out.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest_channels

PACKAGE = Path(pytest_channels.__file__).parent
NAME = "pytest_channels"


def _module_name(path: Path) -> str:
    parts = [NAME, *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _all_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of the module, wherever it is."""
    for statement in body:
        for node in ast.walk(statement):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                yield node


def _module_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported: not in functions or TYPE_CHECKING."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level_imports(node.body)
            yield from _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _module_level_imports(block)
        elif isinstance(node, (ast.With, ast.ClassDef)):  # a class body runs at import time
            yield from _module_level_imports(node.body)


def import_graph(*, lazy: bool = False) -> dict[str, set[str]]:
    """Each module of the package, and the package's modules it imports at module level (or anywhere, if `lazy`)."""
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imports = _all_imports if lazy else _module_level_imports
        for node in imports(ast.parse(path.read_text(), str(path)).body):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = ".".join(part for part in (base if node.level else "", node.module or "") if part)
                # `from pkg import sub` imports the submodule; `from mod import name` only mod.
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in files else source for alias in node.names
                ]
            graph[name].update(target for target in targets if target in files and target != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_sees_a_cycle_and_no_cycle_in_a_chain() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_import_graph_sees_relative_imports_of_the_package() -> None:
    graph = import_graph()
    assert f"{NAME}.testing._group" in graph[f"{NAME}.testing._cluster"]  # `from ._group import ...`
    assert f"{NAME}._runtime._clock" in graph[f"{NAME}.testing._network"]  # `from .._runtime._clock import ...`
    assert f"{NAME}.testing" in graph, "subpackages are read too"


def test_no_module_of_the_package_imports_itself_back_at_module_level() -> None:
    found = cycles(import_graph())
    assert not found, "module-level import cycles (move one import into a function or under TYPE_CHECKING):\n" + (
        "\n".join(" <-> ".join(group) for group in found)
    )


LAYERS = {"_runtime": 0, "_server": 1, "testing": 2, "explore": 2, "plugin": 3}
"""Each layer may import the layers below it (a lower number), never one above."""
DOORS = {"", "_exports", "_public", "redis", "opentelemetry"}
"""The public modules over the layers, and `_public`, which they share."""


def _layer(module: str) -> str:
    return module.removeprefix(NAME).removeprefix(".").partition(".")[0]


def test_every_module_lives_in_a_layer_or_is_a_public_door() -> None:
    strays = sorted(module for module in import_graph() if _layer(module) not in LAYERS.keys() | DOORS)
    assert not strays, f"modules outside a layer directory (move them into one of {sorted(LAYERS)}): {strays}"


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Each import in `graph` that points up the layers, or from the runtime or transports to a public door."""
    wrong = []
    for module, targets in graph.items():
        layer = _layer(module)
        for target in targets:
            other = _layer(target)
            if layer in LAYERS and other in LAYERS and LAYERS[other] > LAYERS[layer]:
                wrong.append(f"{module} imports {target}")
            elif layer in ("_runtime", "_server") and other in DOORS - {"_public"}:
                wrong.append(f"{module} imports the public door {target}")
    return sorted(wrong)


def test_no_layer_imports_a_layer_above_it_even_lazily() -> None:
    wrong = violations(import_graph(lazy=True))
    assert not wrong, "imports against the layers (plugin -> testing -> _server -> _runtime):\n" + "\n".join(wrong)


def test_the_layer_check_tells_an_import_up_the_layers_from_one_down_them() -> None:
    up = {
        f"{NAME}._runtime._a": {f"{NAME}.testing._b", f"{NAME}._runtime._c"},
        f"{NAME}._server._d": {f"{NAME}.plugin", f"{NAME}._exports", f"{NAME}._public"},
        f"{NAME}.testing._e": {f"{NAME}._server._d", f"{NAME}._runtime._a", f"{NAME}._exports"},
        f"{NAME}.plugin": {f"{NAME}.testing._e"},
    }
    assert violations(up) == [
        f"{NAME}._runtime._a imports {NAME}.testing._b",
        f"{NAME}._server._d imports {NAME}.plugin",
        f"{NAME}._server._d imports the public door {NAME}._exports",
    ]


def _messages(path: Path) -> Iterator[str]:
    """The string constants of a module that are not docstrings: its messages, mostly."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.value


def test_no_message_of_the_runtime_or_the_transports_speaks_of_pytest() -> None:
    # An import is not the only way to know the harness: a production error telling the user
    # to set a pytest option is the same leak.
    leaks = [
        f"{path.relative_to(PACKAGE)}: {text!r}"
        for layer in ("_runtime", "_server")
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for text in _messages(path)
        if re.search(r"pytest(?![_-]channels)|\bini\b|\bfixture", text)
    ]
    assert not leaks, "messages that speak of the test harness, in layers that know nothing of it:\n" + "\n".join(leaks)


def test_no_module_takes_a_sibling_module_from_its_package_with_from_dot_import() -> None:
    # `from . import _format` reads the package's attribute when it has one, without looking in
    # sys.modules. pytester's in-process runs take the modules they imported out of sys.modules
    # after each run, but not those attributes: the next run would get the old `_format` beside
    # a fresh `_group`, whose classes no longer match (isinstance fails). `from ._format import x`
    # and `import pytest_channels.testing._format as _format` both go through sys.modules.
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    found = []
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level and not node.module:
                found += [f"{name}: from {'.' * node.level} import {alias.name}" for alias in node.names]
    assert not [f for f in found if not f.endswith("import __all__")], "\n".join(found)
