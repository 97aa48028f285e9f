"""Data centres: one per region, with GPU capacity, PUE, WAN bandwidth and network energy per GB.

Defaults and their sources (override any of them per experiment in the ``datacenters`` config section):

* ``gpus`` — 2048 GPUs per region: a mid-size training cluster (the seed gives no capacity; its largest
  job asks 256 GPUs). Our assumption, a config knob.
* ``pue`` — 1.10: hyperscale fleet average (Google 2023 Environmental Report: 1.10 trailing-twelve-month
  fleet PUE). The Uptime Institute 2023 survey industry mean is 1.58; set ``pue`` to study that.
* ``wan_gbps`` — 10 Gbps of inter-region bandwidth available to one job's data transfer (a typical
  dedicated inter-DC link share; our assumption). Transfer time = data × 8 / bandwidth.
* ``residency`` — off by default. When on (data residency: every job's data must stay in its home
  region), no job may run outside its home region, for every policy and the oracle alike: moving data
  away takes :data:`RESIDENT_TRANSFER_H` hours (never within any horizon), so every remote start is
  infeasible and the simulator's earliest-start check rejects one. Only timing can then save carbon.
* ``network_kwh_per_gb`` — 0.06 kWh/GB: Aslan et al., "Electricity intensity of internet data
  transmission", J. Industrial Ecology 22(4), 2018 (0.06 kWh/GB for 2015, the value most carbon-aware
  scheduling papers reuse). Transfer carbon = data × kWh/GB × mean(intensity at source, at destination).
* round-trip times (:func:`rtt_ms`, used by :mod:`scheduler.topology`) — a model, not measurements: great-circle
  distance between each zone's representative site (:data:`ZONE_SITES`) at 200 km/ms in fibre × a route
  stretch of 1.5 (**assumption**); pass measured RTTs as overrides where you have them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_GPUS = 2048
DEFAULT_PUE = 1.10
DEFAULT_WAN_GBPS = 10.0
#: kWh per GB moved between regions (Aslan et al. 2018, 2015 value) — the one definition; scheduler,
#: feasibility, federated training and curtailment training all import it.
DEFAULT_NETWORK_KWH_PER_GB = 0.06
#: Transfer time (h) away from home under data residency: later than any simulated horizon.
RESIDENT_TRANSFER_H = 1 << 40


@dataclass
class DataCenters:
    """Arrays over regions (index = region index of the carbon signal)."""

    regions: list[str]
    gpus: np.ndarray             # int64 capacity
    pue: np.ndarray              # float64
    wan_gbps: float = DEFAULT_WAN_GBPS
    network_kwh_per_gb: float = DEFAULT_NETWORK_KWH_PER_GB
    residency: bool = False      # data residency: jobs run in their home region only (module docstring)

    def __post_init__(self) -> None:
        r = len(self.regions)
        if self.gpus.shape != (r,) or self.pue.shape != (r,):
            raise ValueError(f"DataCenters: gpus/pue must have one entry per region ({r})")
        if (self.gpus < 1).any():
            raise ValueError(f"DataCenters.gpus: every region needs ≥ 1 GPU, got {self.gpus.tolist()}")
        if (self.pue < 1).any():
            raise ValueError(f"DataCenters.pue: PUE must be ≥ 1, got {self.pue.tolist()}")
        if self.wan_gbps <= 0 or self.network_kwh_per_gb < 0:
            raise ValueError("DataCenters: wan_gbps must be > 0 and network_kwh_per_gb ≥ 0")

    @classmethod
    def uniform(cls, regions: list[str], gpus: int = DEFAULT_GPUS, pue: float = DEFAULT_PUE,
                wan_gbps: float = DEFAULT_WAN_GBPS, network_kwh_per_gb: float = DEFAULT_NETWORK_KWH_PER_GB,
                overrides: dict[str, dict[str, float]] | None = None, residency: bool = False) -> DataCenters:
        """Same defaults everywhere, with optional per-region ``{region: {gpus: .., pue: ..}}`` overrides."""
        g = np.full(len(regions), gpus, dtype=np.int64)
        p = np.full(len(regions), pue, dtype=np.float64)
        for region, values in (overrides or {}).items():
            if region not in regions:
                raise ValueError(f"datacenters.overrides: unknown region {region!r}; regions {regions}")
            i = regions.index(region)
            g[i] = int(values.get("gpus", g[i]))
            p[i] = float(values.get("pue", p[i]))
        return cls(list(regions), g, p, wan_gbps, network_kwh_per_gb, residency)

    @property
    def n(self) -> int:
        return len(self.regions)

    def transfer_hours(self, data_gb: np.ndarray) -> np.ndarray:
        """Whole hours to move ``data_gb`` to another region (0 h if none; :data:`RESIDENT_TRANSFER_H` for
        every job under ``residency``), int64."""
        if self.residency:
            return np.full(np.shape(data_gb), RESIDENT_TRANSFER_H, dtype=np.int64)
        return np.ceil(np.asarray(data_gb) * 8.0 / (self.wan_gbps * 3600.0)).astype(np.int64)

    def transfer_kwh(self, data_gb: np.ndarray) -> np.ndarray:
        """Network energy to move ``data_gb``, kWh."""
        return np.asarray(data_gb) * self.network_kwh_per_gb

    def transfer_carbon_kg(self, data_gb, ci_src, ci_dst) -> np.ndarray:
        """Carbon of moving ``data_gb`` from a region at ``ci_src`` to one at ``ci_dst`` (gCO2eq/kWh), kgCO2e:
        network energy charged at the mean of the two end points' intensities. The one place this rule is
        written; every policy, the oracle, the simulator and migration call it (broadcasts like numpy)."""
        return self.transfer_kwh(data_gb) * (np.asarray(ci_src) + np.asarray(ci_dst)) / 2000.0


#: Representative data-centre site (lat°, lon°, city) per zone, for inter-region round-trip times. Cities are
#: the zone's main cloud hub (our choice, e.g. Frankfurt for DE, Ashburn for PJM); override with measured RTTs.
ZONE_SITES: dict[str, tuple[float, float, str]] = {
    "US-CAL-CISO": (37.35, -121.96, "Santa Clara"), "US-TEX-ERCO": (32.78, -96.80, "Dallas"),
    "US-MIDA-PJM": (39.04, -77.49, "Ashburn"), "US-NY-NYIS": (40.71, -74.01, "New York"),
    "GB": (51.51, -0.13, "London"), "DE": (50.11, 8.68, "Frankfurt"), "DE-LU": (50.11, 8.68, "Frankfurt"),
    "SG": (1.35, 103.82, "Singapore"), "JP-TK": (35.68, 139.69, "Tokyo"), "AU-NSW": (-33.87, 151.21, "Sydney"),
    "IN-WE": (19.08, 72.88, "Mumbai"),
}
#: Light in optical fibre: ≈ 200 km per ms (refractive index ≈ 1.47; c / 1.47 ≈ 2.04e5 km/s).
FIBRE_KM_PER_MS = 200.0
#: Route stretch of real fibre paths over the great circle — **assumption**: 1.5 (cables follow coasts and
#: land routes; measured inter-DC RTTs are typically 1.3–2× the great-circle fibre bound).
ROUTE_STRETCH = 1.5


def rtt_ms(regions: list[str], overrides: dict[str, float] | None = None) -> np.ndarray:
    """Round-trip time between the regions' sites, ms, ``[R × R]`` (0 on the diagonal): great-circle distance
    (haversine, Earth radius 6371 km) × :data:`ROUTE_STRETCH` × 2 / :data:`FIBRE_KM_PER_MS` — a model, not a
    measurement. ``overrides`` maps ``"A|B"`` to a measured RTT in ms (symmetric)."""
    unknown = [r for r in regions if r not in ZONE_SITES]
    if unknown:
        raise ValueError(f"rtt_ms: no data-centre site for {unknown}; known zones {sorted(ZONE_SITES)}")
    lat, lon = (np.radians([ZONE_SITES[r][i] for r in regions]) for i in (0, 1))
    a = (np.sin((lat[:, None] - lat[None, :]) / 2) ** 2
         + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin((lon[:, None] - lon[None, :]) / 2) ** 2)
    km = 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    out = km * ROUTE_STRETCH * 2.0 / FIBRE_KM_PER_MS
    for pair, ms in (overrides or {}).items():
        ends = pair.split("|")
        if len(ends) != 2 or not set(ends) <= set(regions) or ends[0] == ends[1] or ms <= 0:
            raise ValueError(f"rtt_ms override {pair!r}: {ms}: expected 'A|B' of two listed regions and ms > 0")
        i, j = regions.index(ends[0]), regions.index(ends[1])
        out[i, j] = out[j, i] = float(ms)
    return out
