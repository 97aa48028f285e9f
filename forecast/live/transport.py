"""Minimal JSON-over-HTTP GET with typed errors (stdlib ``urllib``; no extra dependency).

Errors never contain request headers, so API keys and tokens (always sent as headers) cannot leak into
logs or exception messages.
"""
from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class SourceError(RuntimeError):
    """A provider request failed: transport error, HTTP error status, timeout or a malformed body."""

    def __init__(self, source: str, where: str, problem: str):
        super().__init__(f"{source}: {where}: {problem}")
        self.source, self.where, self.problem = source, where, problem


class RateLimited(SourceError):
    """HTTP 429; ``retry_after_s`` is the provider's ``Retry-After`` in seconds (60 when absent/unparsable)."""

    def __init__(self, source: str, where: str, retry_after_s: float):
        super().__init__(source, where, f"rate limited (429), retry after {retry_after_s:g} s")
        self.retry_after_s = retry_after_s


class Unauthorized(SourceError):
    """HTTP 401/403 (bad or expired credentials)."""


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 60.0
    except ValueError:
        return 60.0


def get_json(source: str, base_url: str, path: str, params: dict[str, str] | None = None,
             headers: dict[str, str] | None = None, timeout_s: float = 10.0,
             basic_auth: tuple[str, str] | None = None) -> Any:
    """GET ``base_url + path`` with query ``params`` and return the decoded JSON document.

    Raises :class:`RateLimited` on 429, :class:`Unauthorized` on 401/403, :class:`SourceError` on any other
    non-2xx status, connection error, timeout (``timeout_s`` seconds, connect + read) or a body that is not JSON.
    """
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    url = f"{base_url.rstrip('/')}{path}{query}"
    where = f"GET {path}{query}"
    hdrs = {"Accept": "application/json", **(headers or {})}
    if basic_auth is not None:
        hdrs["Authorization"] = "Basic " + base64.b64encode(":".join(basic_auth).encode()).decode()
    request = urllib.request.Request(url, headers=hdrs, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 429:
            raise RateLimited(source, where, _retry_after(exc.headers.get("Retry-After"))) from None
        if exc.code in (401, 403):
            raise Unauthorized(source, where, f"HTTP {exc.code} (check credentials)") from None
        raise SourceError(source, where, f"HTTP {exc.code}") from None
    except (TimeoutError, socket.timeout):
        raise SourceError(source, where, f"timed out after {timeout_s:g} s") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise SourceError(source, where, f"timed out after {timeout_s:g} s") from None
        raise SourceError(source, where, f"connection failed: {reason}") from None
    except (ConnectionError, OSError) as exc:
        raise SourceError(source, where, f"connection failed: {exc.__class__.__name__}") from None
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SourceError(source, where, f"malformed JSON body ({len(body)} bytes)") from None
