"""Open-Meteo weather-forecast client against a 127.0.0.1 server (bounded lifetime): values, known_by
provenance, alignment by issue time, and every failure a clear SourceError; then `data fetch` → backtest."""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from carbonshift.forecast.data import openmeteo_forecast as om
from carbonshift.forecast.live.transport import RateLimited, SourceError


def _value(var: str, t: pd.Timestamp, lag_days: int) -> float:
    """Deterministic fake forecast: depends on the hour and on how many days before it was served."""
    base = {"temperature_2m": 10.0, "relative_humidity_2m": 50.0, "cloud_cover": 40.0, "wind_speed_10m": 12.0,
            "shortwave_radiation": 100.0}[var]
    return round(base + (t.hour % 24) * 0.1 + 3 * np.sin(t.dayofyear) + lag_days, 3)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except BrokenPipeError:   # the client gave up first (timeout test)
            pass

    def do_GET(self) -> None:  # noqa: N802
        server = self.server
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        server.requests.append(q)
        mode = server.mode
        if mode == "500":
            return self._send(500, b"oops")
        if mode == "429":
            return self._send(429, b"{}", {"Retry-After": "7"})
        if mode == "slow":
            time.sleep(1.0)
        if mode == "malformed":
            return self._send(200, b"{not json")
        if mode == "array":
            return self._send(200, b"[]")
        if "start_date" in q:
            times = pd.date_range(q["start_date"], pd.Timestamp(q["end_date"]) + pd.Timedelta(hours=23), freq="h")
        else:
            times = pd.date_range("2024-03-20", periods=24 * int(q["forecast_days"]), freq="h")
        hourly = {"time": [t.strftime("%Y-%m-%dT%H:%M") for t in times]}
        for name in q["hourly"].split(","):
            var, _, lag = name.partition("_previous_day")
            hourly[name] = [_value(var, t, int(lag or 0)) for t in times]
        if mode == "uneven":
            hourly[name] = hourly[name][:-1]
        if mode == "string":
            hourly[name][3] = "12"
        doc = {"latitude": float(q["latitude"]), "longitude": float(q["longitude"]),
               "utc_offset_seconds": 3600 if mode == "offset" else 0, "hourly": hourly}
        self._send(200, json.dumps(doc).encode())


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.mode, srv.requests, srv.daemon_threads = "ok", [], True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def _client(srv, timeout_s: float = 2.0) -> om.OpenMeteoForecastClient:
    return om.OpenMeteoForecastClient(base_url=f"http://127.0.0.1:{srv.server_address[1]}", timeout_s=timeout_s)


def test_previous_runs_known_by_and_alignment(server):
    rows = _client(server).previous_runs(43.65, -79.38, "2024-03-01", "2024-04-15", (1, 2))
    assert len(server.requests) == 2 and all(q["timezone"] == "GMT" for q in server.requests)  # 31-day chunks
    assert "temperature_2m_previous_day2" in server.requests[0]["hourly"].split(",")
    assert set(rows["endpoint"]) == {"previous-runs"}
    lag = (rows["time"] - rows["known_by"]) / pd.Timedelta(hours=1)
    assert set(lag) == {24.0, 48.0}
    times = pd.date_range("2024-03-05", periods=48, freq="h", tz="UTC")
    day2 = om.align(rows, times, lead_h=48)   # horizons ≤ 48 h: only what was served ≥ 48 h before each hour
    day1 = om.align(rows, times, lead_h=24)
    assert np.allclose(day2["fc_temperature_c"], [_value("temperature_2m", t, 2) for t in times])
    assert np.allclose(day1["fc_temperature_c"], [_value("temperature_2m", t, 1) for t in times])
    served_day_before = rows[lag == 24.0]   # served 24 h before each hour: too late for a 48-h-ahead issue
    assert om.align(served_day_before, times, lead_h=48).isna().all().all()


def test_historical_forecast_is_never_a_known_future_input(server):
    rows = _client(server).historical_forecast(43.65, -79.38, "2024-03-01", "2024-03-03")
    assert (rows["known_by"] == rows["time"]).all()
    assert om.align(rows, rows["time"], lead_h=1).isna().all().all()


def test_live_forecast_known_by_is_the_fetch_hour_rounded_up(server, tmp_path):
    now = pd.Timestamp("2024-03-19 22:40:12", tz="UTC")
    rows = _client(server).forecast(43.65, -79.38, days=2, now=now)
    assert (rows["known_by"] == pd.Timestamp("2024-03-19 23:00", tz="UTC")).all() and len(rows) == 48
    path = om.save(rows, tmp_path, "CA-ON")
    again = om.save(rows, tmp_path, "CA-ON")     # re-fetch: replaced, not duplicated
    stored = om.read(again)
    assert path == again and len(stored) == 48
    pd.testing.assert_frame_equal(stored[["time", "known_by", "fc_temperature_c"]],
                                  rows[["time", "known_by", "fc_temperature_c"]], check_dtype=False)


@pytest.mark.parametrize("mode, error, match", [
    ("500", SourceError, "HTTP 500"),
    ("429", RateLimited, "retry after 7 s"),
    ("slow", SourceError, "timed out after 0.3 s"),
    ("malformed", SourceError, "malformed JSON body"),
    ("array", SourceError, "expected a JSON object, got list"),
    ("uneven", SourceError, "48 times but lengths"),
    ("offset", SourceError, "expected timezone GMT"),
    ("string", SourceError, r"hourly\.shortwave_radiation\[3\] is not a number"),
])
def test_failures_are_clear_source_errors(server, mode, error, match):
    server.mode = mode
    with pytest.raises(error, match=match):
        _client(server, timeout_s=0.3).forecast(43.65, -79.38, days=2)


def test_store_rejects_bad_rows(tmp_path, server):
    path = om.save(_client(server).historical_forecast(1.0, 2.0, "2024-03-01", "2024-03-01"), tmp_path, "X")
    from carbonshift.forecast.data.check import check_file
    assert check_file(path).kind == "openmeteo_forecast" and check_file(path).rows == 24
    frame = pd.read_csv(path)
    frame.loc[5, "fc_humidity_pct"] = 140.0
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"implausible 'fc_humidity_pct' .* at row 7"):
        check_file(path)
    with pytest.raises(ValueError, match="expected ZONE=LAT,LON"):
        om.parse_location("CA-ON=43.6")


@pytest.mark.slow
def test_fetch_cli_then_backtest_with_weather_forecasts(server, shared_data, tmp_path, monkeypatch, mlflow_uri):
    from carbonshift.experiments.cli import main
    from carbonshift.experiments.config import load
    from carbonshift.experiments.backtest_config import BacktestConfig
    from carbonshift.experiments.backtest_inputs import load_data
    from carbonshift.forecast.data.registry import REPO_ROOT
    from test_data_own_dir import _user_zone

    data_dir = tmp_path / "mydata"
    _user_zone(shared_data, data_dir, zone="CA-ON")
    monkeypatch.setenv("CARBONSHIFT_OPENMETEO_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    assert main(["data", "fetch", "--weather-forecast", "CA-ON=43.65,-79.38", "--start", "2024-01-01",
                 "--end", "2024-03-31", "--dest", str(data_dir)]) == 0
    cfg = load(REPO_ROOT / "experiments/configs/own_zone.yaml", BacktestConfig)
    cfg.backtest.weather_forecasts = True
    panel = load_data(cfg, str(data_dir))
    march = panel[panel["time"] < "2024-04-01"]
    assert march["fc_temperature_c"].notna().all() and panel["fc_temperature_c"].notna().sum() == len(march)
    t = march["time"].iloc[0]
    assert march["fc_temperature_c"].iloc[0] == _value("temperature_2m", t, 2)   # served 48 h before: day 2
    from carbonshift.experiments.kinds.backtest import run as run_kind
    from carbonshift.experiments.registry import Context
    res = run_kind(cfg, Context(data_dir=str(data_dir), out_dir=tmp_path / "reports", progress=False))
    assert "fc_temperature_c" in res.summary["weather_forecasts"] and "24.9% of hours covered" in res.summary[
        "weather_forecasts"]
    assert np.isfinite(res.metrics["mape.ci_direct.ensemble.CA-ON"])
    # train → predict keeps the weather forecasts (same alignment), never silently drops them
    assert main(["forecast", "train", str(REPO_ROOT / "experiments/configs/own_zone.yaml"), "--set",
                 "backtest.weather_forecasts=true", "--data-dir", str(data_dir), "--out", str(tmp_path / "m")]) == 0
    from carbonshift.forecast import artifact
    fitted = artifact.load(tmp_path / "m/forecaster/data/forecaster")
    assert all("fc_temperature_c" in block for block in fitted.members["gbm"].features["CA-ON"])
    out = tmp_path / "fc.csv"
    assert main(["forecast", "predict", str(tmp_path / "m/forecaster"), "--issue-time", "2024-03-20T23:00Z",
                 "--data-dir", str(data_dir), "--out", str(out)]) == 0
    issue = pd.Timestamp("2024-03-20 23:00", tz="UTC")
    assert out.read_text() == fitted.predict(panel, issue).to_csv(index=False)
    no_fc = fitted.predict(panel.drop(columns=[c for c in panel.columns if c.startswith("fc_")]), issue)
    assert not np.allclose(no_fc["mean"], pd.read_csv(out)["mean"])   # the covariates matter
    server.mode = "500"
    assert main(["data", "fetch", "--weather-forecast", "CA-ON=43.65,-79.38", "--start", "2024-01-01",
                 "--end", "2024-01-02", "--dest", str(data_dir)]) == 1


@pytest.mark.parametrize("zone", ["../..", "../../escaped", "/tmp/abs", "a/../../b", "x\\..\\y"])
def test_fetch_cli_refuses_a_zone_that_leaves_dest(server, tmp_path, monkeypatch, capsys, zone):
    from carbonshift.experiments.cli import main

    dest = tmp_path / "d" / "e"
    monkeypatch.setenv("CARBONSHIFT_OPENMETEO_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    code = main(["data", "fetch", "--weather-forecast", f"{zone}=43.65,-79.38", "--start", "2024-01-01",
                 "--end", "2024-01-02", "--dest", str(dest), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["failed"] == 1 and "refused" in doc["weather_forecasts"][0]["error"]
    assert server.requests == []  # refused before any request
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == []  # nothing written anywhere


def test_inside_keeps_paths_in_their_folder(tmp_path):
    from carbonshift.forecast.data.paths import inside

    assert inside(tmp_path, "openmeteo_forecast", "CA-ON.csv.gz") == tmp_path / "openmeteo_forecast" / "CA-ON.csv.gz"
    assert inside(tmp_path / "a" / ".." / "b", "x") == tmp_path / "b" / "x"  # the folder itself may be any path
    for bad in ("..", ".", "", "a/b", "/etc", "a\x00b", "c:\\x"):
        with pytest.raises(ValueError, match="refused"):
            inside(tmp_path, bad)


def test_a_config_zone_cannot_name_a_file_outside_the_data_folder(tmp_path):
    from carbonshift.forecast.data.registry import find

    (tmp_path / "data" / "electricitymaps").mkdir(parents=True)
    (tmp_path / "data" / "outside_2023_hourly.csv").write_text("x")
    with pytest.raises(ValueError, match="refused"):
        find("electricitymaps", "../outside_2023_hourly", (".csv",), tmp_path / "data")
