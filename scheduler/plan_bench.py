"""Planning cost of a policy at scale: latency of one day-ahead plan of N jobs, the memory that plan call
allocates, and the latency of single-job adaptation events — one policy and N (:func:`bench_plan`), or every
policy for every N of a config (:func:`bench_scale`). Pure scheduling (no MLflow, no Ray).

Units: seconds (plan), milliseconds (adapt), MB = 2**20 bytes (memory).
"""
from __future__ import annotations

import resource
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from carbonshift.scheduler.datacenters import DataCenters
from carbonshift.scheduler.generators import GeneratorSpec, generate
from carbonshift.scheduler.policies.base import ClusterState, Event, Policy
from carbonshift.scheduler.policies.registry import make_policy
from carbonshift.scheduler.signals import CarbonSignal, ForecastSignal, PolicyView
from carbonshift.scheduler.workloads import Jobs


def _reserved(dec, jobs: Jobs, dc: DataCenters, horizon_h: int) -> np.ndarray:  # noqa: ANN001 (Decision)
    """GPUs reserved per (region, hour) by the placed jobs of plan ``dec``: contiguous runs
    ``[start, start + hours)``, or the hours in ``dec.slots[job]`` for suspend/resume placements."""
    placed = dec.region >= 0
    job, region = dec.job[placed], dec.region[placed]
    start, hours = dec.start[placed].astype(np.int64), dec.hours[placed].astype(np.int64)
    slotted = np.isin(job, np.fromiter(dec.slots, dtype=np.int64, count=len(dec.slots)))
    hours[slotted] = [len(dec.slots[int(i)]) for i in job[slotted]]
    offsets = np.arange(hours.sum()) - np.repeat(np.cumsum(hours) - hours, hours)
    cols = np.repeat(start, hours) + offsets
    if slotted.any():
        cols[np.repeat(slotted, hours)] = np.concatenate([dec.slots[int(i)] for i in job[slotted]])
    reserved = np.zeros((dc.n, horizon_h), np.int64)
    np.add.at(reserved, (np.repeat(region, hours), cols), np.repeat(jobs.gpus[job], hours))
    return reserved


def binding_gpus(jobs: Jobs, n_regions: int, span_h: int, factor: float) -> int:
    """GPUs per region that make capacity bind: ``ceil(factor × Σ gpus × true hours / (regions × span_h))``
    — ``factor`` times the jobs' mean concurrent GPU demand per region over the arrival span ``span_h``
    hours — and never below the largest job's GPU count (every job fits somewhere)."""
    if factor <= 0 or span_h <= 0 or n_regions <= 0:
        raise ValueError(f"binding_gpus: factor, span_h and n_regions must be > 0 (got {factor}, {span_h}, "
                         f"{n_regions})")
    demand = float((jobs.gpus * jobs.duration_h).sum()) / (n_regions * span_h)
    return max(int(np.ceil(factor * demand)), int(jobs.gpus.max()))


def bench_plan(make: Callable[[], Policy], jobs: Jobs, carbon: CarbonSignal, forecast: ForecastSignal,
               dc: DataCenters, horizon_h: int, repeats: int, adapt_events: int, seed: int) -> dict[str, float]:
    """Benchmark the policy ``make()`` builds on ``jobs`` (all submitted by hour 0, empty cluster).

    ``plan_seconds``: best of ``repeats`` plan calls (``plan_seconds_median`` their median);
    ``peak_mem_mb``: peak Python-heap allocation (tracemalloc, numpy arrays included) of one
    plan call — not a process figure; ``process_max_rss_mb``: the whole process's peak resident set so far
    (interpreter, pandas, loaded panel), comparable with process-level memory figures;
    ``adapt_ms_*``: latency of ``adapt_events`` single-job arrival events on the planned cluster;
    ``full_cells_pct``: % of (region, hour) cells the plan reserves to ≥ 95 % of their GPUs (how much the
    capacity binds); ``gpus_per_region``: the largest region's GPUs."""
    n = len(jobs)
    idx = np.arange(n)
    empty = ClusterState(dc.gpus.copy(), np.zeros((dc.n, horizon_h), np.int64))
    view = PolicyView(carbon, forecast, 0)
    times = []
    for _ in range(repeats):
        policy = make()
        t0 = time.perf_counter()
        dec = policy.plan(jobs, idx, 0, empty, view)
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    make().plan(jobs, idx, 0, empty, view)
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    placed = dec.region >= 0
    state = ClusterState(dc.gpus.copy(), _reserved(dec, jobs, dc, horizon_h))
    policy = make()
    lat = []
    for i in np.random.default_rng(seed).choice(n, size=min(adapt_events, n), replace=False):
        t0 = time.perf_counter()
        policy.adapt(Event("arrival", np.array([i])), jobs, 0, state, view)
        lat.append((time.perf_counter() - t0) * 1000.0)
    on_time = placed & (dec.start + jobs.est_duration_h[dec.job] <= jobs.deadline_h[dec.job])
    full = state.reserved >= 0.95 * dc.gpus[:, None]
    return {"jobs": n, "regions": dc.n, "horizon_h": horizon_h, "gpus_per_region": int(dc.gpus.max()),
            "full_cells_pct": float(full.mean() * 100.0), "plan_seconds": min(times),
            "plan_seconds_median": float(np.median(times)), "peak_mem_mb": peak_mb,
            "adapt_ms_mean": float(np.mean(lat)), "adapt_ms_p95": float(np.percentile(lat, 95)),
            "placed": int(placed.sum()), "planned_on_time": int(on_time.sum()),
            "process_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


class ScaleSettings(Protocol):
    """What :func:`bench_scale` reads (the ``plan_bench`` kind's config)."""

    @property
    def seed(self) -> int: ...

    @property
    def horizon_h(self) -> int: ...             # hours of the carbon and forecast signals

    @property
    def arrival_span_h(self) -> int: ...        # jobs arrive over [0, arrival_span_h), h

    @property
    def job_counts(self) -> Sequence[int]: ...

    @property
    def gpus_per_region(self) -> int: ...

    @property
    def capacity_factor(self) -> float | None: ...   # set: binding_gpus with this factor, not gpus_per_region

    @property
    def policies(self) -> Sequence[str]: ...

    @property
    def repeats(self) -> int: ...

    @property
    def adapt_events(self) -> int: ...


def bench_scale(s: ScaleSettings, carbon: CarbonSignal, forecast: ForecastSignal) -> list[tuple[str, dict[str, float]]]:
    """:func:`bench_plan` of every policy for every job count N (N generated jobs arriving over
    ``arrival_span_h``, deadlines within ``horizon_h``), on ``gpus_per_region`` GPUs per region or, with
    ``capacity_factor``, the :func:`binding_gpus` of those jobs: (policy, its bench_plan row) in that order."""
    rows = []
    n_regions = len(carbon.regions)
    for name in s.policies:
        for n in s.job_counts:
            jobs = generate(GeneratorSpec(n_jobs=n, span_h=s.arrival_span_h, max_deadline_h=s.horizon_h), n_regions,
                            s.seed)
            gpus = s.gpus_per_region if s.capacity_factor is None else binding_gpus(
                jobs, n_regions, s.arrival_span_h, s.capacity_factor)
            dc = DataCenters.uniform(carbon.regions, gpus)

            def make(name: str = name, dc: DataCenters = dc) -> Policy:
                return make_policy(name, dc, s.seed)
            rows.append((name, bench_plan(make, jobs, carbon, forecast, dc, s.horizon_h, s.repeats, s.adapt_events,
                                          s.seed)))
    return rows


def scale_metrics(rows: Sequence[tuple[str, dict[str, float]]]) -> dict[str, float]:
    """``<policy>.n<N>.<metric>`` of every :func:`bench_scale` row."""
    return {f"{name}.n{r['jobs']}.{k}": float(v) for name, r in rows for k, v in r.items() if k != "jobs"}


def scale_table(rows: Sequence[tuple[str, dict[str, float]]]) -> pd.DataFrame:
    """One row per :func:`bench_scale` row: ``policy`` and its bench_plan metrics."""
    return pd.DataFrame([{"policy": name, **r} for name, r in rows])
