"""Provider adapters: each turns one API client into ``fetch(zone) -> dict`` of store columns for the
current hour (panel format; ``time`` floored to the UTC hour start)."""
from __future__ import annotations

import math
from typing import Protocol

import pandas as pd

from carbonshift.forecast.live.electricitymaps import ElectricityMapsClient
from carbonshift.forecast.live.transport import RateLimited, SourceError
from carbonshift.forecast.live.watttime import WattTimeClient

# WattTime regions for Electricity Maps zones. Only CAISO_NORTH is documented as open to every account;
# add others (WattTime ``/v3/my-access`` lists yours) via ``$CARBONSHIFT_WATTTIME_REGIONS="ZONE=REGION,…"``.
DEFAULT_WATTTIME_REGIONS: dict[str, str] = {"US-CAL-CISO": "CAISO_NORTH"}


class Source(Protocol):
    name: str

    def fetch(self, zone: str) -> dict: ...


def _row(zone: str, time: pd.Timestamp, **values: float | bool) -> dict:
    row = {"region": zone, "time": time.floor("h"), "ci_direct": math.nan, "ci_lca": math.nan,
           "renewable_pct": math.nan, "low_carbon_pct": math.nan, "estimated": False, "ci_marginal": math.nan,
           "observed_at": time}
    row.update(values)
    return row


class ElectricityMapsSource:
    """Average carbon intensity (``ci_lca`` or ``ci_direct`` by the response's emission-factor type) plus
    renewable / fossil-free % from the power breakdown (best effort: NaN when that call fails, but a rate
    limit there is still raised so the monitor backs off)."""

    name = "electricitymaps"

    def __init__(self, client: ElectricityMapsClient):
        self.client = client

    def fetch(self, zone: str) -> dict:
        point = self.client.latest(zone)
        column = "ci_direct" if point.factor_type == "direct" else "ci_lca"
        try:
            mix = self.client.power_breakdown_latest(zone)
            shares = {"renewable_pct": mix["renewable_pct"], "low_carbon_pct": mix["low_carbon_pct"]}
        except RateLimited:
            raise
        except SourceError:
            shares = {}
        return _row(zone, point.time, **{column: point.ci_gkwh}, estimated=point.estimated, **shares)


class WattTimeSource:
    """Marginal operating emission rate (``ci_marginal``, gCO2eq/kWh): the first (current) point of the
    WattTime MOER forecast for the zone's WattTime region."""

    name = "watttime"

    def __init__(self, client: WattTimeClient, regions: dict[str, str] | None = None):
        self.client = client
        self.regions = dict(DEFAULT_WATTTIME_REGIONS if regions is None else regions)

    def fetch(self, zone: str) -> dict:
        if zone not in self.regions:
            raise SourceError(self.name, zone, "no WattTime region configured for this zone")
        series = self.client.forecast(self.regions[zone])
        if series.empty:
            raise SourceError(self.name, "/v3/forecast", "empty forecast")
        first = series.iloc[0]
        return _row(zone, first["time"], ci_marginal=float(first["moer_gkwh"]))


def parse_region_map(text: str) -> dict[str, str]:
    """``"US-CAL-CISO=CAISO_NORTH,DE=DE"`` → dict; raises ``ValueError`` naming a bad item."""
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        zone, sep, region = item.partition("=")
        if not sep or not zone or not region:
            raise ValueError(f"WattTime region map: expected ZONE=REGION, got {item!r}")
        out[zone.strip()] = region.strip()
    return out
