"""Download registry files from their pinned upstream commits and verify them by sha256.

The base URL defaults to ``https://raw.githubusercontent.com`` and can be pointed elsewhere (a mirror,
or a local server in tests) with ``$CARBONSHIFT_UPSTREAM_URL``. A file whose sha256 does not match is not
written. The expected size is known, so a response larger than it (plus at most
:data:`~carbonshift.forecast.live.transport.MAX_HEADER_BYTES` of headers) is cut off while reading (never read
whole), a body shorter than its Content-Length, or with neither a Content-Length nor chunked encoding, is an error, and each download has one deadline for the whole
request (``timeout_s`` plus one second per :data:`MIN_RATE_BYTES_S` bytes expected); in every failure case
nothing is written. Downloads are stored gzip-compressed (deterministic header) under the destination folder with
the same relative name as in the bundle, so the data layer resolves them like the shared copy.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from carbonshift.forecast.data.registry import Dataset, cache_dir, candidate_dirs, datasets
from carbonshift.forecast.live.transport import MAX_HEADER_BYTES, TransportError, http_get

DEFAULT_UPSTREAM = "https://raw.githubusercontent.com"
MIN_RATE_BYTES_S = 64 * 1024  # slowest transfer rate tolerated, bytes/s (sets the whole-request deadline)


class FetchError(RuntimeError):
    """A download failed or did not match its pinned sha256."""


@dataclass
class FetchOutcome:
    file: str
    status: str  # "present" | "downloaded" | "failed"
    detail: str = ""


def _download(url: str, expected_bytes: int, timeout_s: float) -> bytes:
    """The body of ``url``: at most ``expected_bytes`` bytes, within ``timeout_s`` + size/rate seconds."""
    deadline_s = timeout_s + expected_bytes / MIN_RATE_BYTES_S
    try:
        response = http_get(url, {"User-Agent": "carbonshift-data-fetch"}, deadline_s,
                            max_bytes=expected_bytes + MAX_HEADER_BYTES)  # the cap counts the headers too
    except TransportError as exc:
        raise FetchError(f"{url}: download failed ({exc.problem}; expected {expected_bytes} bytes); "
                         "not written") from None
    if response.status != 200:
        raise FetchError(f"{url}: download failed (HTTP {response.status}); not written")
    return response.body


def fetch_one(ds: Dataset, dest: Path, base_url: str, timeout_s: float = 60.0) -> Path:
    raw = _download(ds.raw_url(base_url), ds.bytes, timeout_s)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != ds.sha256:
        raise FetchError(f"{ds.raw_url(base_url)}: sha256 {digest[:12]}… does not match the pinned {ds.sha256[:12]}… "
                         f"({len(raw)} bytes, expected {ds.bytes}); not written")
    out = dest / ds.file
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".part")
    tmp.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    tmp.replace(out)
    return out


def fetch(dest: str | Path | None = None, folders: list[str] | None = None, force: bool = False,
          data_dir: str | Path | None = None, base_url: str | None = None) -> list[FetchOutcome]:
    """Fetch every registry file (of ``folders``, default all) not already resolvable; returns one outcome per file."""
    dest = Path(dest) if dest else cache_dir()
    base_url = base_url or os.environ.get("CARBONSHIFT_UPSTREAM_URL", DEFAULT_UPSTREAM)
    outcomes = []
    for ds in datasets():
        if folders and ds.folder not in folders:
            continue
        have = next((d / ds.file for d in [*candidate_dirs(data_dir), dest] if (d / ds.file).is_file()), None)
        if have is not None and not force:
            outcomes.append(FetchOutcome(ds.file, "present", str(have)))
            continue
        try:
            outcomes.append(FetchOutcome(ds.file, "downloaded", str(fetch_one(ds, dest, base_url))))
        except FetchError as exc:
            outcomes.append(FetchOutcome(ds.file, "failed", str(exc)))
    return outcomes
