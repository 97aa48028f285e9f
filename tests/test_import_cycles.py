"""No import cycle among carbonshift modules, imports inside functions counted too (issue 24), and a ceiling on
the carbonshift imports that still sit inside functions, so none comes back to dodge a cycle.

The graph has an edge ``a → b`` for every import statement in ``a`` (module level, inside a function or a
class, under ``try:``/``if``) that names module ``b`` or a name defined in it; ``from pkg import sub`` is an
edge to ``pkg.sub`` when that is a module. Imports under ``if TYPE_CHECKING:`` are left out (they never run),
and so is the implicit import of a module's parent packages. A cycle is a strongly connected component of
more than one module.

An import inside a function is kept only for start-up time: for a heavy optional library (:data:`HEAVY`), or
for a carbonshift module that loads one when imported (such a module is as lazy as its library and is not
counted), or where a module-level import would make ``carbonshift --help`` load a slow library — each of those
says why next to it (:data:`REASON`).
``python tests/test_import_cycles.py`` prints the cycles and the counted imports."""
from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[1]
#: source folder → importable package (pyproject.toml [tool.setuptools.package-dir])
PACKAGES = {"forecast": "carbonshift.forecast", "scheduler": "carbonshift.scheduler",
            "experiments": "carbonshift.experiments"}
#: optional third-party libraries that are slow to import: imported where they are used
HEAVY = ("torch", "lightning", "pytorch_forecasting", "prophet", "ray", "mlflow", "flwr", "matplotlib", "highspy")
#: the most imports of carbonshift modules (statements) that may sit inside functions; lower it when you can
MAX_FUNCTION_LEVEL = 1
#: what an import inside a function says on its line, or on the comment line above it: why it is not at module level
REASON = "lazy:"


@dataclass(frozen=True)
class Import:
    path: Path          # file, relative to the root
    line: int
    module: str         # importing module
    target: str         # imported carbonshift module, or the top-level name of a third-party one
    in_function: bool

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.target}"


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every carbonshift module (dotted name) → its file."""
    out = {}
    for folder, package in PACKAGES.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root / folder).with_suffix("").parts
            out[".".join([package, *(parts[:-1] if parts[-1] == "__init__" else parts)])] = path
    return out


def _type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" or \
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def imports(root: Path = ROOT) -> list[Import]:
    """The carbonshift modules and :data:`HEAVY` libraries each import statement of every carbonshift module
    names, ``if TYPE_CHECKING:`` blocks left out."""
    mods = modules(root)
    out = []

    def resolve(name: str) -> str:
        while name not in mods and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    for module, path in mods.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]

        def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
            if isinstance(node, ast.Import):
                return [a.name for a in node.names]
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1], *filter(None, [node.module])])
            return [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]

        def walk(node: ast.AST, in_function: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _type_checking(child.test):
                    for stmt in child.orelse:
                        walk_one(stmt, in_function)
                else:
                    walk_one(child, in_function)

        def walk_one(node: ast.AST, in_function: bool) -> None:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in dict.fromkeys(targets(node)):
                    target = resolve(name) if name.startswith("carbonshift.") else name.split(".")[0]
                    if target != module and (target.startswith("carbonshift.") or target in HEAVY):
                        out.append(Import(path.relative_to(root), node.lineno, module, target, in_function))
            else:
                walk(node, in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

        walk(ast.parse(path.read_text(), str(path)), False)
    return out


def cycles(found: list[Import]) -> list[list[str]]:
    """Strongly connected components (Tarjan) of more than one carbonshift module, each sorted."""
    graph: dict[str, set[str]] = defaultdict(set)
    for i in found:
        if i.target.startswith("carbonshift."):
            graph[i.module].add(i.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def heavy_modules(found: list[Import]) -> set[str]:
    """Carbonshift modules whose module-level imports (followed through carbonshift modules) reach :data:`HEAVY`."""
    top: dict[str, set[str]] = defaultdict(set)
    for i in found:
        if not i.in_function:
            top[i.module].add(i.target)
    heavy = {m for m, ts in top.items() if ts & set(HEAVY)}
    while True:
        more = {m for m, ts in top.items() if m not in heavy and ts & heavy}
        if not more:
            return heavy
        heavy |= more


def function_level(found: list[Import]) -> list[Import]:
    """The counted imports: statements inside functions that import a carbonshift module not in
    :func:`heavy_modules` (one per statement)."""
    heavy = heavy_modules(found)
    lazy = {(i.path, i.line): i for i in found
            if i.in_function and i.target.startswith("carbonshift.") and i.target not in heavy}
    return sorted(lazy.values(), key=lambda i: (str(i.path), i.line))


def _describe(component: list[str], found: list[Import]) -> str:
    inside = set(component)
    edges = sorted({str(i) for i in found if i.module in inside and i.target in inside})
    return f"cycle of {len(component)}: " + "; ".join(edges)


def test_no_import_cycle_among_carbonshift_modules():
    found = imports()
    assert [_describe(c, found) for c in cycles(found)] == []


def test_carbonshift_imports_inside_functions_stay_under_the_ceiling():
    lazy = function_level(imports())
    assert len(lazy) <= MAX_FUNCTION_LEVEL, (
        f"{len(lazy)} imports of carbonshift modules inside functions (ceiling {MAX_FUNCTION_LEVEL}); import at "
        f"module level (break a cycle by moving the shared piece down, not by hiding the import):\n"
        + "\n".join(map(str, lazy)))


def test_each_carbonshift_import_inside_a_function_says_why():
    def says_why(i: Import) -> bool:
        """On the import's line, or on the comment line above it or above the imports right before it."""
        lines = (ROOT / i.path).read_text().splitlines()
        n = i.line - 1
        if REASON in lines[n]:
            return True
        while n > 0 and lines[n - 1].strip().startswith(("from ", "import ")):
            n -= 1
        return n > 0 and lines[n - 1].strip().startswith("#") and REASON in lines[n - 1]

    assert [str(i) for i in function_level(imports()) if not says_why(i)] == [], \
        f"say why the import is not at module level: a `# {REASON} …` comment on its line or above it"


def test_the_analyser_sees_function_relative_and_submodule_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "scheduler" / "policies"
    pkg.mkdir(parents=True)
    (tmp_path / "scheduler" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from carbonshift.scheduler import c\n"
                              "def f():\n    from carbonshift.scheduler.policies import b\n")
    (pkg / "b.py").write_text("from . import a\nimport torch\n")
    (tmp_path / "scheduler" / "c.py").write_text("from ..scheduler.policies.a import f\n"
                                                 "def g():\n    import carbonshift.scheduler.policies.b\n")
    monkeypatch.setattr(f"{__name__}.PACKAGES", {"scheduler": "carbonshift.scheduler"})
    found = imports(tmp_path)
    assert sorted(map(str, found)) == ["scheduler/c.py:1 imports carbonshift.scheduler.policies.a",
                                       "scheduler/c.py:3 imports carbonshift.scheduler.policies.b",
                                       "scheduler/policies/a.py:5 imports carbonshift.scheduler.policies.b",
                                       "scheduler/policies/b.py:1 imports carbonshift.scheduler.policies.a",
                                       "scheduler/policies/b.py:2 imports torch"]
    assert cycles(found) == [["carbonshift.scheduler.policies.a", "carbonshift.scheduler.policies.b"]]
    assert heavy_modules(found) == {"carbonshift.scheduler.policies.b"}
    assert function_level(found) == []      # both function-level imports load b, which loads torch


if __name__ == "__main__":
    found = imports()
    lazy = function_level(found)
    print(f"{len(modules())} modules, {sum(i.target.startswith('carbonshift.') for i in found)} carbonshift imports")
    for component in cycles(found):
        print(_describe(component, found))
    print(f"{len(lazy)} imports of carbonshift modules inside functions (heavy modules left out: "
          f"{sorted(heavy_modules(found))})")
    if "-v" in sys.argv:
        print("\n".join(map(str, lazy)))
