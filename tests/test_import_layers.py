"""The import-layer contract (DESIGN.md): forecast ↛ scheduler ↛ experiments, and the scheduler core imports
neither MLflow nor Ray — checked on every import statement, module level and inside functions alike."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
#: package folder → module prefixes none of its files may import
BANNED = {
    "forecast": ("carbonshift.scheduler", "carbonshift.experiments", "scheduler", "experiments"),
    "scheduler": ("carbonshift.experiments", "experiments"),
}
#: the scheduler core (everything but the Flower simulation in scheduler/federated, which runs on Ray)
CORE_BANNED = ("mlflow", "ray")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``; relative imports resolved against its package."""
    package = ["carbonshift", *path.relative_to(ROOT).parent.parts]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            out.append((node.lineno, ".".join([*base, node.module or ""]).strip(".")))
    return sorted(out)


def violations(folder: str, banned: tuple[str, ...], skip: str | None = None) -> list[str]:
    return [f"{f.relative_to(ROOT)}:{line} imports {module}"
            for f in sorted((ROOT / folder).rglob("*.py")) if not (skip and skip in f.parts)
            for line, module in imported_modules(f)
            if any(module == b or module.startswith(b + ".") for b in banned)]


@pytest.mark.parametrize("folder", sorted(BANNED))
def test_no_package_imports_a_layer_above_it(folder):
    assert violations(folder, BANNED[folder]) == []


def test_the_scheduler_core_imports_neither_mlflow_nor_ray():
    assert violations("scheduler", CORE_BANNED, skip="federated") == []


def test_the_checker_sees_imports_inside_functions_and_relative_ones(tmp_path, monkeypatch):
    pkg = tmp_path / "forecast" / "models"
    pkg.mkdir(parents=True)
    (pkg / "bad.py").write_text("def f():\n    from carbonshift.scheduler import simulator\n"
                                "from ...experiments import runner\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert violations("forecast", BANNED["forecast"]) == [
        "forecast/models/bad.py:2 imports carbonshift.scheduler", "forecast/models/bad.py:3 imports carbonshift.experiments"]
