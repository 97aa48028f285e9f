"""Carbon-aware vs latency-only layouts of multi-region data-parallel jobs: the workload, one row per job ×
layout family × policy, and the per family × policy summary with its flat metrics. Pure scheduling (no MLflow,
no Ray); the layout model and its assumptions: :mod:`scheduler.topology`.

Units: GPUs, GB, seconds per step, hours; energy kWh; carbon kgCO2e; slowdowns %.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.topology import MAX_RING_K, place


class MultiRegionWorkload(Protocol):
    """What :func:`draw_jobs` reads (the ``topology`` kind's ``workload`` section): a job asks more GPUs than one
    region lends to a single job, so it is split evenly over ``k = ceil(gpus / region_cap_gpus)`` regions
    (2 ≤ k ≤ :data:`MAX_RING_K`)."""

    @property
    def n_jobs(self) -> int: ...

    @property
    def region_cap_gpus(self) -> int: ...       # most GPUs one region lends to one job

    @property
    def gpus(self) -> Sequence[int]: ...        # log-uniform total GPUs per job, [min, max]

    @property
    def model_gb(self) -> Sequence[float]: ...  # log-uniform gradient size, GB, [min, max]

    @property
    def hours(self) -> Sequence[int]: ...       # uniform reservation length, h, [min, max]


def draw_jobs(w: MultiRegionWorkload, n_regions: int, n_hours: int, seed: int) -> pd.DataFrame:
    """The multi-region workload: one row per job (workers, GPUs per worker region, model GB, start, hours)."""
    rng = np.random.default_rng(seed)
    gpus_lo, gpus_hi = np.log(w.gpus)
    gb_lo, gb_hi = np.log(w.model_gb)
    gpus = np.exp(rng.uniform(gpus_lo, gpus_hi, size=w.n_jobs)).round().astype(np.int64)
    k = np.clip(np.ceil(gpus / w.region_cap_gpus).astype(np.int64), 2, min(MAX_RING_K, n_regions))
    hours = np.minimum(rng.integers(w.hours[0], w.hours[1] + 1, size=w.n_jobs), n_hours)
    start = (rng.uniform(size=w.n_jobs) * (n_hours - hours + 1)).astype(np.int64)
    return pd.DataFrame({
        "workers": [np.sort(rng.choice(n_regions, size=int(kk), replace=False)) for kk in k], "k": k,
        "gpus_per_region": np.ceil(gpus / k).astype(np.int64),
        "model_gb": np.exp(rng.uniform(gb_lo, gb_hi, size=w.n_jobs)), "start": start, "hours": hours})


@dataclass(frozen=True)
class LayoutSettings:
    """What every layout decision shares: the layout families compared, the allowed slowdown and the step."""

    families: Sequence[str]     # of scheduler.topology.FAMILIES
    latency_budget: float       # allowed step-time slowdown of the carbon-aware layout over latency-only, fraction
    compute_s: float            # compute time per step, s
    gpu_kw: float               # kW per GPU


def layout_table(jobs: pd.DataFrame, ci: np.ndarray, dcs: DataCenters, rtt: np.ndarray,
                 s: LayoutSettings) -> pd.DataFrame:
    """One row per job × family × policy (latency | carbon) with the chosen layout and its energy/carbon."""
    rows = []
    for j, job in enumerate(jobs.itertuples(index=False)):
        span = ci[:, job.start:job.start + job.hours]
        gpus = np.full(job.k, job.gpus_per_region)
        for fam in s.families:
            lat, carb = place(job.workers, gpus, span, rtt, dcs, job.model_gb, s.compute_s, s.gpu_kw,
                              s.latency_budget, fam)
            for pol, p in (("latency", lat), ("carbon", carb)):
                rows.append({"job": j, "k": job.k, "regions": "+".join(dcs.regions[i] for i in job.workers),
                             "model_gb": job.model_gb, "family": fam, "policy": pol, "layout": p.label,
                             "step_s": p.step_s, "slowdown_pct": 100.0 * (p.step_s / lat.step_s - 1.0),
                             "steps": p.steps, "operational_kwh": p.operational_kwh,
                             "operational_kg": p.operational_kg, "comm_kwh": p.comm_kwh, "comm_kg": p.comm_kg,
                             "kg_per_kstep": p.kg_per_kstep})
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per family × policy totals, kg per 1000 steps over all jobs, slowdown mean/max; flat metrics."""
    g = table.groupby(["family", "policy"], sort=False)
    summ = g[["operational_kg", "comm_kg", "comm_kwh", "steps"]].sum()
    summ["kg_per_kstep"] = 1000.0 * (summ["operational_kg"] + summ["comm_kg"]) / summ["steps"]
    summ["slowdown_mean_pct"] = g["slowdown_pct"].mean()
    summ["slowdown_max_pct"] = g["slowdown_pct"].max()
    metrics: dict[str, float] = {}
    for (fam, pol), row in summ.iterrows():
        metrics.update({f"{fam}.{pol}.{m}": float(v) for m, v in row.items()})
    for fam in summ.index.get_level_values(0).unique():
        ratio = summ.loc[(fam, "carbon"), "kg_per_kstep"] / summ.loc[(fam, "latency"), "kg_per_kstep"]
        metrics[f"{fam}.carbon_vs_latency_pct"] = 100.0 * (ratio - 1.0)
        lat = table[(table["family"] == fam) & (table["policy"] == "latency")]["layout"].to_numpy()
        carb = table[(table["family"] == fam) & (table["policy"] == "carbon")]["layout"].to_numpy()
        metrics[f"{fam}.layout_changed_pct"] = 100.0 * float((lat != carb).mean())
    return summ.reset_index(), metrics


def rtt_table(regions: Sequence[str], rtt: np.ndarray) -> pd.DataFrame:
    """The round-trip times [R × R] (ms, one decimal) as a table: column ``rtt_ms`` names the row's region."""
    return pd.DataFrame(rtt, index=list(regions), columns=list(regions)).round(1).reset_index(names="rtt_ms")
