"""Shared helpers to pull typed fields out of provider JSON, with errors naming source, endpoint and key.

Parsing is strict: a number must be a JSON number that fits a finite float, a flag a JSON boolean (or
null/absent where optional), a timestamp an ISO-8601 string (``"now"`` or an epoch integer is rejected).
Offending values are quoted truncated to :data:`MAX_SHOWN` characters.
"""
from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from carbonshift.forecast.live.redact import redact
from carbonshift.forecast.live.transport import SourceError

MAX_SHOWN = 60
_ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?")


def shown(value: Any) -> str:
    """``repr(value)`` with registered secrets masked, then cut to :data:`MAX_SHOWN` characters (for error
    messages; masking first, so no prefix of a long secret is left)."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**40 else f"<{value.bit_length()}-bit int>"
    text = redact(text)
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}…"


def obj(doc: Any, source: str, where: str) -> dict:
    """``doc`` itself when it is a JSON object; a :class:`SourceError` for ``[]``, strings, numbers, null."""
    if not isinstance(doc, dict):
        raise SourceError(source, where, f"malformed body: expected a JSON object, got {type(doc).__name__}")
    return doc


def field(doc: Any, key: str, source: str, where: str) -> Any:
    if not isinstance(doc, dict) or key not in doc:
        raise SourceError(source, where, f"malformed body: missing {key!r}")
    return doc[key]


def number(doc: Any, key: str, source: str, where: str, optional: bool = False) -> float:
    """A finite float (``NaN`` when ``optional`` and the value is absent/null)."""
    if optional and (not isinstance(doc, dict) or doc.get(key) is None):
        return math.nan
    value = field(doc, key, source, where)
    try:
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(float(value))
    except OverflowError:  # an integer beyond the float range
        ok = False
    if not ok:
        raise SourceError(source, where, f"malformed body: {key!r} is not a finite number: {shown(value)}")
    return float(value)


def flag(doc: Any, key: str, source: str, where: str) -> bool:
    """A JSON boolean; absent or null is ``False``. The string ``"false"`` is an error, not ``True``."""
    value = doc.get(key) if isinstance(doc, dict) else None
    if value is None:
        return False
    if not isinstance(value, bool):
        raise SourceError(source, where, f"malformed body: {key!r} is not a boolean: {shown(value)}")
    return value


def timestamp(doc: Any, key: str, source: str, where: str) -> pd.Timestamp:
    """An ISO-8601 timestamp string as a tz-aware UTC ``pd.Timestamp`` (naive strings are taken as UTC)."""
    value = field(doc, key, source, where)
    if not isinstance(value, str) or not _ISO_8601.fullmatch(value):
        raise SourceError(source, where, f"malformed body: {key!r} is not an ISO-8601 timestamp: {shown(value)}")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise SourceError(source, where, f"malformed body: {key!r} is not a timestamp: {shown(value)}") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def records(doc: Any, key: str, source: str, where: str) -> list[dict]:
    rows = field(doc, key, source, where)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise SourceError(source, where, f"malformed body: {key!r} is not a list of objects")
    return rows
