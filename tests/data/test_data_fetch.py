"""`carbonshift data fetch` against a real HTTP server on 127.0.0.1 that serves the shared files at their
upstream raw paths (``/<repo>/<commit>/<path>``, decompressed, as raw.githubusercontent.com does)."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from carbonshift.experiments.cli import main
from carbonshift.forecast.data.fetch import fetch
from carbonshift.forecast.data.registry import datasets

FOLDER = "alibaba_gpu_v2023"  # two small files keep the test fast


class CutShort(bytes):
    """A served body that the server announces in full but sends only half of."""


@pytest.fixture
def upstream(shared_data: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Serve raw upstream bytes; tests may tamper with ``served`` to simulate a corrupted mirror."""
    served = {f"/{d.repo}/{d.commit}/{d.upstream_path}": gzip.open(shared_data / d.file).read()
              for d in datasets() if d.folder == FOLDER}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = served.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"not found")))  # as raw.githubusercontent.com
            if isinstance(body, CutShort):  # announce the whole file, send half, close
                body = body[: len(body) // 2]
            self.end_headers()
            try:
                self.wfile.write(body or b"not found")
            except OSError:  # the client stopped reading (size cap)
                pass

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", served
    server.shutdown()


def test_fetch_downloads_verifies_and_resolves(tmp_path, upstream, monkeypatch, capsys):
    base, _ = upstream
    empty = tmp_path / "nodata"
    empty.mkdir()
    monkeypatch.setenv("CARBONSHIFT_UPSTREAM_URL", base)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("carbonshift.forecast.data.registry.REPO_ROOT", tmp_path / "nowhere" / "repo")
    assert main(["data", "fetch", "--folder", FOLDER, "--data-dir", str(empty)]) == 0
    assert "downloaded: 2" in capsys.readouterr().out
    for d in (d for d in datasets() if d.folder == FOLDER):
        got = tmp_path / "cache" / "carbonshift" / "data" / d.file
        assert hashlib.sha256(gzip.open(got).read()).hexdigest() == d.sha256
    # a second fetch finds them in the cache and downloads nothing
    outcomes = fetch(folders=[FOLDER], data_dir=empty)
    assert {o.status for o in outcomes} == {"present"}


def test_fetch_rejects_tampered_file(tmp_path, upstream, shared_data):
    base, served = upstream
    path = next(iter(served))
    served[path] = served[path].replace(b"openb-pod-0001", b"openb-pod-9999")
    outcomes = fetch(dest=tmp_path, folders=[FOLDER], force=True, base_url=base, data_dir=shared_data)
    status = {o.file: o for o in outcomes}
    bad = [o for o in status.values() if o.status == "failed"]
    assert len(bad) == 1 and "does not match the pinned" in bad[0].detail
    assert not (tmp_path / bad[0].file).exists()
    assert sum(o.status == "downloaded" for o in outcomes) == 1


def test_fetch_reports_unreachable_server(tmp_path, shared_data):
    outcomes = fetch(dest=tmp_path, folders=[FOLDER], force=True, base_url="http://127.0.0.1:9", data_dir=shared_data)
    assert all(o.status == "failed" and "download failed" in o.detail for o in outcomes)


def test_fetch_oversized_body_is_cut_off_and_not_written(tmp_path, upstream, shared_data):
    base, served = upstream
    path = next(iter(served))
    served[path] = served[path] + b"x" * (64 * 2**20)  # the file followed by 64 MiB of junk
    outcomes = fetch(dest=tmp_path, folders=[FOLDER], force=True, base_url=base, data_dir=shared_data)
    bad = [o for o in outcomes if o.status == "failed"]
    assert len(bad) == 1 and "byte cap" in bad[0].detail and "not written" in bad[0].detail
    assert not (tmp_path / bad[0].file).exists() and not list(tmp_path.rglob("*.part"))


def test_fetch_cut_short_body_is_a_clear_error_and_not_written(tmp_path, upstream, shared_data, monkeypatch,
                                                              capsys):
    base, served = upstream
    path = next(iter(served))
    served[path] = CutShort(served[path])
    outcomes = fetch(dest=tmp_path, folders=[FOLDER], force=True, base_url=base, data_dir=shared_data)
    bad = [o for o in outcomes if o.status == "failed"]
    assert len(bad) == 1 and "body cut short" in bad[0].detail and "not written" in bad[0].detail
    assert not (tmp_path / bad[0].file).exists()
    monkeypatch.setenv("CARBONSHIFT_UPSTREAM_URL", base)
    assert main(["data", "fetch", "--folder", FOLDER, "--force", "--dest", str(tmp_path / "cli"),
                 "--data-dir", str(shared_data)]) == 1
    assert "body cut short" in capsys.readouterr().out and not (tmp_path / "cli" / bad[0].file).exists()
