"""Experiment kind ``topology``: carbon-aware vs latency-only communication topology for data-parallel jobs
that span regions (seed 000 §4.2B), on real hourly carbon intensity.

A multi-region workload: each job asks more GPUs than one region lends to a single job
(``workload.region_cap_gpus``), so it is split evenly over ``k = ceil(gpus / cap)`` regions (2 ≤ k ≤ 6, drawn
at random from ``data.zones``) and trains data-parallel for ``hours`` from a random start. For every job and
layout family (``ps``, ``ring``, ``both`` = the better of the two) :func:`scheduler.topology.place` returns the
latency-only and the carbon-aware layout (within ``latency_budget``). Model and every assumption: module
docstring of :mod:`scheduler.topology`; RTTs: :func:`scheduler.datacenters.rtt_ms`; the workload, the layout
table and its summary: :mod:`scheduler.topology_comparison`.

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


from carbonshift.experiments.config import check
from carbonshift.experiments.instances import MAX_JOBS, WanSites, ZoneData
from carbonshift.experiments.registry import Context, Result, experiment_kind
from carbonshift.forecast.bounds import bounded
from carbonshift.forecast.data.panel import load_panel
from carbonshift.scheduler.datacenters import DataCenters, rtt_ms
from carbonshift.scheduler.signals import CarbonSignal
from carbonshift.scheduler.topology import FAMILIES, MAX_RING_K
from carbonshift.scheduler.topology_comparison import LayoutSettings, draw_jobs, layout_table, rtt_table, summarise


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
    settings = LayoutSettings(cfg.families, cfg.latency_budget, cfg.workload.compute_s, cfg.workload.gpu_kw)
    table = layout_table(jobs, carbon.ci, dcs, rtt, settings)
    summ, metrics = summarise(table)
    return Result(metrics=metrics, tables={"jobs": table, "summary": summ, "rtt_ms": rtt_table(d.zones, rtt)},
                  summary={"name": cfg.name, "zones": ", ".join(d.zones), "jobs": len(jobs),
                           "start": str(carbon.times[0]), "latency_budget": cfg.latency_budget,
                           "rtt": "great-circle fibre model × route stretch 1.5 (assumption) unless overridden"})
