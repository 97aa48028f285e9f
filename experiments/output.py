"""Output convention of every ``carbonshift`` command: a readable table by default, or with ``--json``
the same summary as one JSON document on stdout (logs go to stderr)."""
from __future__ import annotations

import json
import logging
import math
import sys
from typing import Any

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


def emit(summary: dict[str, Any], as_json: bool, tables: dict[str, pd.DataFrame] | None = None) -> None:
    """Print ``summary`` (+ ``tables``) as text, or everything as one JSON document; registered secrets
    (:mod:`carbonshift.forecast.live.redact`) are masked whatever the text came from."""
    tables = tables or {}
    if as_json:
        doc = {**summary, **{k: t.to_dict(orient="records") for k, t in tables.items()}}
        sys.stdout.write(redact(json.dumps(_clean(doc), indent=1, default=str)) + "\n")
        return
    lines = [f"{key}: {value}" for key, value in summary.items()]
    for name, table in tables.items():
        lines += [f"\n{name}" if name else "", table.to_string(index=False, float_format=lambda v: f"{v:,.2f}")]
    sys.stdout.write(redact("\n".join(lines)) + "\n")
