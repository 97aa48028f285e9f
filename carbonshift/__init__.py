"""carbonshift: forecast grid carbon intensity and schedule AI training jobs across regions to cut carbon.

The importable names are ``carbonshift.forecast``, ``carbonshift.scheduler`` and ``carbonshift.experiments``.
Their sources live in the project's top-level ``forecast/``, ``scheduler/`` and ``experiments/`` folders, which
setuptools maps under this package (``[tool.setuptools] package-dir`` in pyproject.toml), so a user's own
``scheduler.py`` or an unrelated ``forecast`` distribution never shadows them.

A plain source checkout that was not pip-installed (a Ray cluster worker that received the project as its
``working_dir``) has no such mapping; there the three folders are found beside this one.
"""
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent
if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "scheduler" / "__init__.py").is_file():
    __path__.append(str(_CHECKOUT))  # source checkout: ../forecast etc.
