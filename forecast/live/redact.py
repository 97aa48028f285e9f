"""One process-wide set of secrets — every credential the live clients are configured with (validated by
:func:`carbonshift.forecast.live.transport.credential`: the Electricity Maps key, the WattTime password; the
WattTime username is an account name and stays readable), the HTTP basic-auth value built from them and
every token a provider hands out — and :func:`redact`, which masks them in any text.

The live package applies :func:`redact` to every text it raises (:class:`~.transport.SourceError`,
values quoted by :func:`~.parse.shown` *before* they are cut short, so no prefix survives), stores
(the store's ``attempts``), logs (:class:`RedactFilter` on its loggers and on the CLI's handlers) and
prints (:func:`carbonshift.experiments.output.emit`), so a provider that echoes a key back cannot put it
on screen, on disk or in a log. Values shorter than :data:`MIN_SECRET_CHARS` characters are not
registered (masking them would mangle ordinary words).
"""
from __future__ import annotations

import json
import logging
import threading

MASK = "<redacted>"
MIN_SECRET_CHARS = 4
_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: tuple[str, ...] = ()  # longest first, so a secret containing another is masked whole


def register(secret: str) -> None:
    """Mask ``secret`` (and its ``repr``/JSON-escaped spellings) in every later :func:`redact`."""
    global _ordered
    if len(secret) < MIN_SECRET_CHARS:
        return
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]}
    with _lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        _ordered = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by :data:`MASK`."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactFilter(logging.Filter):
    """Formats each record's message and masks the registered secrets in it (and in its traceback text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _ordered:
            record.msg, record.args = redact(record.getMessage()), ()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
        return True
