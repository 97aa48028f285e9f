"""Minimal JSON-over-HTTP GET with typed errors (stdlib ``http.client``; no extra dependency).

Hostile-network rules, enforced here for every provider client:

* **Whole-request deadline**: ``timeout_s`` bounds name resolution + connect + headers + body together (the
  lookup runs in a helper thread that is abandoned at the deadline; a watchdog shuts the socket at the
  deadline), not each socket read — a body trickled byte by byte cannot stall a client.
* **Complete or cut**: a 2xx body is complete only when its ``Content-Length`` is reached or its chunked
  encoding ends with the terminating zero-size chunk and the blank line after the trailers. A response that
  has neither (a body delimited by the connection closing) is refused: a cut body could not be told from a
  whole one. Headers cut off (the connection ends before the blank line) are an error too. Anything the
  deadline cuts — status line, headers, body, trailers — is a timeout, never a shorter response.
* **Size cap**: every byte read for a response counts — status line, headers, chunk framing, trailers and
  body — against ``max_bytes`` (a declared ``Content-Length`` too large is refused before reading), and the
  header section alone against :data:`MAX_HEADER_BYTES`.
* **Redirects**: only same-origin redirects (scheme, host and port unchanged) are followed, at most
  :data:`MAX_REDIRECTS`; a redirect to another origin is a :class:`SourceError` and nothing (in particular
  no credential header) is sent there.
* **Every** transport or protocol failure (refused/reset connection, TLS error, garbage status line, a body
  shorter than its Content-Length, oversized or undecodable JSON, absurd ``Retry-After``) is a
  :class:`SourceError`, so callers can fail over.
* **Overall deadline**: inside :func:`deadline_within` every request also ends by that block's deadline (the
  monitor bounds all requests for one zone this way), whatever each request's own ``timeout_s``.
* Proxies: ``$http_proxy`` / ``$https_proxy`` / ``$no_proxy`` are honoured as by ``urllib`` (HTTPS through a
  CONNECT tunnel); the deadline and the cap apply all the same.
* Errors never contain request headers, so API keys and tokens (always sent as headers) cannot leak into
  logs or exception messages; header values are validated by :func:`credential` before any request, which
  registers them for redaction: a :class:`SourceError` masks them even when a provider echoes them back.
"""
from __future__ import annotations

import base64
import contextlib
import contextvars
import http.client
import json
import math
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from carbonshift.forecast.live.redact import redact, register

DEFAULT_MAX_BYTES = 8 * 2**20  # 8 MiB: provider JSON documents are a few hundred kB at most
MAX_HEADER_BYTES = 64 * 2**10  # status line + header section of one response (providers send < 2 kB)
MAX_REDIRECTS = 3
DEFAULT_RETRY_AFTER_S = 60.0
MAX_RETRY_AFTER_S = 24 * 3600.0  # a longer Retry-After is capped to one day
_CHUNK = 2**16


class SourceError(RuntimeError):
    """A provider request failed: transport error, HTTP error status, timeout or a malformed body."""

    def __init__(self, source: str, where: str, problem: str):
        where, problem = redact(where), redact(problem)  # a provider may echo a credential into a value
        super().__init__(f"{source}: {where}: {problem}")
        self.source, self.where, self.problem = source, where, problem


class RateLimited(SourceError):
    """HTTP 429; ``retry_after_s`` is the provider's ``Retry-After`` in seconds (60 when absent/unparsable or
    not finite, capped at :data:`MAX_RETRY_AFTER_S`)."""

    def __init__(self, source: str, where: str, retry_after_s: float):
        super().__init__(source, where, f"rate limited (429), retry after {retry_after_s:g} s")
        self.retry_after_s = retry_after_s


class Unauthorized(SourceError):
    """HTTP 401/403 (bad or expired credentials)."""


class TransportError(Exception):
    """A request failed below the provider level; ``problem`` is safe to show (no header values)."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True)
class Response:
    """A completed HTTP exchange: final ``status``, response ``headers`` and the whole ``body``."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes


def credential(value: str, name: str, header_value: bool = True, secret: bool = True) -> str:
    """``value`` with surrounding whitespace stripped; raises ``ValueError`` naming ``name`` (never the value)
    when what is left contains a control character or, for a value sent verbatim in a header
    (``header_value``), anything but visible ASCII — so it can neither break nor inject an HTTP header. A
    ``secret`` value (all but an account name) is registered for redaction
    (:mod:`carbonshift.forecast.live.redact`)."""
    value = value.strip()
    bad = (lambda ch: not 0x21 <= ord(ch) <= 0x7E) if header_value else (lambda ch: ord(ch) < 0x20 or ord(ch) == 0x7F)
    if any(bad(ch) for ch in value):
        kind = "whitespace, control or non-ASCII characters" if header_value else "control characters"
        raise ValueError(f"{name}: contains {kind} (value not shown)")
    if secret:
        register(value)
    return value


def _retry_after(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER_S
    except ValueError:
        return DEFAULT_RETRY_AFTER_S
    if not math.isfinite(seconds):
        return DEFAULT_RETRY_AFTER_S
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


_overall: contextvars.ContextVar[tuple[float, str] | None] = contextvars.ContextVar("overall_deadline", default=None)


@contextlib.contextmanager
def deadline_within(seconds: float, label: str) -> Iterator[None]:
    """Every :func:`http_get` in this block (and this thread or task) ends within ``seconds`` from now in all —
    and within its own ``timeout_s``; an enclosing block's earlier deadline still holds. ``label`` names the
    budget in the timeout error (e.g. ``"3 s per zone (--timeout)"``)."""
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"deadline_within: expected a positive finite number of seconds, got {seconds!r}")
    outer = _overall.get()
    mine = (time.monotonic() + seconds, label)
    token = _overall.set(mine if outer is None or mine[0] < outer[0] else outer)
    try:
        yield
    finally:
        _overall.reset(token)


def _origin(url: str) -> tuple[str, str, int]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise TransportError("invalid port in URL") from None
    return scheme, (parts.hostname or "").lower(), port


def _resolve(host: str, port: int, deadline: float) -> list[tuple]:
    """``socket.getaddrinfo`` for a TCP connection, abandoned (``TimeoutError``) at ``deadline``."""
    out: list = []

    def lookup() -> None:
        try:
            out.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            out.append(exc)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if not out:
        raise TimeoutError
    if isinstance(out[0], OSError):
        raise out[0]
    return out[0]


def _connector(deadline: float) -> Any:
    """A drop-in for ``socket.create_connection`` whose name lookup is bounded by ``deadline``."""
    def create_connection(address: tuple[str, int], timeout: float, source_address: Any = None) -> socket.socket:
        error: OSError = OSError("no address")
        for family, kind, proto, _, sockaddr in _resolve(address[0], address[1], deadline):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error

    return create_connection


def _shutdown(sock: socket.socket, fired: threading.Event) -> None:
    """Watchdog: the deadline passed — unblock any pending call on ``sock``."""
    fired.set()
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # plain shutdown, also under TLS
    except OSError:
        pass


class _Meter:
    """The response's socket file, counting every byte read: more than ``limit`` is a
    :class:`TransportError`; ``eof`` records that a read found the connection closed."""

    def __init__(self, fp: Any, limit: int, what: str):
        self.fp, self.limit, self.what, self.count, self.eof = fp, limit, what, 0, False

    def _counted(self, n: int, asked: int | None) -> None:
        self.count += n
        if n == 0 and asked != 0:
            self.eof = True
        if self.count > self.limit:
            raise TransportError(f"{self.what} exceeds the {self.limit}-byte cap")

    def read(self, n: int | None = -1) -> bytes:
        data = self.fp.read(n)
        self._counted(len(data), n)
        return data

    def read1(self, n: int = -1) -> bytes:
        data = self.fp.read1(n)
        self._counted(len(data), n)
        return data

    def readline(self, limit: int = -1) -> bytes:
        data = self.fp.readline(limit)
        self._counted(len(data), limit)
        return data

    def readinto(self, buffer: Any) -> int:
        n = self.fp.readinto(buffer)
        self._counted(n, len(buffer))
        return n

    def __getattr__(self, name: str) -> Any:  # close, flush, fileno, …
        return getattr(self.fp, name)


#: http.client's line limit (private, so not in its type stubs)
_MAXLINE: int = getattr(http.client, "_MAXLINE", 65536)


def _response_class(max_bytes: int) -> type[http.client.HTTPResponse]:
    """An ``HTTPResponse`` reading through a :class:`_Meter` (headers: at most :data:`MAX_HEADER_BYTES` and
    ``max_bytes``; the whole response: ``max_bytes``) that refuses chunked trailers cut off before their
    terminating blank line (``http.client`` accepts that as a complete body)."""

    class CappedResponse(http.client.HTTPResponse):
        def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any):
            super().__init__(sock, *args, **kwargs)
            self.meter = _Meter(self.fp, min(MAX_HEADER_BYTES, max_bytes), "response header section")
            # http.client reads fp duck-typed; its stub says BufferedReader
            self.fp = self.meter  # type: ignore[assignment]

        def begin(self) -> None:
            super().begin()
            if self.meter.eof:  # parse_headers takes EOF for the blank line that ends the headers
                raise TransportError("response headers cut short (connection closed before their end)")
            self.meter.limit, self.meter.what = max_bytes, "response (headers and body)"

        def _read_and_discard_trailer(self) -> None:
            while True:
                line = self.fp.readline(_MAXLINE + 1)
                if len(line) > _MAXLINE:
                    raise http.client.LineTooLong("trailer line")
                if not line:
                    raise TransportError("body cut short: chunked body ended before its terminating blank line")
                if line in (b"\r\n", b"\n"):
                    return

    return CappedResponse


def _read_body(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    """The whole body of a 2xx ``response``: complete only by its Content-Length or chunked terminator."""
    meter: _Meter = response.meter  # type: ignore[attr-defined]
    expected = response.length  # http.client: the Content-Length, 0 for bodiless statuses, None otherwise
    if not response.chunked and expected is None:
        raise TransportError("response has neither Content-Length nor chunked encoding (a body cut short could "
                             "not be told from a complete one)")
    if expected is not None and meter.count + expected > max_bytes:
        raise TransportError(f"body of {expected} bytes (after {meter.count} header bytes) exceeds the "
                             f"{max_bytes}-byte cap")
    chunks, size = [], 0
    try:
        while True:
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            chunks.append(chunk)
    except http.client.IncompleteRead:
        raise TransportError("body cut short: chunked body ended before its last chunk") from None
    if expected is not None and size < expected:
        raise TransportError(f"body cut short: {size} of {expected} bytes")
    return b"".join(chunks)


def _connection(url: str, scheme: str, host: str, port: int, timeout_s: float, headers: dict[str, str]
                ) -> tuple[http.client.HTTPConnection, str, dict[str, str]]:
    """(connection, request target, request headers) for ``url``: direct, or through the environment's proxy
    for ``scheme`` unless ``no_proxy`` bypasses ``host`` (plain HTTP: absolute target to the proxy; HTTPS:
    CONNECT tunnel, then TLS with the target)."""
    parts = urllib.parse.urlsplit(url)
    path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    https = scheme == "https"
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
        return cls(host, port, timeout=timeout_s), path, headers
    via = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    auth = {}
    if via.username:
        pair = f"{urllib.parse.unquote(via.username)}:{urllib.parse.unquote(via.password or '')}"
        auth = {"Proxy-Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    conn: http.client.HTTPConnection
    if https:
        conn = http.client.HTTPSConnection(via.hostname or "", via.port or 80, timeout=timeout_s)
        conn.set_tunnel(host, port, headers=auth)
        return conn, path, headers
    conn = http.client.HTTPConnection(via.hostname or "", via.port or 80, timeout=timeout_s)
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return conn, f"http://{netloc}{path}", {**headers, **auth}


def _exchange(url: str, headers: dict[str, str], deadline: float, max_bytes: int) -> Response:
    scheme, host, port = _origin(url)
    if scheme not in ("http", "https") or not host:
        raise TransportError(f"unsupported URL scheme or host ({scheme or 'none'}://{host})")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    conn, target, headers = _connection(url, scheme, host, port, remaining, headers)
    fired = threading.Event()
    watchdog: threading.Timer | None = None
    # http.client's (private, unstubbed) connect hook: bounded name lookup
    conn._create_connection = _connector(deadline)  # type: ignore[attr-defined]
    conn.response_class = _response_class(max_bytes)
    try:
        conn.connect()  # bounded by the socket timeout (= the time left)
        watchdog = threading.Timer(deadline - time.monotonic(), _shutdown, (conn.sock, fired))
        watchdog.daemon = True
        watchdog.start()
        conn.request("GET", target, headers=headers)
        response = conn.getresponse()
        body = _read_body(response, max_bytes) if 200 <= response.status < 300 else b""
        return Response(response.status, response.headers, body)
    except (OSError, http.client.HTTPException, TransportError):
        if fired.is_set() or time.monotonic() >= deadline:
            raise TimeoutError from None
        raise
    finally:
        if watchdog is not None:
            watchdog.cancel()
        conn.close()


def http_get(url: str, headers: dict[str, str] | None = None, timeout_s: float = 10.0,
             max_bytes: int = DEFAULT_MAX_BYTES) -> Response:
    """GET ``url`` within ``timeout_s`` seconds in all (connect, redirects, headers and body) and at most
    ``max_bytes`` read per response (headers included), following same-origin redirects only. Raises
    :class:`TransportError` (message free of header values) on any failure, including a 2xx body that is not
    provably complete; a non-2xx status is returned (its body not read, ``b""``), not raised."""
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"timeout_s must be a positive finite number of seconds, got {timeout_s!r}")
    deadline = time.monotonic() + timeout_s
    cut = f"timed out after {timeout_s:g} s (whole request)"
    overall = _overall.get()
    if overall is not None and overall[0] < deadline:
        deadline, cut = overall[0], f"timed out: the overall deadline ({overall[1]}) passed"
    origin = _origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        try:
            response = _exchange(url, headers or {}, deadline, max_bytes)
        except TimeoutError:
            raise TransportError(cut) from None
        except http.client.HTTPException as exc:
            raise TransportError(f"malformed HTTP response ({exc.__class__.__name__})") from None
        except OSError as exc:
            raise TransportError(f"connection failed: {exc.__class__.__name__}") from None
        except ValueError:  # http.client's message would quote the offending header value
            raise TransportError("invalid request header value (not shown)") from None
        if response.status not in (301, 302, 303, 307, 308):
            return response
        target = urllib.parse.urljoin(url, response.headers.get("Location", ""))
        if _origin(target) != origin:
            scheme, host, port = _origin(target)
            raise TransportError(f"HTTP {response.status} redirect to another origin ({scheme}://{host}:{port}) "
                                 "not followed (credentials are never sent across origins)")
        url = target
    raise TransportError(f"more than {MAX_REDIRECTS} redirects")


def get_json(source: str, base_url: str, path: str, params: dict[str, str] | None = None,
             headers: dict[str, str] | None = None, timeout_s: float = 10.0,
             basic_auth: tuple[str, str] | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """GET ``base_url + path`` with query ``params`` and return the decoded JSON document.

    Raises :class:`RateLimited` on 429, :class:`Unauthorized` on 401/403, :class:`SourceError` on any other
    non-2xx status, connection or protocol error, a whole request longer than ``timeout_s`` seconds, a body
    over ``max_bytes`` bytes or cut short, a cross-origin redirect, or a body that is not JSON.
    """
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    url = f"{base_url.rstrip('/')}{path}{query}"
    where = f"GET {path}{query}"
    hdrs = {"Accept": "application/json", **(headers or {})}
    if basic_auth is not None:
        hdrs["Authorization"] = "Basic " + base64.b64encode(":".join(basic_auth).encode()).decode()
        register(hdrs["Authorization"][len("Basic "):])
    try:
        response = http_get(url, hdrs, timeout_s, max_bytes)
    except TransportError as exc:
        raise SourceError(source, where, exc.problem) from None
    if response.status == 429:
        raise RateLimited(source, where, _retry_after(response.headers.get("Retry-After")))
    if response.status in (401, 403):
        raise Unauthorized(source, where, f"HTTP {response.status} (check credentials)")
    if not 200 <= response.status < 300:
        raise SourceError(source, where, f"HTTP {response.status}")
    try:
        return json.loads(response.body)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, int digit limit, deep nesting
        raise SourceError(source, where, f"malformed JSON body ({len(response.body)} bytes)") from None
