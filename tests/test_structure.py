"""The package's shape holds: no import cycle, no module too long to hold in one's head, and
no private name reaching across packages. Read from the source with ``ast``, nothing run."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "convsplit"
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _package_of(module: str) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to itself)."""
    if MODULES[module].name == "__init__.py":
        return module
    return module.rpartition(".")[0]


def _runtime_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that runs: at module level or inside functions, but not the ones
    under ``if TYPE_CHECKING:``, which only type checkers read."""

    def visit(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from (n for c in child.orelse for n in visit_node(c))
                continue
            yield from visit_node(child)

    def visit_node(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from visit(node)

    yield from visit(tree)


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str | None]]:
    """(convsplit module imported, name taken from it or None) for one import statement."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name in MODULES:
                yield alias.name, None
        return
    base = node.module or ""
    if node.level:
        package = _package_of(module).split(".")
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    if base not in MODULES:
        return
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        yield (sub, None) if sub in MODULES else (base, alias.name)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _runtime_imports(tree):
            for target, _ in _targets(module, node):
                if target != module:
                    graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_no_import_cycle() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", sorted(MODULES), ids=str)
def test_no_module_is_too_long(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it by job"


#: Packages that must not import the ones after them in README's layout order: reading
#: formats and counting tokens come before the split, which comes before running it.
LOWER_LAYERS = ("convsplit.formats", "convsplit.tokens")
UPPER_LAYERS = ("convsplit.core", "convsplit.run", "convsplit.inspect", "convsplit.integrations")


def test_lower_layers_do_not_import_upper_ones() -> None:
    inverted = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if module.startswith(LOWER_LAYERS)
        for target in targets
        if target.startswith(UPPER_LAYERS)
    )
    assert inverted == []


def test_no_private_name_crosses_a_package() -> None:
    crossing = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _runtime_imports(tree):
            for target, name in _targets(module, node):
                private_module = any(
                    p.startswith("_") and p != "__init__" for p in target.split(".")
                )
                private_name = name is not None and name.startswith("_") and name != "__version__"
                outside = not module.startswith(_package_of(target))
                if (private_module or private_name) and outside:
                    crossing.append(f"{module} imports {target}{'.' + name if name else ''}")
    assert crossing == []


def test_every_module_says_why_it_exists() -> None:
    missing = [m for m, p in MODULES.items() if not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []
