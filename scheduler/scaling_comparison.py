"""Scaling planners compared on a homogeneous fleet and on heterogeneous fleets (one per generation assignment
rule): the comparison table, the GPU assignment table and their flat metrics. Pure scheduling (no MLflow, no
Ray); the planners and the scaling model: :mod:`scheduler.scaling`.

Planners: ``fixed_asap`` (nominal GPUs from the earliest start with room), ``fixed_shift`` (nominal GPUs, one
contiguous run at the cleanest start), ``fixed_pause`` (pause/resume in the cleanest hours, levels 0/1),
``elastic_flat`` (the elastic planner with a flat intensity: the most energy-efficient sizes only) and
``elastic`` (CarbonScaler-style elastic scaling on the planning intensity). Carbon is always computed with the
actual intensity.

Units: hours, GPUs, kW per GPU, gCO2eq/kWh; tables in tCO2e, MWh, GPU-hours.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carbonshift.scheduler.scaling import (ASSIGN_POLICIES, GpuGeneration, Plan, assign_generations, footprint, plan_elastic,
                                           plan_fixed_shift, plan_with_capacity, windows)
from carbonshift.scheduler.workloads import TYPES, Jobs

PLANNERS = ("fixed_asap", "fixed_shift", "fixed_pause", "elastic_flat", "elastic")
#: metrics per fleet × planner row of the comparison table (``<fleet>.<planner>.<metric>``)
METRICS = ("carbon_t", "energy_mwh", "gpu_hours", "completion_mean_h", "deadline_met_pct", "carbon_vs_homog_asap_pct")


def intensity_pair(ci: np.ndarray, times: pd.DatetimeIndex, start: str, hours: int,
                   plan_signal: str) -> tuple[np.ndarray, np.ndarray]:
    """(actual, planning) intensity [region × hour] for ``hours`` hours from ``start`` (UTC) out of ``ci``
    [region × time] on ``times``: the planning one is the actual one (``plan_signal`` ``actual``) or the one
    24 h earlier (``persistence24``)."""
    i0 = int(times.searchsorted(pd.Timestamp(start, tz="UTC")))
    if i0 < 24 or i0 + hours > len(times):
        raise ValueError(f"scaling: need 24 h before {start} and {hours} h after it "
                         f"({times[0]} → {times[-1]})")
    actual = ci[:, i0:i0 + hours]
    plan = actual if plan_signal == "actual" else ci[:, i0 - 24:i0 - 24 + hours]
    return actual, plan


@dataclass(frozen=True)
class ScalingJobs:
    """Jobs as the planners see them, one row per job; ``W`` = the longest window, h."""

    submit: np.ndarray      # [J] submission hour
    work: np.ndarray        # [J] work units = nominal duration on the reference generation, h
    g0: np.ndarray          # [J] nominal GPUs
    beta: np.ndarray        # [J] scaling penalty of the job's type
    window_h: np.ndarray    # [J] hours from submission to deadline
    ci_act: np.ndarray      # [J × W] actual intensity of the home region over the window (NaN after the deadline)
    ci_plan: np.ndarray     # [J × W] planning intensity, same layout
    horizon: int            # the last deadline, h

    @classmethod
    def build(cls, jobs: Jobs, beta: Mapping[str, float], actual: np.ndarray, plan: np.ndarray) -> ScalingJobs:
        """From generated ``jobs``, β per workload type and the (actual, planning) intensity [region × hour]
        from hour 0 to the last deadline."""
        return cls(submit=jobs.submit_h, work=jobs.duration_h.astype(np.float64), g0=jobs.gpus.astype(np.float64),
                   beta=np.array([beta[t] for t in TYPES])[jobs.type],
                   window_h=(jobs.deadline_h - jobs.submit_h).astype(np.float64),
                   ci_act=windows(actual, jobs.home, jobs.submit_h, jobs.deadline_h),
                   ci_plan=windows(plan, jobs.home, jobs.submit_h, jobs.deadline_h),
                   horizon=int(jobs.deadline_h.max()))


@dataclass(frozen=True)
class Fleet:
    """Where each job runs: its generation's speed (relative to the reference) and kW per GPU, the GPU pool it
    is planned against and the pools' installed GPUs."""

    speed: np.ndarray                               # [J]
    kw: np.ndarray                                  # [J] kW per GPU
    pool: np.ndarray                                # [J] pool row of ``capacity``
    capacity: np.ndarray                            # [pools × horizon] installed GPUs
    assignment: tuple[np.ndarray, np.ndarray] | None = None   # (generation, overflow) per job; None: homogeneous


def reference(gens: Sequence[GpuGeneration]) -> GpuGeneration:
    """The reference generation (speed 1: the one the jobs' nominal durations refer to)."""
    return next(g for g in gens if g.speed == 1.0)


def reference_fleet(gens: Sequence[GpuGeneration]) -> str:
    """Name of the homogeneous fleet: ``homogeneous_<reference generation>``."""
    return f"homogeneous_{reference(gens).name}"


def fleets(gens: Sequence[GpuGeneration], sj: ScalingJobs, seed: int) -> dict[str, Fleet]:
    """:func:`reference_fleet` (every job on the reference generation, as many GPUs as all generations together)
    and one heterogeneous fleet per assignment rule of :data:`scheduler.scaling.ASSIGN_POLICIES`."""
    ref = reference(gens)
    J, horizon = len(sj.work), sj.horizon
    installed = sum(g.count for g in gens)
    out = {reference_fleet(gens): Fleet(np.ones(J), np.full(J, ref.kw), np.zeros(J, np.int64),
                                            np.full((1, horizon), installed))}
    for policy in ASSIGN_POLICIES:
        # feasible = meets the deadline at nominal size, so every planner (fixed ones included) can finish
        gen, overflow = assign_generations(list(gens), sj.submit, sj.window_h, sj.work, sj.g0, horizon, policy,
                                           max_scale=1.0, beta=sj.beta, seed=seed)
        out[policy] = Fleet(np.array([g.speed for g in gens])[gen], np.array([g.kw for g in gens])[gen], gen,
                            np.array([[g.count] * horizon for g in gens]), (gen, overflow))
    return out


def run_planner(name: str, plan_ci: np.ndarray, work: np.ndarray, g0: np.ndarray, beta: np.ndarray,
                kw: np.ndarray, speed: np.ndarray, levels: np.ndarray, cap: np.ndarray | None = None) -> Plan:
    """Planner ``name`` for the given jobs (rows); ``cap`` [J × W] free GPUs per hour or ``None``."""
    inside = np.isfinite(plan_ci)
    if name == "fixed_asap":  # earliest contiguous start = cheapest start under intensity "hour index"
        earliest = np.where(inside, np.arange(plan_ci.shape[1])[None, :] + 1.0, np.nan)
        return plan_fixed_shift(earliest, work, g0, speed, cap)
    if name == "fixed_shift":
        return plan_fixed_shift(plan_ci, work, g0, speed, cap)
    if name == "fixed_pause":
        return plan_elastic(plan_ci, work, g0, beta, kw, speed, np.array([0.0, 1.0]), cap)
    if name == "elastic_flat":
        return plan_elastic(np.where(inside, 1.0, np.nan), work, g0, beta, kw, speed, levels, cap)
    return plan_elastic(plan_ci, work, g0, beta, kw, speed, levels, cap)


def peak_gpus(plan: Plan, submit: np.ndarray, horizon: int) -> float:
    """The most GPUs ``plan`` uses in any hour."""
    total = np.zeros(horizon + plan.gpus.shape[1])
    np.add.at(total, submit[:, None] + np.arange(plan.gpus.shape[1])[None, :], plan.gpus)
    return float(total.max())


def assignment_rows(fleet: str, f: Fleet, gens: Sequence[GpuGeneration], sj: ScalingJobs) -> list[dict[str, object]]:
    """One row per generation of a heterogeneous fleet: jobs, their mean nominal GPU-hours, overflow jobs."""
    if f.assignment is None:
        return []
    gen, overflow = f.assignment
    rows: list[dict[str, object]] = []
    for gi, g in enumerate(gens):
        on = gen == gi
        rows.append({"fleet": fleet, "generation": g.name, "jobs": int(on.sum()),
                     "mean_nominal_gpu_h": float((sj.work * sj.g0)[on].mean()) if on.any() else 0.0,
                     "overflow_jobs": int((overflow & on).sum())})
    return rows


def plan_fleet(name: str, f: Fleet, sj: ScalingJobs, levels: np.ndarray, capacity: bool) -> tuple[Plan, np.ndarray]:
    """Planner ``name`` on fleet ``f``: with ``capacity``, jobs in arrival order against the free GPUs of their
    pool (a job that cannot finish within them runs uncapped); the plan and the over-capacity mask [J]."""
    if not capacity:
        return (run_planner(name, sj.ci_plan, sj.work, sj.g0, sj.beta, f.kw, f.speed, levels),
                np.zeros(len(sj.work), bool))

    def one(j: int, cap: np.ndarray | None) -> Plan:
        r = slice(j, j + 1)
        return run_planner(name, sj.ci_plan[r], sj.work[r], sj.g0[r], sj.beta[r], f.kw[r], f.speed[r], levels, cap)
    order = np.argsort(sj.submit, kind="stable")
    return plan_with_capacity(one, order, f.pool, sj.submit, f.capacity, sj.ci_plan.shape[1])


def compare_planners(sj: ScalingJobs, fleet_map: Mapping[str, Fleet], gens: Sequence[GpuGeneration],
                     levels: np.ndarray, pue: float, capacity: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every planner on every fleet: (one row per fleet × planner — carbon t, energy MWh, GPU-hours, completion
    mean/p95 h, deadline met %, rescales per job, peak GPUs, over-capacity jobs; GPU assignment table)."""
    rows, assign_rows = [], []
    for fleet, f in fleet_map.items():
        assign_rows += assignment_rows(fleet, f, gens, sj)
        for name in PLANNERS:
            plan, over = plan_fleet(name, f, sj, levels, capacity)
            fp = footprint(plan, sj.ci_act, f.kw, pue)
            rows.append({"fleet": fleet, "planner": name, "carbon_t": fp["kg"].sum() / 1000,
                         "energy_mwh": fp["kwh"].sum() / 1000, "gpu_hours": fp["gpu_h"].sum(),
                         "completion_mean_h": float(plan.finish_h.mean()),
                         "completion_p95_h": float(np.percentile(plan.finish_h, 95)),
                         "deadline_met_pct": float(100 * plan.done.mean()),
                         "rescales_per_job": float(plan.rescale_events().mean()),
                         "peak_gpus": peak_gpus(plan, sj.submit, sj.horizon),
                         "over_capacity_jobs": int(over.sum())})
    return pd.DataFrame(rows), pd.DataFrame(assign_rows)


def comparison_table(rows: pd.DataFrame, planning_intensity: str, gens: Sequence[GpuGeneration]) -> pd.DataFrame:
    """The comparison rows with the planning intensity's label and ``carbon_vs_homog_asap_pct`` (% vs
    ``fixed_asap`` on the homogeneous fleet, :func:`reference_fleet`)."""
    table = rows.assign(planning_intensity=planning_intensity)
    base = table[(table["fleet"] == reference_fleet(gens)) & (table["planner"] == "fixed_asap")]["carbon_t"].iloc[0]
    table["carbon_vs_homog_asap_pct"] = 100 * (table["carbon_t"] / base - 1)
    return table


def comparison_metrics(table: pd.DataFrame) -> dict[str, float]:
    """``<fleet>.<planner>.<metric>`` for :data:`METRICS`."""
    return {f"{r.fleet}.{r.planner}.{m}": float(getattr(r, m)) for r in table.itertuples(index=False)
            for m in METRICS}
