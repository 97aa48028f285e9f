"""Open-Meteo weather *forecasts* (not observations) for any zone: a client for the Forecast, Previous Runs and
Historical Forecast endpoints, a per-zone store in the data dir with provenance, and issue-time alignment.

Every stored value carries ``known_by`` (UTC): the time at which Open-Meteo's forecast API was serving it, so
a forecast issued at τ may use it only when ``known_by ≤ τ``:

* ``forecast`` (``api.open-meteo.com/v1/forecast``, the live forecast): ``known_by`` = the fetch time rounded
  *up* to the hour (the values existed when we fetched them; never earlier).
* ``previous-runs`` (``previous-runs-api.open-meteo.com``, variables ``<var>_previous_dayN``): Open-Meteo's
  definition of ``_previous_dayN`` for hour t is the forecast its API served N × 24 h before t (the run that
  was latest then), so ``known_by`` = t − 24·N h. One row per (hour, N). This is what a backtest needs.
* ``historical-forecast`` (``historical-forecast-api.open-meteo.com``): Open-Meteo stitches the *first hours*
  of each run into one series ("day 0": what the API served close to t), so ``known_by`` = t. Such a value
  is never usable as a known-future input for horizons ≥ 1 h (t > τ); it is stored for completeness
  (a near-analysis series) and the alignment below excludes it automatically.

Alignment (:func:`align`): the panel column ``fc_<var>`` at target hour t is the value with the latest
``known_by`` ≤ t − ``lead_h`` (ties: the later fetch). With ``lead_h`` = the backtest's largest horizon,
every issue τ that forecasts t has τ ≥ t − lead_h, so no value published after an issue time reaches that
issue's forecast (with daily issues and horizons ≤ 48 h this selects ``_previous_day2``; ≤ 24 h selects
``_previous_day1``). Hours with no such value stay NaN. ``carbonshift forecast predict`` applies the same rule as
training (train/serve consistency), so a value fetched live at τ from the ``forecast`` endpoint only serves hours
≥ τ + lead_h; to predict the next days, fetch ``previous-runs`` through them (their ``_previous_dayN`` values for
upcoming hours were served ≥ 24·N h earlier).

Store: ``<data dir>/openmeteo_forecast/<ZONE>.csv.gz``, one row per (time, known_by, endpoint): ``time,
known_by, endpoint, latitude, longitude, fetched_at`` (UTC) and the ``fc_*`` columns of :data:`VARIABLES`.
Requests always ask for ``timezone=GMT``; a response on another offset is an error.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from carbonshift.forecast.data.paths import inside
from carbonshift.forecast.data.validate import DataValidationError, parse_utc, require_columns
from carbonshift.forecast.live.parse import obj
from carbonshift.forecast.live.transport import SourceError, get_json

SOURCE = "open-meteo"
#: Open-Meteo hourly variable -> (panel column, lowest, highest plausible value)
VARIABLES: dict[str, tuple[str, float, float]] = {
    "temperature_2m": ("fc_temperature_c", -90.0, 60.0),            # °C
    "relative_humidity_2m": ("fc_humidity_pct", 0.0, 100.0),       # %
    "cloud_cover": ("fc_cloudcover_pct", 0.0, 100.0),              # %
    "wind_speed_10m": ("fc_windspeed_kmh", 0.0, 400.0),            # km/h
    "shortwave_radiation": ("fc_shortwave_wm2", 0.0, 1500.0),      # W/m², preceding-hour mean
}
ENDPOINTS: dict[str, str] = {
    "forecast": "https://api.open-meteo.com",
    "previous-runs": "https://previous-runs-api.open-meteo.com",
    "historical-forecast": "https://historical-forecast-api.open-meteo.com",
}
#: Longest date span of one request (days); longer ranges are split.
CHUNK_DAYS = 31
STORE_KEYS = ["time", "known_by", "endpoint"]
META_COLUMNS = ["time", "known_by", "endpoint", "latitude", "longitude", "fetched_at"]


class OpenMeteoForecastClient:
    """Typed access to the three endpoints. ``base_url`` (else ``$CARBONSHIFT_OPENMETEO_BASE_URL``) replaces
    every endpoint's host, so tests can point the client at 127.0.0.1; no API key is needed."""

    def __init__(self, base_url: str | None = None, timeout_s: float = 30.0,
                 variables: Iterable[str] = tuple(VARIABLES)) -> None:
        self.base_url = base_url or os.environ.get("CARBONSHIFT_OPENMETEO_BASE_URL")
        self.timeout_s = timeout_s
        self.variables = list(variables)
        unknown = [v for v in self.variables if v not in VARIABLES]
        if unknown or not self.variables:
            raise ValueError(f"Open-Meteo variables {unknown or self.variables}: expected some of {list(VARIABLES)}")

    def _get(self, endpoint: str, params: dict[str, str]) -> dict:
        base = self.base_url or ENDPOINTS[endpoint]
        query = {**params, "timezone": "GMT"}
        return obj(get_json(SOURCE, base, "/v1/forecast", query, timeout_s=self.timeout_s), SOURCE, endpoint)

    def forecast(self, latitude: float, longitude: float, days: int = 3,
                 now: pd.Timestamp | None = None) -> pd.DataFrame:
        """The live forecast for the next ``days`` (1–16) days; ``known_by`` = fetch time rounded up to the hour."""
        if not 1 <= days <= 16:
            raise ValueError(f"forecast days must be 1–16, got {days}")
        now = pd.Timestamp.now(tz="UTC") if now is None else now
        doc = self._get("forecast", {"latitude": f"{latitude:.4f}", "longitude": f"{longitude:.4f}",
                                     "hourly": ",".join(self.variables), "forecast_days": str(days)})
        frame = _hourly(doc, "forecast", {v: v for v in self.variables})
        return _finish(frame, now.ceil("h"), "forecast", latitude, longitude, now)

    def previous_runs(self, latitude: float, longitude: float, start: str, end: str,
                      previous_days: Iterable[int] = (1, 2), now: pd.Timestamp | None = None) -> pd.DataFrame:
        """``<var>_previous_dayN`` for hours of the UTC dates ``start``…``end``; ``known_by`` = t − 24·N h."""
        days = sorted(set(previous_days))
        if not days or days[0] < 1 or days[-1] > 7:
            raise ValueError(f"previous days must be within 1–7, got {days}")
        now = pd.Timestamp.now(tz="UTC") if now is None else now
        parts = []
        for a, b in _chunks(start, end):
            names = {f"{v}_previous_day{n}": v for n in days for v in self.variables}
            doc = self._get("previous-runs", {"latitude": f"{latitude:.4f}", "longitude": f"{longitude:.4f}",
                                              "hourly": ",".join(names), "start_date": a, "end_date": b})
            for n in days:
                frame = _hourly(doc, f"previous-runs {a}…{b}", {f"{v}_previous_day{n}": v for v in self.variables})
                parts.append(_finish(frame, frame["time"] - pd.Timedelta(hours=24 * n), "previous-runs",
                                     latitude, longitude, now))
        return pd.concat(parts, ignore_index=True)

    def historical_forecast(self, latitude: float, longitude: float, start: str, end: str,
                            now: pd.Timestamp | None = None) -> pd.DataFrame:
        """Open-Meteo's stitched first-hours series for the UTC dates ``start``…``end``; ``known_by`` = t."""
        now = pd.Timestamp.now(tz="UTC") if now is None else now
        parts = []
        for a, b in _chunks(start, end):
            doc = self._get("historical-forecast", {"latitude": f"{latitude:.4f}", "longitude": f"{longitude:.4f}",
                                                    "hourly": ",".join(self.variables), "start_date": a, "end_date": b})
            frame = _hourly(doc, f"historical-forecast {a}…{b}", {v: v for v in self.variables})
            parts.append(_finish(frame, frame["time"], "historical-forecast", latitude, longitude, now))
        return pd.concat(parts, ignore_index=True)


def _chunks(start: str, end: str) -> list[tuple[str, str]]:
    a, b = pd.Timestamp(start), pd.Timestamp(end)
    if b < a:
        raise ValueError(f"end date {end} is before start date {start}")
    starts = pd.date_range(a, b, freq=f"{CHUNK_DAYS}D")
    return [(s.strftime("%Y-%m-%d"), min(s + pd.Timedelta(days=CHUNK_DAYS - 1), b).strftime("%Y-%m-%d"))
            for s in starts]


def _hourly(doc: dict, where: str, names: dict[str, str]) -> pd.DataFrame:
    """``time`` (UTC) and one ``fc_*`` column per requested name (response key -> Open-Meteo variable)."""
    if doc.get("utc_offset_seconds") != 0:
        raise SourceError(SOURCE, where, f"expected timezone GMT (utc_offset_seconds 0), got "
                                         f"{doc.get('utc_offset_seconds')!r}")
    hourly = doc.get("hourly")
    if not isinstance(hourly, dict) or not isinstance(hourly.get("time"), list):
        raise SourceError(SOURCE, where, "malformed body: missing 'hourly.time' list")
    missing = [k for k in names if not isinstance(hourly.get(k), list)]
    if missing:
        raise SourceError(SOURCE, where, f"malformed body: missing hourly variable(s) {missing}")
    n = len(hourly["time"])
    uneven = {k: len(hourly[k]) for k in names if len(hourly[k]) != n}
    if uneven:
        raise SourceError(SOURCE, where, f"malformed body: {n} times but lengths {uneven}")
    times = pd.to_datetime(pd.Series(hourly["time"], dtype=object), format="%Y-%m-%dT%H:%M", errors="coerce")
    if times.isna().any():
        i = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise SourceError(SOURCE, where, f"malformed body: hourly.time[{i}] is not YYYY-MM-DDTHH:MM")
    frame = pd.DataFrame({"time": times.dt.tz_localize("UTC")})
    for key, var in names.items():
        col, lo, hi = VARIABLES[var]
        raw = pd.Series(hourly[key], dtype=object)
        is_num = raw.map(lambda x: x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)))
        if not is_num.all():
            i = int(np.flatnonzero(~is_num.to_numpy())[0])
            raise SourceError(SOURCE, where, f"malformed body: hourly.{key}[{i}] is not a number")
        v = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)   # null -> NaN (hour not covered)
        bad = np.isfinite(v) & ((v < lo) | (v > hi)) | np.isinf(v)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SourceError(SOURCE, where, f"implausible hourly.{key}[{i}] = {v[i]:g} (allowed {lo:g}..{hi:g})")
        frame[col] = v
    return frame


def _finish(frame: pd.DataFrame, known_by: pd.Series | pd.Timestamp, endpoint: str, latitude: float,
            longitude: float, now: pd.Timestamp) -> pd.DataFrame:
    frame.insert(1, "known_by", known_by)
    frame.insert(2, "endpoint", endpoint)
    frame.insert(3, "latitude", float(latitude))
    frame.insert(4, "longitude", float(longitude))
    frame.insert(5, "fetched_at", now.floor("s"))
    return frame.dropna(subset=[c for c in frame.columns if c.startswith("fc_")], how="all").reset_index(drop=True)


def store_path(data_dir: str | Path, zone: str) -> Path:
    """``<data_dir>/openmeteo_forecast/<zone>.csv.gz``; a zone that would leave that folder is a ``ValueError``."""
    return inside(data_dir, "openmeteo_forecast", f"{zone}.csv.gz")


def save(frame: pd.DataFrame, data_dir: str | Path, zone: str) -> Path:
    """Merge ``frame`` into the zone's store (a re-fetched (time, known_by, endpoint) row replaces the old one)."""
    path = store_path(data_dir, zone)
    old = read(path) if path.is_file() else None
    merged = frame if old is None else pd.concat([old, frame], ignore_index=True)
    merged = merged.drop_duplicates(STORE_KEYS, keep="last").sort_values(STORE_KEYS, ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = merged.copy()
    for col in ("time", "known_by", "fetched_at"):
        out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(path, index=False)
    return path


def read(path: str | Path) -> pd.DataFrame:
    """A zone's store, validated (UTC times on the hour, no duplicate keys, plausible values)."""
    source = str(path)
    try:
        raw = pd.read_csv(path, dtype={"endpoint": str})
    except (pd.errors.EmptyDataError, EOFError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataValidationError(source, f"cannot read as an Open-Meteo forecast store ({type(exc).__name__})") from exc
    require_columns(raw, META_COLUMNS, source)
    for col in ("time", "known_by", "fetched_at"):
        raw[col] = parse_utc(raw[col], source, col)
    off = (raw["time"] != raw["time"].dt.floor("h")).to_numpy()
    if off.any():
        raise DataValidationError(source, "time not at the start of an hour", [f"row {i + 2}" for i in np.flatnonzero(off)])
    bad_ep = ~raw["endpoint"].isin(list(ENDPOINTS))
    if bad_ep.any():
        raise DataValidationError(source, f"unknown endpoint (expected one of {list(ENDPOINTS)})",
                                  [f"row {i + 2}" for i in np.flatnonzero(bad_ep.to_numpy())])
    dup = raw.duplicated(STORE_KEYS).to_numpy()
    if dup.any():
        raise DataValidationError(source, "duplicate (time, known_by, endpoint)", [f"row {i + 2}" for i in np.flatnonzero(dup)])
    for col, lo, hi in VARIABLES.values():
        if col in raw.columns:
            v = pd.to_numeric(raw[col], errors="coerce").to_numpy(dtype=float)
            bad = (np.isnan(v) & raw[col].notna().to_numpy()) | (v < lo) | (v > hi)
            if bad.any():
                raise DataValidationError(source, f"non-numeric or implausible '{col}' (allowed {lo:g}..{hi:g})",
                                          [f"row {i + 2}" for i in np.flatnonzero(bad)])
    return raw


def align(store: pd.DataFrame, times: pd.Series | pd.DatetimeIndex, lead_h: int) -> pd.DataFrame:
    """``fc_*`` columns for each target hour of ``times``: the stored value with the latest ``known_by`` ≤
    t − ``lead_h`` h (ties: the later fetch); NaN where there is none. See the module docstring."""
    if lead_h < 1:
        raise ValueError(f"lead_h must be ≥ 1 h (a forecast must be known before the hours it covers), got {lead_h}")
    cols = [c for c in store.columns if c.startswith("fc_")]
    target = pd.DatetimeIndex(times)
    ok = store[store["known_by"] <= store["time"] - pd.Timedelta(hours=lead_h)]
    best = (ok.sort_values(["time", "known_by", "fetched_at"]).groupby("time").tail(1).set_index("time")[cols])
    return best.reindex(target).reset_index(drop=True)


def parse_location(text: str) -> tuple[str, float, float]:
    """``"CA-ON=43.65,-79.38"`` -> (zone, latitude °N, longitude °E); clear error on anything else."""
    zone, sep, coords = text.partition("=")
    try:
        lat, lon = (float(x) for x in coords.split(","))
    except ValueError:
        raise ValueError(f"--weather-forecast {text!r}: expected ZONE=LAT,LON, e.g. CA-ON=43.65,-79.38") from None
    if not sep or not zone.strip() or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"--weather-forecast {text!r}: expected ZONE=LAT,LON with −90 ≤ LAT ≤ 90, −180 ≤ LON ≤ 180")
    return zone.strip(), lat, lon


def fetch(client: OpenMeteoForecastClient, endpoint: str, latitude: float, longitude: float,
          start: str | None = None, end: str | None = None, forecast_days: int = 3,
          previous_days: Iterable[int] = (1, 2)) -> pd.DataFrame:
    """One endpoint's rows for a location (``start``/``end`` UTC dates for the archive endpoints)."""
    if endpoint == "forecast":
        return client.forecast(latitude, longitude, forecast_days)
    if start is None or end is None:
        raise ValueError(f"endpoint {endpoint!r} needs --start and --end (UTC dates)")
    if endpoint == "previous-runs":
        return client.previous_runs(latitude, longitude, start, end, previous_days)
    if endpoint == "historical-forecast":
        return client.historical_forecast(latitude, longitude, start, end)
    raise ValueError(f"unknown Open-Meteo endpoint {endpoint!r}; expected one of {list(ENDPOINTS)}")
