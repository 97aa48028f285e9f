"""Electricity Maps API v3 client: carbon intensity (latest / history / forecast) and power breakdown
(latest / history) per zone.

Endpoints (documented v3 shapes): ``GET /v3/carbon-intensity/{latest,history,forecast}?zone=Z`` and
``GET /v3/power-breakdown/{latest,history}?zone=Z`` with the key in the ``auth-token`` header. ``latest``
returns one object ``{zone, carbonIntensity, datetime, updatedAt, emissionFactorType, isEstimated, …}``;
``history`` returns ``{zone, history: [ … ]}`` (last 24 h, hourly); ``forecast`` returns
``{zone, forecast: [{carbonIntensity, datetime}], updatedAt}``. Power-breakdown objects carry
``renewablePercentage`` and ``fossilFreePercentage`` (%, 0–100). Carbon intensity is gCO2eq/kWh; the
``emissionFactorType`` (``lifecycle`` by default, or ``direct``) says which panel column it belongs to.

Configuration: key from ``$ELECTRICITYMAPS_API_KEY`` (surrounding whitespace such as a trailing newline is
stripped; any other whitespace or control character is a ``ValueError`` that does not show the key); base URL from ``$ELECTRICITYMAPS_BASE_URL``
(default ``https://api.electricitymap.org``) so tests can point it at 127.0.0.1.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from carbonshift.forecast.live.transport import SourceError, credential, get_json
from carbonshift.forecast.live.parse import flag, number, obj, records, shown, timestamp

SOURCE = "electricitymaps"
DEFAULT_BASE_URL = "https://api.electricitymap.org"
FACTOR_TYPES = ("lifecycle", "direct")


@dataclass(frozen=True)
class IntensityPoint:
    """One carbon-intensity value: ``ci_gkwh`` in gCO2eq/kWh for the period starting at ``time`` (UTC)."""

    zone: str
    time: pd.Timestamp
    ci_gkwh: float
    factor_type: str  # "lifecycle" or "direct"
    estimated: bool


class ElectricityMapsClient:
    """Typed access to the Electricity Maps v3 API. ``api_key``/``base_url`` default to the environment."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, timeout_s: float = 10.0):
        self._key = credential(api_key if api_key is not None else os.environ.get("ELECTRICITYMAPS_API_KEY", ""),
                               "ELECTRICITYMAPS_API_KEY")
        self.base_url = base_url or os.environ.get("ELECTRICITYMAPS_BASE_URL", DEFAULT_BASE_URL)
        self.timeout_s = timeout_s

    def __repr__(self) -> str:  # never show the key
        return f"ElectricityMapsClient(base_url={self.base_url!r}, key={'set' if self._key else 'unset'})"

    def _get(self, path: str, zone: str) -> dict:
        headers = {"auth-token": self._key} if self._key else {}
        return obj(get_json(SOURCE, self.base_url, path, {"zone": zone}, headers, self.timeout_s), SOURCE, path)

    @staticmethod
    def _point(doc: dict, zone: str, where: str) -> IntensityPoint:
        factor = doc.get("emissionFactorType") or "lifecycle"
        if factor not in FACTOR_TYPES:
            raise SourceError(SOURCE, where, f"malformed body: 'emissionFactorType' is {shown(factor)} "
                                             f"(expected one of {list(FACTOR_TYPES)})")
        return IntensityPoint(zone=zone, time=timestamp(doc, "datetime", SOURCE, where),
                              ci_gkwh=number(doc, "carbonIntensity", SOURCE, where),
                              factor_type=factor, estimated=flag(doc, "isEstimated", SOURCE, where))

    def latest(self, zone: str) -> IntensityPoint:
        where = "/v3/carbon-intensity/latest"
        return self._point(self._get(where, zone), zone, where)

    def history(self, zone: str) -> pd.DataFrame:
        """Last 24 h: DataFrame(time [UTC], ci_gkwh, factor_type, estimated)."""
        where = "/v3/carbon-intensity/history"
        rows = records(self._get(where, zone), "history", SOURCE, where)
        return pd.DataFrame([vars(self._point(r, zone, where)) for r in rows],
                            columns=["zone", "time", "ci_gkwh", "factor_type", "estimated"])

    def forecast(self, zone: str) -> pd.DataFrame:
        """Provider's point forecast: DataFrame(time [UTC], ci_gkwh) in gCO2eq/kWh."""
        where = "/v3/carbon-intensity/forecast"
        rows = records(self._get(where, zone), "forecast", SOURCE, where)
        return pd.DataFrame({"time": [timestamp(r, "datetime", SOURCE, where) for r in rows],
                             "ci_gkwh": [number(r, "carbonIntensity", SOURCE, where) for r in rows]})

    @staticmethod
    def _breakdown(doc: dict, where: str) -> dict:
        return {"time": timestamp(doc, "datetime", SOURCE, where),
                "renewable_pct": number(doc, "renewablePercentage", SOURCE, where, optional=True),
                "low_carbon_pct": number(doc, "fossilFreePercentage", SOURCE, where, optional=True)}

    def power_breakdown_latest(self, zone: str) -> dict:
        """``{time, renewable_pct, low_carbon_pct}`` (%, NaN where the provider has null)."""
        where = "/v3/power-breakdown/latest"
        return self._breakdown(self._get(where, zone), where)

    def power_breakdown_history(self, zone: str) -> pd.DataFrame:
        where = "/v3/power-breakdown/history"
        rows = records(self._get(where, zone), "history", SOURCE, where)
        return pd.DataFrame([self._breakdown(r, where) for r in rows],
                            columns=["time", "renewable_pct", "low_carbon_pct"])
