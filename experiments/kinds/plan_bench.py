"""Experiment kind ``plan_bench``: planning latency and memory of the policies at scale.

Loads the Electricity Maps panel for ``zones`` (``horizon_h`` hours from ``start``, UTC), issues one
synthetic 87 %-accurate forecast, and for each policy and each N in ``job_counts`` benchmarks one day-ahead
plan of N generated jobs on an empty cluster (:func:`scheduler.plan_bench.bench_scale`). Metrics
``<policy>.n<N>.<metric>``; table ``scale``.

Capacity: ``gpus_per_region`` GPUs in every region, or — with ``capacity_factor`` — a capacity that binds
and grows with N: ``ceil(factor × Σ gpus × true hours / (regions × arrival_span_h))`` GPUs per region
(:func:`scheduler.plan_bench.binding_gpus`; factor 1: the regions together hold the mean load of the
arrival span, not its peaks, and a carbon-seeking plan must spill into dirtier regions and hours). The
table's ``gpus_per_region``, ``full_cells_pct`` and ``placed`` show how much it bound.
"""
from __future__ import annotations

from dataclasses import dataclass, field


from carbonshift.experiments.config import check
from carbonshift.experiments.instances import MAX_GPUS_PER_REGION, MAX_JOBS
from carbonshift.experiments.registry import Context, Result, check_policies, experiment_kind
from carbonshift.forecast.bounds import bounded
from carbonshift.forecast.data.panel import load_panel
from carbonshift.forecast.data.schema import MAX_HORIZON_H
from carbonshift.scheduler.plan_bench import bench_scale, scale_metrics, scale_table
from carbonshift.scheduler.signals import CarbonSignal, controlled_error


@dataclass
class BenchConfig:
    kind: str
    name: str
    seed: int = 0
    zones: list[str] = field(default_factory=lambda: ["US-CAL-CISO", "US-TEX-ERCO", "US-MIDA-PJM", "US-NY-NYIS",
                                                      "DE", "GB", "JP-TK", "SG", "AU-NSW", "IN-WE"])
    year: int = 2023
    start: str = "2023-06-01"
    horizon_h: int = bounded(168, ge=1, le=MAX_HORIZON_H)
    arrival_span_h: int = bounded(24, ge=1)
    job_counts: list[int] = field(default_factory=lambda: [100, 1000, 5000])
    gpus_per_region: int = bounded(8192, ge=1, le=MAX_GPUS_PER_REGION)
    capacity_factor: float | None = bounded(None, le=1000)   # GPUs per region = factor × the N jobs' mean GPU demand per region
    policies: list[str] = field(default_factory=lambda: ["cooperative"])
    repeats: int = bounded(3, le=1000)               # timed repetitions of each plan
    adapt_events: int = bounded(200, le=100_000)     # timed adapt calls

    def __post_init__(self) -> None:
        check(bool(self.policies), "policies", "expected at least one policy name")
        check_policies(self.policies)
        check(self.arrival_span_h < self.horizon_h, "arrival_span_h", "must be < horizon_h")
        check(bool(self.job_counts) and all(1 <= n <= MAX_JOBS for n in self.job_counts), "job_counts",
              f"one or more job counts, each 1 to {MAX_JOBS:,}")
        check(self.repeats >= 1 and self.adapt_events >= 1, "repeats", "repeats and adapt_events must be ≥ 1")
        check(self.capacity_factor is None or self.capacity_factor > 0, "capacity_factor", "must be > 0 (or null)")


@experiment_kind("plan_bench", BenchConfig)
def bench(cfg: BenchConfig, ctx: Context) -> Result:
    """Planning latency (best of ``repeats``) and tracemalloc peak memory of one day-ahead plan of N jobs,
    plus the latency of single-job adaptation events. ``peak_mem_mb`` counts the memory the plan call
    allocates (numpy arrays included); ``process_max_rss_mb`` is the whole process so far (interpreter,
    pandas, the loaded panel)."""
    panel = load_panel(cfg.zones, [cfg.year], weather=False, data_dir=ctx.data_dir)
    carbon = CarbonSignal.from_panel(panel, list(cfg.zones), cfg.start, cfg.horizon_h)
    forecast = controlled_error(carbon, "accuracy", accuracy=0.87, horizon_h=cfg.horizon_h, seed=cfg.seed)
    rows = bench_scale(cfg, carbon, forecast)
    return Result(metrics=scale_metrics(rows), tables={"scale": scale_table(rows)},
                  summary={"name": cfg.name, "policies": ", ".join(cfg.policies),
                           "cells": f"{len(cfg.zones)} regions × {cfg.horizon_h} h"})
