"""The one definition of which code is running (the base layer, so :mod:`forecast`, :mod:`scheduler` and
:mod:`experiments` can all use it; :mod:`experiments.provenance` re-exports it for runs and RESULTS).

:func:`code_version`: in a git checkout, the commit (12 hex digits), with ``-dirty`` appended when tracked
files differ from it (untracked files do not count; one dirty tree is not told apart from another — commit
before runs whose numbers matter); outside a checkout, ``carbonshift <installed version>``; ``unknown``
when neither can be read. It never raises. Each call runs two short git commands (a few ms): call it once
per run, sweep or saved artifact and pass the value on.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str:
    out = subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, timeout=30, check=True)
    return out.stdout.decode("utf-8", "replace").strip()


def git_state() -> tuple[str, bool] | None:
    """(full commit sha, whether tracked files have uncommitted changes) of the checkout this package runs
    from; ``None`` outside a git checkout or when git cannot be run."""
    if not (PROJECT_ROOT / ".git").exists():
        return None
    try:
        return _git("rev-parse", "HEAD"), bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None


def installed_version() -> str:
    """``carbonshift <version>`` of the installed package, or ``unknown``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"carbonshift {version('carbonshift')}"
    except PackageNotFoundError:
        return "unknown"


def describe(state: tuple[str, bool] | None) -> str:
    """The code version string of a :func:`git_state` result (see module doc)."""
    if state is None:
        return installed_version()
    sha, dirty = state
    return f"{sha[:12]}-dirty" if dirty else sha[:12]


def code_version() -> str:
    """``<sha12>``, ``<sha12>-dirty``, ``carbonshift <version>`` or ``unknown`` (see module doc)."""
    return describe(git_state())
