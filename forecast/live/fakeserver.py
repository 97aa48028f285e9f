"""A local stand-in for the Electricity Maps v3 and WattTime v3 APIs on 127.0.0.1, serving responses in
the providers' documented JSON shapes — and, per endpoint, failures: HTTP 500, a hang past the client's
timeout, 429 with ``Retry-After``, a malformed body, a stale timestamp, an impossible value, a jump — and
hostile responses: a body trickled slowly (``slow``), a body shorter than its Content-Length (``short``), a
redirect to ``redirect_to`` (``redirect``), non-object JSON (``nonobject``), an oversized body
(``oversized``), an integer too large for a float (``hugeint``), a garbage status line (``badstatus``),
``Retry-After: inf`` / ``1e300`` (``retryinf`` / ``retryhuge``), a login token with CR/LF (``badtoken``),
``"isEstimated": "false"`` (``estimatedstr``) and a timestamp ``"now"`` (``badtime``); responses that end
ambiguously or too late: a body without Content-Length or chunking (``nolength``; ``heldopen``: the same, the
connection held open for ``hang_s`` after valid JSON), a chunked body cut before its terminator
(``chunkcut``), endless chunked trailers (``trailers``), header lines dripped slowly (``headerdrip``), 90
headers of 60 kB (``bigheaders``); and a body that echoes the request's credential (``echo``: the
``auth-token`` in ``emissionFactorType``/``isEstimated``, the WattTime bearer token in ``units``).

Used by the tests (``tests/live``) and for demonstrating ``carbonshift monitor`` offline::

    python -m forecast.live.fakeserver --port 8765 --fail /v3/carbon-intensity/latest=error
"""
from __future__ import annotations

import argparse
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pandas as pd

BEHAVIOURS = ("ok", "error", "timeout", "ratelimit", "malformed", "stale", "impossible", "jump",
              "slow", "short", "redirect", "nonobject", "oversized", "hugeint", "badstatus", "retryinf",
              "retryhuge", "badtoken", "estimatedstr", "badtime", "nolength", "heldopen", "chunkcut", "trailers",
              "headerdrip", "bigheaders", "echo")
SLOW_BYTE_INTERVAL_S = 0.05  # ``slow``: one body byte every 50 ms (a 300-byte body takes 15 s)
OVERSIZED_BYTES = 20 * 2**20  # ``oversized``: 20 MiB of JSON whitespace, chunked (no Content-Length)
DRIP_INTERVAL_S = 0.02  # ``headerdrip`` / ``trailers``: one header or trailer line every 20 ms
EM_PATHS = ("/v3/carbon-intensity/latest", "/v3/carbon-intensity/history", "/v3/carbon-intensity/forecast",
            "/v3/power-breakdown/latest", "/v3/power-breakdown/history")
WT_PATHS = ("/login", "/v3/forecast", "/v3/signal-index", "/v3/historical")


class FakeProviders:
    """Both providers on one loopback server. ``behaviour[path]`` picks what each endpoint does;
    ``hits[path]`` counts requests. Credentials: EM key ``em_key``, WattTime ``wt_user``/``wt_password``."""

    def __init__(self, em_key: str = "test-em-key", wt_user: str = "user", wt_password: str = "pw",
                 ci_gkwh: float = 250.0, moer_lbs_mwh: float = 900.0, hang_s: float = 3.0,
                 retry_after_s: int = 120, port: int = 0, redirect_to: str = ""):
        self.em_key, self.wt_user, self.wt_password = em_key, wt_user, wt_password
        self.ci_gkwh, self.moer_lbs_mwh, self.hang_s, self.retry_after_s = ci_gkwh, moer_lbs_mwh, hang_s, retry_after_s
        self.behaviour: dict[str, str] = {p: "ok" for p in (*EM_PATHS, *WT_PATHS)}
        self.hits: dict[str, int] = {p: 0 for p in self.behaviour}
        self.headers_seen: list[dict[str, str]] = []  # request headers of every request, in order
        self.redirect_to = redirect_to  # ``redirect``: Location origin (default: this server)
        self._times: dict[str, int] = {}
        self.token = "wt-token-1"
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def set(self, path: str, behaviour: str, times: int | None = None) -> None:
        """Make ``path`` answer with ``behaviour`` (for the next ``times`` requests only, then ``ok``)."""
        if path not in self.behaviour or behaviour not in BEHAVIOURS:
            raise ValueError(f"fake server: unknown path {path!r} or behaviour {behaviour!r}")
        self.behaviour[path] = behaviour
        if times is None:
            self._times.pop(path, None)
        else:
            self._times[path] = times

    def _take(self, path: str) -> str:
        """The behaviour for this request of ``path`` (counting down a ``times`` limit)."""
        behaviour = self.behaviour[path]
        if path in self._times:
            self._times[path] -= 1
            if self._times[path] <= 0:
                del self._times[path]
                self.behaviour[path] = "ok"
        return behaviour

    def __enter__(self) -> FakeProviders:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- response bodies in the providers' formats ------------------------------------------------
    def _now(self, behaviour: str) -> pd.Timestamp:
        now = pd.Timestamp.now(tz="UTC")
        return now - pd.Timedelta(hours=30) if behaviour == "stale" else now

    def _ci(self, behaviour: str) -> float | int:
        return {"impossible": -40.0, "jump": self.ci_gkwh * 4, "hugeint": 10 ** 400}.get(behaviour, self.ci_gkwh)

    def _em_body(self, path: str, zone: str, behaviour: str) -> dict:
        hour = self._now(behaviour).floor("h")
        iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731
        stamp = (lambda t: "now") if behaviour == "badtime" else iso  # noqa: E731
        point = lambda t, v: {"zone": zone, "carbonIntensity": v, "datetime": stamp(t), "updatedAt": iso(hour),  # noqa: E731
                              "createdAt": iso(hour), "emissionFactorType": "lifecycle",
                              "isEstimated": "false" if behaviour == "estimatedstr" else False,
                              "estimationMethod": None}
        mix = lambda t: {"zone": zone, "datetime": iso(t), "updatedAt": iso(hour),  # noqa: E731
                         "powerConsumptionBreakdown": {"wind": 1200, "solar": 800, "gas": 2000, "nuclear": 1000},
                         "powerProductionBreakdown": {"wind": 1200, "solar": 800, "gas": 2000, "nuclear": 1000},
                         "fossilFreePercentage": 60 if behaviour != "impossible" else 160,
                         "renewablePercentage": 40, "powerConsumptionTotal": 5000, "powerProductionTotal": 5000,
                         "isEstimated": False, "estimationMethod": None}
        past = [hour - pd.Timedelta(hours=h) for h in range(23, -1, -1)]
        if path == "/v3/carbon-intensity/latest":
            return point(hour, self._ci(behaviour))
        if path == "/v3/carbon-intensity/history":
            return {"zone": zone, "history": [point(t, self._ci(behaviour) if behaviour == "hugeint" else
                                                      self.ci_gkwh + (t.hour % 6) * 10) for t in past]}
        if path == "/v3/carbon-intensity/forecast":
            future = [hour + pd.Timedelta(hours=h) for h in range(24)]
            return {"zone": zone, "forecast": [{"carbonIntensity": self.ci_gkwh + h, "datetime": iso(t)}
                                               for h, t in enumerate(future)], "updatedAt": iso(hour)}
        if path == "/v3/power-breakdown/latest":
            return mix(hour)
        return {"zone": zone, "history": [mix(t) for t in past]}

    def _wt_body(self, path: str, region: str, behaviour: str) -> dict:
        start = self._now(behaviour).floor("5min")
        iso = lambda t: t.isoformat()  # noqa: E731
        value = {"impossible": -5.0, "jump": self.moer_lbs_mwh * 4, "hugeint": 10 ** 400}.get(behaviour,
                                                                                              self.moer_lbs_mwh)
        meta = {"region": region, "signal_type": "co2_moer", "data_point_period_seconds": 300,
                "model": {"date": "2023-03-01"}, "warnings": [], "generated_at": iso(start)}
        if path == "/v3/signal-index":
            return {"data": [{"point_time": iso(start), "value": 37.0}], "meta": {**meta, "units": "percentile"}}
        if path == "/v3/forecast":
            times = [start + pd.Timedelta(minutes=5 * k) for k in range(24)]
        else:
            times = [start - pd.Timedelta(minutes=5 * k) for k in range(24, 0, -1)]
        stamp = (lambda t: "now") if behaviour == "badtime" else iso  # noqa: E731
        return {"data": [{"point_time": stamp(t), "value": value} for t in times],
                "meta": {**meta, "units": "lbs_co2_per_mwh"}}

    @staticmethod
    def _echo(doc: dict, path: str, headers: object) -> dict:
        """``echo``: put the request's credential where the client reads a value it quotes when malformed."""
        if path in EM_PATHS:
            key = headers.get("auth-token", "")  # type: ignore[attr-defined]
            point = doc["history"][0] if "history" in doc else doc
            if "forecast" in doc:
                point = doc["forecast"][0]
                point["carbonIntensity"] = key
            elif "carbonIntensity" in point:
                point["isEstimated" if path.endswith("latest") else "emissionFactorType"] = key
            else:
                point["renewablePercentage"] = key
        elif path == "/login":
            doc["token"] = headers.get("Authorization", "")  # type: ignore[attr-defined]
        else:
            doc["meta"]["units"] = headers.get("Authorization", "")  # type: ignore[attr-defined]
        return doc

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _trickle(self, body: bytes) -> None:
                """``slow``: correct headers, then the body one byte every SLOW_BYTE_INTERVAL_S."""
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(SLOW_BYTE_INTERVAL_S)

            def _unframed(self, body: bytes, behaviour: str) -> None:
                """A valid JSON ``body`` whose end the client cannot (yet) prove: see the module docstring."""
                self.send_response(200)
                chunked = behaviour in ("chunkcut", "trailers")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if not chunked:
                    self.wfile.write(body)
                    self.wfile.flush()
                    if behaviour == "heldopen":
                        time.sleep(fake.hang_s)
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
                if behaviour == "chunkcut":  # the last chunk and the blank line never come
                    self.close_connection = True
                    return
                self.wfile.write(b"0\r\n")
                until = time.monotonic() + fake.hang_s
                while time.monotonic() < until:
                    self.wfile.write(b"X-Trailer: 1\r\n")
                    self.wfile.flush()
                    time.sleep(DRIP_INTERVAL_S)

            def _hostile(self, path: str, behaviour: str) -> bool:
                """Answer a behaviour that needs no provider body; False when the normal body is wanted."""
                if behaviour == "error":
                    self._send(500, b'{"error": "internal server error"}')
                elif behaviour in ("ratelimit", "retryinf", "retryhuge"):
                    retry = {"retryinf": "inf", "retryhuge": "1e300"}.get(behaviour, str(fake.retry_after_s))
                    self._send(429, b'{"error": "too many requests"}', {"Retry-After": retry})
                elif behaviour == "malformed":
                    self._send(200, b'{"zone": "DE", "carbonInt')
                elif behaviour == "nonobject":
                    self._send(200, b"[]")
                elif behaviour == "redirect":
                    self._send(301, b"", {"Location": f"{fake.redirect_to or fake.url}{self.path}"})
                elif behaviour == "badstatus":
                    self.wfile.write(b"garbage\r\n\r\n")
                elif behaviour == "oversized":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b" " * 2**16
                    for _ in range(OVERSIZED_BYTES // len(chunk)):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                elif behaviour == "headerdrip":  # a valid status line, then a header line every 20 ms
                    self.send_response(200)
                    self.flush_headers()
                    until = time.monotonic() + fake.hang_s
                    while time.monotonic() < until:
                        self.wfile.write(b"X-Drip: 1\r\n")
                        self.wfile.flush()
                        time.sleep(DRIP_INTERVAL_S)
                elif behaviour == "bigheaders":
                    self.send_response(200)
                    for k in range(90):
                        self.send_header(f"X-Big-{k}", "x" * 60_000)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                else:
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                path = url.path
                fake.headers_seen.append(dict(self.headers.items()))
                if path not in fake.behaviour:
                    return self._send(404, b'{"error": "not found"}')
                fake.hits[path] += 1
                behaviour = fake._take(path)
                if path in EM_PATHS and self.headers.get("auth-token") != fake.em_key:
                    return self._send(401, b'{"error": "invalid auth-token"}')
                if path == "/login":
                    expected = base64.b64encode(f"{fake.wt_user}:{fake.wt_password}".encode()).decode()
                    if self.headers.get("Authorization") != f"Basic {expected}":
                        return self._send(403, b'{"error": "bad credentials"}')
                elif path in WT_PATHS and self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, b'{"error": "invalid token"}')
                if behaviour == "timeout":
                    time.sleep(fake.hang_s)
                try:
                    if self._hostile(path, behaviour):
                        return None
                    if path == "/login":
                        doc = {"token": fake.token + ("\r\nX-Injected: 1" if behaviour == "badtoken" else "")}
                    elif path in EM_PATHS:
                        doc = fake._em_body(path, query.get("zone", ""), behaviour)
                    else:
                        doc = fake._wt_body(path, query.get("region", ""), behaviour)
                    if behaviour == "echo":
                        doc = fake._echo(doc, path, self.headers)
                    body = json.dumps(doc).encode()
                    if behaviour in ("nolength", "heldopen", "chunkcut", "trailers"):
                        return self._unframed(body, behaviour)
                    if behaviour == "slow":
                        return self._trickle(body)
                    if behaviour == "short":  # announce the full length, send a tenth, close
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body[: len(body) // 10])
                        self.close_connection = True
                        return None
                    self._send(200, body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout, size cap)
                    pass
                return None

        return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--fail", action="append", default=[], metavar="PATH=BEHAVIOUR",
                        help=f"make an endpoint misbehave; behaviours: {', '.join(BEHAVIOURS)}")
    args = parser.parse_args(argv)
    fake = FakeProviders(port=args.port)
    for item in args.fail:
        path, _, behaviour = item.partition("=")
        fake.set(path, behaviour)
    with fake:
        print(f"fake providers on {fake.url} (EM key {fake.em_key!r}, WattTime {fake.wt_user}/{fake.wt_password})",
              flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
