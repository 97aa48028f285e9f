"""Shared helpers to pull typed fields out of provider JSON, with errors naming source, endpoint and key."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from forecast.live.transport import SourceError


def field(doc: Any, key: str, source: str, where: str) -> Any:
    if not isinstance(doc, dict) or key not in doc:
        raise SourceError(source, where, f"malformed body: missing {key!r}")
    return doc[key]


def number(doc: Any, key: str, source: str, where: str, optional: bool = False) -> float:
    """A finite float (``NaN`` when ``optional`` and the value is absent/null)."""
    if optional and (not isinstance(doc, dict) or doc.get(key) is None):
        return math.nan
    value = field(doc, key, source, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SourceError(source, where, f"malformed body: {key!r} is not a finite number: {value!r}")
    return float(value)


def timestamp(doc: Any, key: str, source: str, where: str) -> pd.Timestamp:
    """An ISO-8601 timestamp as a tz-aware UTC ``pd.Timestamp`` (naive strings are taken as UTC)."""
    value = field(doc, key, source, where)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise SourceError(source, where, f"malformed body: {key!r} is not a timestamp: {value!r}") from None
    if ts is pd.NaT:
        raise SourceError(source, where, f"malformed body: {key!r} is empty")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def records(doc: Any, key: str, source: str, where: str) -> list[dict]:
    rows = field(doc, key, source, where)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise SourceError(source, where, f"malformed body: {key!r} is not a list of objects")
    return rows
