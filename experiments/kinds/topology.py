"""Experiment kind ``topology``: carbon-aware vs latency-only communication topology for data-parallel jobs
that span regions (seed 000 §4.2B), on real hourly carbon intensity.

A multi-region workload: each job asks more GPUs than one region lends to a single job
(``workload.region_cap_gpus``), so it is split evenly over ``k = ceil(gpus / cap)`` regions (2 ≤ k ≤ 6, drawn
at random from ``data.zones``) and trains data-parallel for ``hours`` from a random start. For every job and
layout family (``ps``, ``ring``, ``both`` = the better of the two) :func:`scheduler.topology.place` returns the
latency-only and the carbon-aware layout (within ``latency_budget``). Model and every assumption: module
docstring of :mod:`scheduler.topology`; RTTs: :func:`scheduler.datacenters.rtt_ms`.

Metrics ``<family>.<policy>.<m>`` with policy ``latency`` | ``carbon`` and m = ``operational_kg``,
``comm_kg``, ``comm_kwh``, ``steps``, ``kg_per_kstep`` (operational + communication kgCO2e per 1000 steps),
``slowdown_mean_pct`` / ``slowdown_max_pct`` (step time over the latency-only step time, %), and
``<family>.carbon_vs_latency_pct`` (kg per step, carbon-aware vs latency-only, %),
``<family>.layout_changed_pct`` (jobs whose carbon-aware layout differs). Table ``jobs`` (one row per
job × family × policy) and ``summary``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from carbonshift.experiments.config import bounded, check
from carbonshift.experiments.instances import MAX_JOBS, WanSites, ZoneData
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast.data.panel import load_panel
from carbonshift.scheduler.datacenters import DataCenters, rtt_ms
from carbonshift.scheduler.signals import CarbonSignal
from carbonshift.scheduler.topology import FAMILIES, MAX_RING_K, place


@dataclass
class TopoDataSection(ZoneData):
    min_zones: ClassVar[int] = 2     # every job spans at least two regions


@dataclass
class TopoWorkloadSection:
    n_jobs: int = bounded(100, ge=1, le=MAX_JOBS)
    region_cap_gpus: int = 256        # most GPUs one region lends to one job (assumption)
    gpus: list[int] = field(default_factory=lambda: [300, 1536])      # log-uniform total GPUs per job
    model_gb: list[float] = field(default_factory=lambda: [0.5, 14.0])  # log-uniform gradient size, GB
    compute_s: float = 2.0            # compute time per step, s (assumption)
    hours: list[int] = field(default_factory=lambda: [12, 96])       # uniform reservation length, h
    gpu_kw: float = 0.7               # kW per GPU

    def __post_init__(self) -> None:
        check(self.region_cap_gpus >= 1, "workload.region_cap_gpus", "must be ≥ 1")
        check(len(self.gpus) == 2 and self.region_cap_gpus < self.gpus[0] <= self.gpus[1]
              <= MAX_RING_K * self.region_cap_gpus, "workload.gpus",
              f"[min, max] with cap < min ≤ max ≤ {MAX_RING_K} × cap (multi-region, k ≤ {MAX_RING_K})")
        check(len(self.model_gb) == 2 and 0 < self.model_gb[0] <= self.model_gb[1], "workload.model_gb",
              "[min, max] with 0 < min ≤ max")
        check(len(self.hours) == 2 and 1 <= self.hours[0] <= self.hours[1], "workload.hours",
              "[min, max] with 1 ≤ min ≤ max")
        check(self.compute_s > 0 and self.gpu_kw > 0, "workload.compute_s", "compute_s and gpu_kw must be > 0")


@dataclass
class TopoDatacenterSection(WanSites):
    rtt_overrides_ms: dict[str, float] = field(default_factory=dict)    # "A|B": measured RTT, ms


@dataclass
class TopologyConfig:
    kind: str
    name: str
    seed: int = 0
    data: TopoDataSection = field(default_factory=TopoDataSection)
    workload: TopoWorkloadSection = field(default_factory=TopoWorkloadSection)
    datacenters: TopoDatacenterSection = field(default_factory=TopoDatacenterSection)
    latency_budget: float = 0.10      # allowed step-time slowdown over latency-only, fraction
    families: list[str] = field(default_factory=lambda: list(FAMILIES))

    def __post_init__(self) -> None:
        check(self.latency_budget >= 0, "latency_budget", "must be ≥ 0")
        check(bool(self.families) and set(self.families) <= set(FAMILIES), "families", f"subset of {FAMILIES}")


def draw_jobs(w: TopoWorkloadSection, n_regions: int, n_hours: int, seed: int) -> pd.DataFrame:
    """The multi-region workload: one row per job (workers, GPUs per worker region, model GB, start, hours)."""
    rng = np.random.default_rng(seed)
    gpus = np.exp(rng.uniform(*np.log(w.gpus), size=w.n_jobs)).round().astype(np.int64)
    k = np.clip(np.ceil(gpus / w.region_cap_gpus).astype(np.int64), 2, min(MAX_RING_K, n_regions))
    hours = np.minimum(rng.integers(w.hours[0], w.hours[1] + 1, size=w.n_jobs), n_hours)
    start = (rng.uniform(size=w.n_jobs) * (n_hours - hours + 1)).astype(np.int64)
    return pd.DataFrame({
        "workers": [np.sort(rng.choice(n_regions, size=int(kk), replace=False)) for kk in k], "k": k,
        "gpus_per_region": np.ceil(gpus / k).astype(np.int64),
        "model_gb": np.exp(rng.uniform(*np.log(w.model_gb), size=w.n_jobs)), "start": start, "hours": hours})


def evaluate(jobs: pd.DataFrame, ci: np.ndarray, dcs: DataCenters, rtt: np.ndarray, cfg: TopologyConfig
             ) -> pd.DataFrame:
    """One row per job × family × policy (latency | carbon) with the chosen layout and its energy/carbon."""
    rows = []
    w = cfg.workload
    for j, job in enumerate(jobs.itertuples(index=False)):
        span = ci[:, job.start:job.start + job.hours]
        gpus = np.full(job.k, job.gpus_per_region)
        for fam in cfg.families:
            lat, carb = place(job.workers, gpus, span, rtt, dcs, job.model_gb, w.compute_s, w.gpu_kw,
                              cfg.latency_budget, fam)
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


@experiment_kind("topology", TopologyConfig,
                 "multi-region data-parallel jobs: carbon-aware vs latency-only PS / ring placement (seed 000)")
def run(cfg: TopologyConfig, ctx: Context) -> Result:
    d = cfg.data
    panel = load_panel(d.zones, d.years, weather=False, data_dir=ctx.data_dir)
    carbon = CarbonSignal.from_panel(panel, d.zones, d.start, d.span_days * 24, d.column)
    dc = cfg.datacenters
    dcs = DataCenters.uniform(d.zones, pue=dc.pue, wan_gbps=dc.wan_gbps, network_kwh_per_gb=dc.network_kwh_per_gb)
    rtt = rtt_ms(d.zones, dc.rtt_overrides_ms)
    jobs = draw_jobs(cfg.workload, len(d.zones), carbon.n_hours, cfg.seed)
    table = evaluate(jobs, carbon.ci, dcs, rtt, cfg)
    summ, metrics = summarise(table)
    rtt_table = pd.DataFrame(rtt, index=d.zones, columns=d.zones).round(1).reset_index(names="rtt_ms")
    return Result(metrics=metrics, tables={"jobs": table, "summary": summ, "rtt_ms": rtt_table},
                  summary={"name": cfg.name, "zones": ", ".join(d.zones), "jobs": len(jobs),
                           "start": str(carbon.times[0]), "latency_budget": cfg.latency_budget,
                           "rtt": "great-circle fibre model × route stretch 1.5 (assumption) unless overridden"})
