"""Which code produced a run (:func:`code_version`, defined once in :mod:`forecast.version`), and machine
paths shown relative to the project.

The runner tags every run with the code version, puts it in the summary and in the trial identity
(:func:`experiments.run_tags.config_hash`), so ``--resume`` never reuses a trial finished under another commit;
RESULTS.md lists the versions it renders.
"""
from __future__ import annotations

from pathlib import Path

from carbonshift.forecast.version import PROJECT_ROOT, code_version

TAG = "carbonshift.code_version"

__all__ = ["TAG", "code_version", "project_relative"]


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
