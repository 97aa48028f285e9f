"""Migration policies over a grid of WAN bandwidths × stay fractions (the ``migration`` kind): one row per
policy × bandwidth × stay fraction with the reductions against ``none`` at the same point, the flat metrics, and
the share of each run's energy inside given window masks. Pure scheduling (no MLflow, no Ray); the migration
model: :mod:`scheduler.policies.migration`.

Units: kWh, kgCO2e, GB, hours, Gbit/s; reductions and shares %.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.policies.migration import MigrationOptions, simulate_migration
from carbonshift.scheduler.signals import CarbonSignal, ForecastSignal
from carbonshift.scheduler.workloads import Jobs

#: the reference policy of the reductions
REFERENCE = "none"
#: the grid point of a row
POINT = ("policy", "wan_gbps", "stay_fraction")


class GridSites(Protocol):
    """What :func:`migration_table` reads about the sites (the kind's ``datacenters`` section)."""

    @property
    def pue(self) -> float: ...

    @property
    def network_kwh_per_gb(self) -> float: ...

    @property
    def wan_gbps(self) -> Sequence[float]: ...    # one grid point per WAN bandwidth, Gbit/s


def energy_in_windows(jobs: Jobs, carbon: CarbonSignal, forecast: ForecastSignal, dcs: DataCenters, pol: str,
                      opts: MigrationOptions, mask: np.ndarray, seed: int, carbon_kg: float) -> float:
    """% of a policy run's energy inside ``mask`` [R × T] (rerun with the mask as the renewable-share channel,
    which the model uses for accounting only: the rerun's carbon must equal the run's ``carbon_kg``)."""
    masked = dataclasses.replace(carbon, renewable_pct=100.0 * mask.astype(float))
    out = simulate_migration(jobs, masked, forecast, dcs, pol, opts, seed=seed)
    if not np.isclose(out.carbon_kg, carbon_kg, rtol=1e-9):
        raise ValueError(f"migration windows: the {pol} rerun changed carbon ({out.carbon_kg} vs {carbon_kg} kg); "
                         "the renewable-share channel is no longer accounting-only")
    return 100.0 * (1.0 - out.nonrenewable_kwh / out.energy_kwh)


def migration_table(jobs: Jobs, carbon: CarbonSignal, forecast: ForecastSignal, sites: GridSites, *,
                    policies: Sequence[str], stay_fractions: Sequence[float], options: MigrationOptions,
                    masks: Mapping[str, np.ndarray], seed: int) -> pd.DataFrame:
    """Every policy (``none`` among them) at every WAN bandwidth × stay fraction (``options`` with that
    ``stay_fraction``): its ``MigrationOutcome.metrics``, ``energy_in_<name>_windows_pct`` per mask of ``masks``
    ({name: [R × T] mask}), ``nonrenewable_reduction_pct`` and ``carbon_reduction_pct`` vs ``none``."""
    rows = []
    for bw in sites.wan_gbps:
        dcs = DataCenters.uniform(carbon.regions, pue=sites.pue, wan_gbps=bw,
                                  network_kwh_per_gb=sites.network_kwh_per_gb)
        for stay in stay_fractions:
            opts = dataclasses.replace(options, stay_fraction=stay)
            for pol in policies:
                out = simulate_migration(jobs, carbon, forecast, dcs, pol, opts, seed=seed)
                inside = {f"energy_in_{k}_windows_pct": energy_in_windows(jobs, carbon, forecast, dcs, pol, opts, m,
                                                                          seed, out.carbon_kg)
                          for k, m in masks.items()}
                rows.append({"policy": pol, "wan_gbps": bw, "stay_fraction": stay, **out.metrics(), **inside})
    table = pd.DataFrame(rows)
    ref = table[table["policy"] == REFERENCE].set_index(["wan_gbps", "stay_fraction"])
    key = list(zip(table["wan_gbps"], table["stay_fraction"]))
    table["nonrenewable_reduction_pct"] = 100 * (1 - table["nonrenewable_kwh"].to_numpy()
                                                 / ref.loc[key, "nonrenewable_kwh"].to_numpy())
    table["carbon_reduction_pct"] = 100 * (1 - table["carbon_kg"].to_numpy() / ref.loc[key, "carbon_kg"].to_numpy())
    return table


def grid_metrics(table: pd.DataFrame) -> dict[str, float]:
    """``<policy>.bw<Gbps>.stay<fraction>.<metric>`` of every :func:`migration_table` row."""
    metrics: dict[str, float] = {}
    for row in table.to_dict("records"):
        prefix = f"{row['policy']}.bw{row['wan_gbps']:g}.stay{row['stay_fraction']:g}"
        metrics.update({f"{prefix}.{k}": float(v) for k, v in row.items() if k not in POINT})
    return metrics
