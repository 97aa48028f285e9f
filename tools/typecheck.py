"""Type-check the package as users import it: ``carbonshift.forecast``, ``carbonshift.scheduler``,
``carbonshift.experiments`` (``make typecheck``; CI runs it).

The sources live in the top-level ``forecast/``, ``scheduler/`` and ``experiments/`` folders and setuptools maps
them under ``carbonshift`` (pyproject.toml ``[tool.setuptools.package-dir]``). An editable install resolves that
mapping through an import hook that static tools do not follow, so this builds a shadow tree of symlinks read from
that same table, ``build/typecheck/carbonshift/{__init__.py, forecast, scheduler, experiments}``, runs
``mypy -p carbonshift`` on it (configuration: ``[tool.mypy]`` in pyproject.toml) and rewrites the paths mypy
prints back to the real files (``build/typecheck/carbonshift/scheduler/x.py`` → ``scheduler/x.py``). Exit status:
mypy's.
"""
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHADOW = ROOT / "build" / "typecheck"


def package_links(pyproject: Path) -> dict[str, str]:
    """Shadow path (relative to :data:`SHADOW`) → real path (relative to :data:`ROOT`) for every package in
    ``pyproject``'s ``[tool.setuptools.package-dir]``: a top-level package links its ``__init__.py`` (its shadow
    folder holds the links of its subpackages), a subpackage links its whole folder."""
    with pyproject.open("rb") as f:
        package_dir = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    init = {package: "" if "." in package else "/__init__.py" for package in package_dir}
    return {package.replace(".", "/") + init[package]: folder + init[package]
            for package, folder in package_dir.items()}


LINKS = package_links(ROOT / "pyproject.toml")


def build_shadow_tree() -> None:
    for shadow, real in LINKS.items():
        link = SHADOW / shadow
        link.parent.mkdir(parents=True, exist_ok=True)
        target = os.path.relpath(ROOT / real, link.parent)
        if link.is_symlink() and os.readlink(link) == target:
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)


def main(argv: list[str]) -> int:
    build_shadow_tree()
    env = {**os.environ, "MYPYPATH": str(SHADOW)}
    proc = subprocess.run([sys.executable, "-m", "mypy", "-p", "carbonshift", *argv], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    prefix = os.path.relpath(SHADOW, ROOT) + os.sep
    for line in proc.stdout.splitlines():
        if line.startswith(prefix):  # build/typecheck/carbonshift/<pkg>/… → the real file
            shadow_path, sep, rest = line[len(prefix):].partition(":")
            for shadow, real in LINKS.items():
                if shadow_path == shadow or shadow_path.startswith(shadow + "/"):
                    line = real + shadow_path[len(shadow):] + sep + rest
                    break
        print(line)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
