"""Which code produced a run, and machine paths shown relative to the project.

:func:`code_version` is the one definition: in a git checkout, the commit (12 hex digits), with
``-dirty`` appended when tracked files differ from it (untracked files do not count; one dirty tree is not
told apart from another — commit before runs whose numbers matter); outside a checkout,
``carbonshift <installed version>``; ``unknown`` when neither can be read. It never raises. The runner tags
every run with it, puts it in the summary and in the trial identity (:func:`experiments.runner.config_hash`),
so ``--resume`` never reuses a trial finished under another commit.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TAG = "carbonshift.code_version"


def _git(*args: str) -> str:
    out = subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, timeout=30, check=True)
    return out.stdout.decode("utf-8", "replace")


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"carbonshift {version('carbonshift')}"
    except PackageNotFoundError:
        return "unknown"


def code_version() -> str:
    """``<sha12>``, ``<sha12>-dirty``, ``carbonshift <version>`` or ``unknown`` (see module doc).
    Two git calls (a few ms): call it once per run or sweep and pass the value on."""
    if not (PROJECT_ROOT / ".git").exists():
        return _installed_version()
    try:
        sha = _git("rev-parse", "--short=12", "HEAD").strip()
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, subprocess.SubprocessError):
        return _installed_version()
    return f"{sha}-dirty" if dirty else sha


def project_relative(path: str | Path) -> str:
    """``path`` relative to the project root when it lies inside it; otherwise ``<outside the
    project>/<last component>`` (no machine paths in shared documents). A ``sqlite:///`` URI keeps its
    scheme; a relative path is returned as given."""
    text = str(path)
    scheme = "sqlite:///" if text.startswith("sqlite:///") else ""
    p = Path(text[len(scheme):])
    if not p.is_absolute():
        return text
    try:
        return scheme + str(p.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return scheme + f"<outside the project>/{p.name}"
