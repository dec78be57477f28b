"""The inspect package's shape: modules by job and of a readable size, no import cycles,
no private names borrowed, and the report's stylesheet shipped as package data."""

from __future__ import annotations

import ast
import io
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

from convsplit import Budget, SplitSpec
from convsplit.formats import read_records
from convsplit.inspect.report_collect import collect_report
from convsplit.inspect.report_render import render_report, stylesheet

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "convsplit" / "inspect"
MODULES = sorted(PACKAGE.glob("*.py"))


def _imports(path: Path) -> list[tuple[str, list[str], bool]]:
    """(module, names, at top level) of every ``from ... import`` in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [a.name for a in node.names], id(node) in top))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], id(node) in top) for a in node.names]
    return found


def test_no_module_is_over_400_lines() -> None:
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in MODULES}
    assert {name: n for name, n in sizes.items() if n > 400} == {}


def test_imports_are_at_the_top_and_go_one_way() -> None:
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        name = f"convsplit.inspect.{path.stem}"
        imports = _imports(path)
        assert [m for m, _, top in imports if not top] == [], f"{name} imports in a function"
        graph[name] = {m for m, _, _ in imports if m.startswith("convsplit.inspect.")}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module in done:
            return
        for imported in graph.get(module, ()):
            visit(imported, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())


def test_no_private_name_crosses_a_package_boundary() -> None:
    for path in MODULES:
        for module, names, _ in _imports(path):
            if module.startswith("convsplit.") and not module.startswith("convsplit.inspect"):
                assert not [n for n in names if n.startswith("_")], (path.name, module)
                assert "._" not in module, (path.name, module)
    outside = [p for p in (ROOT / "convsplit").rglob("*.py") if PACKAGE not in p.parents]
    for path in outside:
        for module, _, _ in _imports(path):
            assert not module.startswith("convsplit.inspect._"), (path, module)


def test_text_summaries_load_without_the_checks_or_the_report() -> None:
    code = (
        "import sys, convsplit.inspect.summaries; "
        "print(sorted(m for m in sys.modules if m.startswith('convsplit.inspect.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [
        "['convsplit.inspect.findings',",
        "'convsplit.inspect.labels',",
        "'convsplit.inspect.stats',",
        "'convsplit.inspect.summaries']",
    ]


def test_the_stylesheet_ships_with_the_package_and_is_inlined_whole() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    table = pyproject[pyproject.index("[tool.setuptools.package-data]") :]
    table = table[: table.index("\n[", 1)]
    assert '"inspect/report.css"' in table
    css = files("convsplit.inspect").joinpath("report.css").read_text(encoding="utf-8")
    assert css == stylesheet() == (PACKAGE / "report.css").read_text(encoding="utf-8")
    assert css.startswith(":root {") and css.endswith("}\n")
    data = collect_report(
        read_records(io.BytesIO(b""), name="empty.jsonl"), SplitSpec(), budgets=[Budget(512)]
    )
    page = render_report(data)
    assert page.count("<style>") == 1
    assert f"<style>\n{css}</style>" in page
    assert "url(" not in css and "@import" not in css, "the page loads nothing"
