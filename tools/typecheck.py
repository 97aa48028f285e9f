"""Type-check the package as users import it: ``carbonshift.forecast``, ``carbonshift.scheduler``,
``carbonshift.experiments`` (``make typecheck``; CI runs it).

The sources live in the top-level ``forecast/``, ``scheduler/`` and ``experiments/`` folders and setuptools maps
them under ``carbonshift`` (pyproject.toml ``package-dir``). An editable install resolves that mapping through an
import hook that static tools do not follow, so this builds a shadow tree of symlinks,
``build/typecheck/carbonshift/{__init__.py, forecast, scheduler, experiments}``, runs ``mypy -p carbonshift`` on
it (configuration: ``[tool.mypy]`` in pyproject.toml) and rewrites the paths mypy prints back to the real files
(``build/typecheck/carbonshift/scheduler/x.py`` → ``scheduler/x.py``). Exit status: mypy's.
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHADOW = ROOT / "build" / "typecheck"
#: shadow path (relative to ROOT) → real path, as in pyproject.toml [tool.setuptools.package-dir]
LINKS = {"carbonshift/__init__.py": "carbonshift/__init__.py", "carbonshift/forecast": "forecast",
         "carbonshift/scheduler": "scheduler", "carbonshift/experiments": "experiments"}


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
