"""Output convention of every ``carbonshift`` command: a readable table by default, or with ``--json``
the same summary as one JSON document on stdout (logs go to stderr)."""
from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import pandas as pd

from carbonshift.forecast.live.redact import RedactFilter, redact

log = logging.getLogger("carbonshift")


#: Third-party loggers that chat at INFO (GPU/TPU banners, tips); quiet unless ``--verbose``.
NOISY = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_forecasting", "cmdstanpy", "prophet",
         "ray", "mlflow", "alembic")


def setup_logging(verbose: bool = False) -> None:
    """carbonshift's own INFO messages go to stderr; other libraries only warn, unless ``verbose``."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in logging.getLogger().handlers:  # a configured credential never reaches a log line
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return _clean(value.item())
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


#: where :func:`emit` writes the JSON document (set by :func:`json_stdout`; None: ``sys.stdout``)
_DOCUMENT: IO[str] | None = None


@contextmanager
def json_stdout() -> Iterator[None]:
    """For ``--json``: only :func:`emit`'s document reaches stdout. Meanwhile ``sys.stdout`` is ``sys.stderr`` and
    file descriptor 1 points at stderr, so whatever else writes to stdout — a library's print, Ray's messages about
    a dead worker, a process started meanwhile that inherits the descriptor — lands on stderr. Both are restored
    afterwards."""
    global _DOCUMENT
    original = sys.stdout
    original.flush()
    try:
        on_fd1 = original.fileno() == 1
    except (AttributeError, OSError, ValueError):   # already redirected in-process (e.g. captured)
        on_fd1 = False
    saved = os.dup(1)
    os.dup2(2, 1)
    _DOCUMENT = os.fdopen(os.dup(saved), "w", encoding="utf-8") if on_fd1 else original
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        document, _DOCUMENT = _DOCUMENT, None
        sys.stdout = original
        try:
            sys.stderr.flush()
            if on_fd1:
                document.close()
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def emit(summary: dict[str, Any], as_json: bool, tables: dict[str, pd.DataFrame] | None = None) -> None:
    """Print ``summary`` (+ ``tables``) as text, or everything as one JSON document (on the real stdout under
    :func:`json_stdout`); registered secrets (:mod:`carbonshift.forecast.live.redact`) are masked whatever the
    text came from."""
    tables = tables or {}
    if as_json:
        out = _DOCUMENT or sys.stdout
        doc = {**summary, **{k: t.to_dict(orient="records") for k, t in tables.items()}}
        out.write(redact(json.dumps(_clean(doc), indent=1, default=str)) + "\n")
        out.flush()
        return
    lines = [f"{key}: {value}" for key, value in summary.items()]
    for name, table in tables.items():
        lines += [f"\n{name}" if name else "", table.to_string(index=False, float_format=lambda v: f"{v:,.2f}")]
    sys.stdout.write(redact("\n".join(lines)) + "\n")
