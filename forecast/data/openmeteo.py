"""Reader for Open-Meteo historical-weather JSON (observed, reanalysis) into ``obs_*`` covariates.

Alignment: ``hourly.time`` is a continuous hourly grid in local wall-clock time on one fixed offset,
and the file reports a single ``utc_offset_seconds``. We convert with exactly that fixed offset
(UTC = local − offset). In zones with daylight-saving time the offset Open-Meteo actually applied is not
documented upstream, so alignment with the UTC carbon series is approximate (±1 h) there. Offsets that
are not whole hours (IN-WE, +05:30) put values at :30 UTC; they are floored to the UTC hour start. The first/last
hours of a year that shift outside the year are kept; the panel joins on UTC time.
These are observations, not forecasts: using them as known-future inputs is the "oracle weather" setting.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd

from carbonshift.forecast.data.validate import DataValidationError, check_hourly_index, require_rows

_FIELDS = {
    "temperature_2m": ("obs_temperature_c", -90.0, 60.0),
    "relative_humidity_2m": ("obs_humidity_pct", 0.0, 100.0),
    "cloudcover": ("obs_cloudcover_pct", 0.0, 100.0),
    "windspeed_10m": ("obs_windspeed_kmh", 0.0, 400.0),
}


def read_openmeteo(path: str | Path, region: str) -> pd.DataFrame:
    """Return ``region, time (UTC), obs_*`` rows from one Open-Meteo JSON(.gz) file."""
    source = str(path)
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataValidationError(source, f"cannot read as Open-Meteo JSON ({type(exc).__name__}: {exc})") from exc
    hourly = doc.get("hourly")
    if not isinstance(hourly, dict) or "time" not in hourly or "utc_offset_seconds" not in doc:
        raise DataValidationError(source, "not an Open-Meteo hourly document (need 'hourly.time' and 'utc_offset_seconds')")
    missing = [k for k in _FIELDS if k not in hourly]
    if missing:
        raise DataValidationError(source, f"missing hourly variable(s) {missing}")
    lengths = {k: len(hourly[k]) for k in ["time", *_FIELDS]}
    if len(set(lengths.values())) != 1:
        raise DataValidationError(source, f"hourly arrays of unequal length {lengths} (truncated file?)")
    local = pd.to_datetime(pd.Series(hourly["time"]), errors="coerce", format="%Y-%m-%dT%H:%M")
    if local.isna().any():
        i = int(np.flatnonzero(local.isna())[0])
        raise DataValidationError(source, "unparseable local timestamp", [f"hourly.time[{i}] = {hourly['time'][i]!r}"])
    times = (local - pd.Timedelta(seconds=int(doc["utc_offset_seconds"]))).dt.floor("h").dt.tz_localize("UTC")
    frame = pd.DataFrame({"region": region, "time": times})
    require_rows(frame, source, minimum=24)
    for key, (col, lo, hi) in _FIELDS.items():
        v = pd.to_numeric(pd.Series(hourly[key], dtype=object), errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(v) | (v < lo) | (v > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataValidationError(source, f"missing or out-of-range {key} (allowed {lo:g}..{hi:g})",
                                      [f"hourly.{key}[{i}] ({times.iloc[i]}) = {hourly[key][i]!r}"])
        frame[col] = v
    check_hourly_index(frame["time"], source)
    return frame
