"""Structure: modules and lines per layer, import cycles, public names, and the hops of a few scenarios.

Not timed, so not a ratio: every figure here is a count, the same on every run of the same
code, for comparing one commit with another (see `benchmarks/before-redesign.md`). Usage:

    python -m benchmarks.structure                      # the pytest_channels this Python imports
    python -m benchmarks.structure --package-dir PATH   # the package at PATH (another checkout)

Modules are found by walking the package's directory and the scenarios use only the public
API, so moving modules around leaves this script working. The scenarios run in a child
process that imports the package from the parent of its directory, with a fixed hash seed
and the garbage collector off over the measured span, so that nothing this process has
imported or cached changes a count.

Hops: over exactly the measured span (set-up and joins come before it, and the scenario runs
once unmeasured as a warm-up, so that first-use imports and caches stay out), `sys.setprofile`
sees every Python function the package runs. A call is one entry into a function of the
package; each resumption of one of its coroutines or generators is an entry too. A module hop
is an entry whose caller, the innermost frame of the package on the stack, lies in another
module of the package (a call made through asyncio or the standard library counts as made by
the package's frame below it).
"""

from __future__ import annotations

import argparse
import ast
import dis
import gc
import importlib
import io
import json
import os
import subprocess
import sys
import tokenize
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

NAME = "pytest_channels"

# --- modules and lines -----------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    """One file of the package: its dotted name, path, layer and line counts."""

    name: str
    path: Path
    layer: str
    lines: int
    code: int
    docstrings: int


def count_lines(source: str) -> tuple[int, int, int]:
    """All lines; lines of code (any token but a comment: docstrings count); lines of docstrings.

    Example:
        >>> count_lines("'''Doc.'''\\n\\n# why\\nx = 1  # what\\n")
        (4, 2, 1)
    """
    code: set[int] = set()
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skipped:
            code.update(range(token.start[0], token.end[0] + 1))
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return len(source.splitlines()), len(code), len(docstrings)


def modules(package: Path) -> dict[str, Module]:
    """Every module of the package by dotted name (a package by its `__init__.py`), in path order.

    A module's layer is the directory it lies in at the first level: the package's own files,
    or one subpackage with everything below it.
    """
    found: dict[str, Module] = {}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        parts = [NAME, *relative.with_suffix("").parts]
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        layer = f"{NAME}/{relative.parts[0]}/" if len(relative.parts) > 1 else f"{NAME}/"
        found[name] = Module(name, path, layer, *count_lines(path.read_text()))
    return found


# --- imports ---------------------------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module runs: not in functions or under TYPE_CHECKING (tests/test_layers.py)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _module_level(block)
        elif isinstance(node, ast.With | ast.ClassDef):  # a class body runs at import time
            yield from _module_level(node.body)


def _anywhere(tree: ast.Module, name: str) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, and `importlib.import_module` with a literal name, as an ImportFrom."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            target: str = node.args[0].value
            level = len(target) - len(target.lstrip("."))
            yield ast.ImportFrom(module=target[level:] or None, names=[ast.alias("*")], level=level)


def _targets(node: ast.Import | ast.ImportFrom, package: str, files: dict[str, Module]) -> list[str]:
    """The package's modules an import statement names (`from pkg import sub` names the submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = package
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    source = ".".join(part for part in (base if node.level else "", node.module or "") if part)
    return [f"{source}.{alias.name}" if f"{source}.{alias.name}" in files else source for alias in node.names]


def _ancestors(module: str) -> list[str]:
    """The packages Python imports before `module`: `a.b.c` -> `a`, `a.b`."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(files: dict[str, Module], rule: str) -> dict[str, set[str]]:
    """Each module and the package's modules it imports, by one of three rules.

    - "module": imports that run at import time, as tests/test_layers.py reads them;
    - "package": the same, plus the packages Python runs first to reach an imported module
      (`from .testing._settings import X` runs `testing/__init__.py`), except the importer's
      own, which are already under way when it runs;
    - "any": as "package", for every import: in functions and under TYPE_CHECKING too, and
      `importlib.import_module` with a literal name.
    """
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, module in files.items():
        tree = ast.parse(module.path.read_text(), str(module.path))
        package = name if module.path.name == "__init__.py" else name.rpartition(".")[0]
        statements = _anywhere(tree, name) if rule == "any" else _module_level(tree.body)
        for node in statements:
            for target in _targets(node, package, files):
                reached = [target]
                if rule != "module":
                    own = {*_ancestors(name), name}
                    reached += [outer for outer in _ancestors(target) if outer not in own]
                graph[name].update(t for t in reached if t in files and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan), each sorted, in order of their first.

    Example:
        >>> cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
        [['a', 'b', 'c']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def layer_graph(files: dict[str, Module], graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph with each layer's modules taken as one node."""
    layers: dict[str, set[str]] = {module.layer: set() for module in files.values()}
    for name, targets in graph.items():
        layers[files[name].layer].update(files[t].layer for t in targets if files[t].layer != files[name].layer)
    return layers


# --- public names ----------------------------------------------------------------------------


def public_names(files: dict[str, Module]) -> dict[str, int | None]:
    """`len(__all__)` of each public module (no part of its name private), None where it has none."""
    counted: dict[str, int | None] = {}
    for name, module in files.items():
        if any(part.startswith("_") for part in name.split(".")):
            continue
        counted[name] = None
        for node in ast.parse(module.path.read_text()).body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(target, ast.Name) and target.id == "__all__" for target in targets):
                    counted[name] = _count_all(name, module.path, node.value)
    return counted


def _count_all(name: str, path: Path, value: ast.expr) -> int:
    """The length of a literal `__all__`; of the imported one when it is computed."""
    try:
        return len(ast.literal_eval(value))
    except ValueError:
        pass
    imported = importlib.import_module(name)
    if Path(imported.__file__ or "").resolve() != path.resolve():
        raise SystemExit(f"structure: {name}.__all__ is computed and {name} is imported from elsewhere than {path}")
    return len(imported.__all__)


# --- hops ------------------------------------------------------------------------------------

_GENERATOR_FLAGS = 0x20 | 0x80 | 0x200  # CO_GENERATOR, CO_COROUTINE, CO_ASYNC_GENERATOR
_RESUME = dis.opmap["RESUME"]


def _resumed(bytecode: bytes, at: int) -> bool:
    """Whether a generator's frame enters at a yield or an await, rather than at its start.

    A frame enters at a RESUME instruction whose argument says where: 0 at the start, else
    after a yield, a `yield from` or an await (its low two bits, from CPython 3.11 on).
    """
    return bytecode[at] == _RESUME and bytecode[at + 1] & 3 != 0


@dataclass
class Trace:
    """What the package ran over one measured span."""

    calls: int = 0
    resumptions: int = 0
    hops: int = 0
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    path: list[str] = field(default_factory=list)  # the module control was in, consecutive repeats collapsed


def trace(package: Path, span: Callable[[], object]) -> Trace:
    """Run `span` under `sys.setprofile` and count the package's calls and module hops in it."""
    root = str(package.resolve()) + os.sep
    names: dict[str, str | None] = {}

    def module_of(filename: str) -> str | None:
        if filename not in names:
            real = os.path.realpath(filename)
            names[filename] = None
            if real.startswith(root) and real.endswith(".py"):
                parts = [NAME, *real[len(root) : -3].split(os.sep)]
                names[filename] = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        return names[filename]

    result = Trace()
    pairs, path = result.pairs, result.path
    # The innermost package module on the stack, for each frame entered since the span began.
    inner: list[str | None] = [None]

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            module = module_of(frame.f_code.co_filename)
            caller = inner[-1]
            if module is None:
                inner.append(caller)
                return
            result.calls += 1
            if frame.f_code.co_flags & _GENERATOR_FLAGS and _resumed(frame.f_code.co_code, frame.f_lasti):
                result.resumptions += 1
            if caller is not None and caller != module:
                result.hops += 1
                pairs[caller, module] += 1
            inner.append(module)
            if not path or path[-1] != module:
                path.append(module)
        elif event == "return":
            if len(inner) > 1:  # frames entered before the span return past the bottom
                inner.pop()
            if inner[-1] is not None and path and path[-1] != inner[-1]:
                path.append(inner[-1])

    gc.collect()
    gc.disable()
    sys.setprofile(profile)
    try:
        span()
    finally:
        sys.setprofile(None)
        gc.enable()
    return result


def _scenarios() -> Iterator[tuple[str, str, Callable[[ExitStack], Callable[[], object]]]]:
    """Each scenario: a title, what it does, and a set-up that returns the span to measure."""
    import asyncio

    from pytest_channels import Channel, InResult, JoinResult, Socket, ok, reply
    from pytest_channels.testing import AsyncChannelCase, ChannelCase

    class Echo(Channel):
        def join(self, topic: str, payload: Any, socket: Socket) -> JoinResult:
            return ok(socket)

        def handle_in(self, event: str, payload: Any, socket: Socket) -> InResult:
            return reply(socket, "ok", payload)

    def sync_push(stack: ExitStack) -> Callable[[], object]:
        channels = stack.enter_context(ChannelCase())
        socket = channels.join(channels.socket(), "echo", channel=Echo).socket

        def span() -> None:
            channels.assert_reply(channels.push(socket, "ping", {"n": 1}), "ok", {"n": 1})

        return span

    def async_push(stack: ExitStack) -> Callable[[], object]:
        loop = asyncio.new_event_loop()
        case = AsyncChannelCase()
        channels = loop.run_until_complete(case.__aenter__())
        stack.callback(loop.close)
        stack.callback(lambda: loop.run_until_complete(case.__aexit__(None, None, None)))
        socket = loop.run_until_complete(channels.join(channels.socket(), "echo", channel=Echo)).socket

        async def once() -> None:
            await channels.assert_reply(channels.push(socket, "ping", {"n": 1}), "ok", {"n": 1})

        def span() -> None:
            loop.run_until_complete(once())

        return span

    def cluster_push(stack: ExitStack) -> Callable[[], object]:
        channels = stack.enter_context(ChannelCase())
        cluster = channels.cluster("server", "remote")
        channels.join(channels.socket(node="remote"), "room", channel=Echo)

        def span() -> None:
            cluster["server"].runtime.broadcast("room", "news", {"n": 1})
            channels.assert_push("news", {"n": 1})

        return span

    def cluster_subscriber(stack: ExitStack) -> Callable[[], object]:
        channels = stack.enter_context(ChannelCase())
        cluster = channels.cluster("server", "remote")
        channels.subscribe("news", node="remote")

        def span() -> None:
            cluster["server"].runtime.broadcast("news", "hi", {"n": 1})
            channels.assert_broadcast("hi", {"n": 1})

        return span

    yield "push + assert_reply", "one node, sync ChannelCase: `assert_reply(push(socket, ...))`", sync_push
    yield "push + assert_reply, async", "one node, AsyncChannelCase on asyncio: the same, awaited", async_push
    yield (
        "cross-node broadcast to a channel",
        '`channels.cluster("server", "remote")`, a channel joined on remote; '
        '`cluster["server"].runtime.broadcast(...)` then `assert_push`',
        cluster_push,
    )
    yield (
        "cross-node broadcast to a subscriber",
        'the same cluster, `channels.subscribe(topic, node="remote")`; broadcast on server then `assert_broadcast`',
        cluster_subscriber,
    )


def measure_hops(package: Path) -> list[dict[str, Any]]:
    """Run every scenario here (the child process): warm up once, measure the next two repetitions."""
    import pytest_channels

    imported = Path(pytest_channels.__file__).resolve().parent
    if imported != package.resolve():
        raise SystemExit(f"structure: imported {imported}, not {package}: run with the parent of {package} on sys.path")
    measured = []
    for title, what, setup in _scenarios():
        with ExitStack() as stack:
            span = setup(stack)
            span()  # the warm-up: first-use imports, caches
            first, second = trace(package, span), trace(package, span)
        measured.append(
            {
                "title": title,
                "what": what,
                "calls": first.calls,
                "resumptions": first.resumptions,
                "hops": first.hops,
                "steady": (first.calls, first.hops) == (second.calls, second.hops),
                "pairs": [[a, b, n] for (a, b), n in sorted(first.pairs.items(), key=lambda item: (-item[1], item[0]))],
                "path": first.path,
            }
        )
    return measured


def hops_in_child(package: Path) -> list[dict[str, Any]]:
    """The scenarios' traces, run in a fresh Python that imports the package from `package`'s parent."""
    env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        # An empty entry would mean the working directory, which may hold another pytest_channels.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(package.resolve().parent), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, __file__, "--hops-json", "--package-dir", str(package)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"structure: the scenarios failed in the child process:\n{done.stderr}")
    measured: list[dict[str, Any]] = json.loads(done.stdout)
    return measured


# --- the report ------------------------------------------------------------------------------


def _short(module: str) -> str:
    return module.removeprefix(f"{NAME}.") if module != NAME else module


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    header = list(header)
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]


def imported_package() -> Path:
    """The directory of the pytest_channels this Python imports."""
    import pytest_channels

    return Path(pytest_channels.__file__).parent


def report(package: Path, detail: bool = True) -> str:
    """The structure report as Markdown; without `detail`, only the tables (what `python -m benchmarks` shows)."""
    files = modules(package)
    out = [f"Package: `{package}`", ""] if detail else []
    out += ["Modules and lines per layer (code: not blank and not only a comment; docstrings count as code):", ""]
    layers: dict[str, list[Module]] = {}
    for module in files.values():
        layers.setdefault(module.layer, []).append(module)
    rows = [
        [
            f"`{layer}`",
            len(members),
            sum(m.lines for m in members),
            sum(m.code for m in members),
            sum(m.docstrings for m in members),
        ]
        for layer, members in layers.items()
    ]
    rows.append(
        ["**all**", len(files), *(sum(m.__dict__[k] for m in files.values()) for k in ("lines", "code", "docstrings"))]
    )
    out += _table(["layer", "modules", "lines", "code", "of which docstrings"], rows)

    out += ["", "Import cycles (strongly connected groups of modules):", ""]
    rules = [
        ("module", "at import time (tests/test_layers.py's rule: not in functions, not under TYPE_CHECKING)"),
        ("package", "at import time, counting the `__init__`s Python runs to reach an imported module"),
        ("any", "any import, `__init__`s counted: in functions and under TYPE_CHECKING too"),
    ]
    graphs = {rule: import_graph(files, rule) for rule, _ in rules}
    found = {rule: cycles(graph) for rule, graph in graphs.items()}
    out += _table(
        ["imports", "cycles", "modules in them", "import edges"],
        [
            [what, len(found[rule]), sum(map(len, found[rule])), sum(map(len, graphs[rule].values()))]
            for rule, what in rules
        ],
    )
    for rule, _ in rules:
        for group in found[rule]:
            out.append(f"- {rule}: " + " <-> ".join(f"`{_short(m)}`" for m in group))
    layered = layer_graph(files, graphs["module"])
    out += ["", "Layers importing one another at import time (each layer taken as one node):", ""]
    for layer, targets in layered.items():
        out.append(f"- `{layer}` -> " + (", ".join(f"`{t}`" for t in sorted(targets)) or "nothing"))
    layer_cycles = cycles(layered)
    out.append(f"- layer cycles: {len(layer_cycles)}" + "".join(f"; {' <-> '.join(group)}" for group in layer_cycles))
    for group in layer_cycles:
        for source, target in ((s, t) for s in group for t in group if s != t):
            edges = sorted(
                (name, imported)
                for name, imports in graphs["module"].items()
                for imported in imports
                if (files[name].layer, files[imported].layer) == (source, target)
            )
            listed = ", ".join(f"{_short(a)} -> {_short(b)}" for a, b in edges) if len(edges) <= 12 else "..."
            out.append(f"  - `{source}` -> `{target}`: {len(edges)} imports ({listed})")

    names = public_names(files)
    out += ["", "Public names (`len(__all__)` of each public module):", ""]
    out += _table(
        ["module", "names"],
        [
            *([f"`{m}`", "no `__all__`" if n is None else n] for m, n in names.items()),
            ["**all**", sum(n or 0 for n in names.values())],
        ],
    )

    out += [
        "",
        "Hops (Python calls inside the package over exactly the measured span; see the module's docstring):",
        "",
    ]
    traced = hops_in_child(package)
    out += _table(
        ["scenario", "calls", "of which resumptions", "module hops", "modules visited", "steady"],
        [
            [
                t["title"],
                t["calls"],
                t["resumptions"],
                t["hops"],
                len(set(t["path"])),
                "yes" if t["steady"] else "**no**",
            ]
            for t in traced
        ],
    )
    if not detail:
        return "\n".join(out) + "\n"
    for t in traced:
        out += ["", f"**{t['title']}**: {t['what']}.", ""]
        out.append("Hops by pair: " + ", ".join(f"{_short(a)} -> {_short(b)} {n}" for a, b, n in t["pairs"]) + ".")
        out += ["", "Where control was, in order:", "", "```text"]
        out += _wrap([_short(m) for m in t["path"]])
        out.append("```")

    out += ["", "Modules (lines / code):", ""]
    out += _table(["module", "lines", "code"], ([f"`{_short(m.name)}`", m.lines, m.code] for m in files.values()))
    return "\n".join(out) + "\n"


def _wrap(steps: list[str], width: int = 100) -> list[str]:
    lines, line = [], ""
    for i, step in enumerate(steps):
        piece = step if i == 0 else f" -> {step}"
        if line and len(line) + len(piece) > width:
            lines.append(line)
            line, piece = "", f"-> {step}"
        line += piece
    return [*lines, line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.structure", description=__doc__.splitlines()[0])
    parser.add_argument("--package-dir", type=Path, help="the package directory to measure (default: the imported one)")
    parser.add_argument("--hops-json", action="store_true", help=argparse.SUPPRESS)  # the child process
    options = parser.parse_args(argv)
    package = options.package_dir
    if options.hops_json:
        print(json.dumps(measure_hops(package)))
        return 0
    print(report(package or imported_package()), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
