"""Metrics of a simulated policy: one flat dict of floats with stable names, plus allocation tables.

| name                     | unit  | meaning                                                                  |
|--------------------------|-------|--------------------------------------------------------------------------|
| carbon_kg                | kgCO2e| operational + transfer                                                   |
| carbon_operational_kg    | kgCO2e| Σ energy × actual intensity                                              |
| carbon_transfer_kg       | kgCO2e| Σ data × kWh/GB × mean(source, destination intensity)                    |
| energy_mwh               | MWh   | operational energy incl. PUE                                             |
| reduction_vs_perf_first  | %     | (C_perf_first − C) / C_perf_first × 100                                  |
| deadline_rate            | %     | jobs finished by their deadline / all jobs × 100                         |
| lateness_h_mean          | h     | mean (finish − deadline) over late finished jobs (0 if none)             |
| renewable_share          | %     | energy-weighted renewable share of the hours used                        |
| oracle_share             | %     | (C_perf_first − C)/(C_perf_first − B) × 100 against the bound B of the policy's own constraint set (:func:`oracle_comparison`); NaN when not comparable |
| ontime_share             | %     | the honest ranking at equal deadline performance (:func:`ontime_share`): (C_run_now − C_adj)/(C_run_now − B_on_time) × 100, B_on_time the on-time bound of the policy's set (never slack-matched), C_adj the policy's carbon with every job late by that bound (or unfinished, rejected) counted at max(its carbon, its performance_first carbon): lateness never earns a saving |
| oracle_bound_kg          | kgCO2e| that bound B (NaN when not comparable)                                   |
| oracle_bound_slack_matched | 0/1 | 1: B was solved with this policy's own lateness as slack (``scheduler.policies.oracle_bounds``) |
| completion_h_mean / _p95 | h     | finish − submit over finished jobs                                       |
| plan_seconds             | s     | total decision time (day-ahead plans + adaptations)                      |
| adapt_ms_mean / _p95 / _max | ms | per adaptation event                                                     |
| peak_mem_mb              | MB    | tracemalloc peak of one decision call (plans + every 10th adaptation)    |
| n_late, n_rejected, n_unfinished, failures | count |                                               |
| forecast_fallback_share  | %     | planned job-hours (those a placement's choice was priced over: ``Decisions.priced``, default its reservation) priced by the declared long-range fallback, not a forecast issue (NaN: none planned) |
| n_migrations             | count | moves of running jobs to another region (``Decisions.moves``)            |
| migration_gb             | GB    | checkpoint + data shipped by those moves                                 |
| migration_kg             | kgCO2e| their network carbon (part of carbon_transfer_kg)                        |
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from carbonshift.scheduler.policies.oracle import CONTIGUOUS, PREEMPTIVE, OracleBound
from carbonshift.scheduler.simulator import DONE, REJECTED, Outcome


def constraint_set(out: Outcome) -> str:
    """``preemptive`` when a job of ``out`` was suspended and resumed, else ``contiguous``."""
    suspended = out.suspensions is not None and bool((out.suspensions > 0).any())
    return PREEMPTIVE if suspended else CONTIGUOUS


def n_migrated(out: Outcome) -> int:
    """Jobs of ``out`` that moved to another region while running."""
    return 0 if out.migrations is None else int((out.migrations > 0).sum())


def oracle_comparison(out: Outcome, bounds: Mapping[str, OracleBound] | None) -> tuple[OracleBound | None, str]:
    """The oracle bound ``out`` may be compared with, and a label saying which (or why none).

    A schedule that moved a running job is in no bound's set (neither bound models a move's pause, transfer
    or change of region mid-run): ``(None, "not comparable: N migrated jobs …")``.

    The rule, used by metrics and reports alike: an outcome with a suspended job is a suspend/resume
    schedule and is compared with the ``preemptive`` bound, any other with the ``contiguous`` bound
    (``bounds`` is keyed by ``OracleBound.constraint_set``). It is comparable only when it lies in that
    bound's set: every job the bound covers finished by the bound's ``latest_finish`` (its deadline, or
    the slack the oracle itself was given). Otherwise: ``(None, "not comparable: N late jobs …")``."""
    moved = n_migrated(out)
    if moved:
        return None, f"not comparable: {moved} migrated jobs (no oracle bound models moves of running jobs)"
    want = constraint_set(out)
    b = (bounds or {}).get(want)
    if b is None:
        return None, f"not comparable: no {want} bound"
    if not np.isfinite(b.kg):
        return None, f"not comparable: {want} bound {b.kind}"
    done = out.status == DONE
    late = b.covered & done & (out.finish > b.latest_finish)
    missing = b.covered & ~done
    if late.any() or missing.any():
        why = [f"{int(late.sum())} late jobs"] if late.any() else []
        why += [f"{int(missing.sum())} unfinished or rejected jobs"] if missing.any() else []
        return None, f"not comparable: {', '.join(why)} (the {want} bound has none)"
    return b, f"{want}, {b.kind}" + (f", {b.slack}" if b.slack else "")


def ontime_share(out: Outcome, run_now_kg: np.ndarray, bounds: Mapping[str, OracleBound] | None) -> float:
    """Share (%) of the on-time oracle saving ``out`` captures when lateness earns nothing — the one ranking of
    policies at equal deadline performance (``ontime_share`` in every simulate table, JSON and Pareto figure).

    ``run_now_kg``: kgCO2e per job row of the run-now reference (performance_first's outcome, operational +
    transfer); ``bounds``: the instance's *on-time* bounds by constraint set (never slack-matched ones). A job
    is late when it did not finish by the bound's ``latest_finish`` (its deadline, or the oracle's own slack
    for a job that cannot be on time; the deadline for a job the bound does not cover), or never finished; such
    a job is counted at ``max(its carbon, its run-now carbon)`` — it keeps any extra carbon it caused and none
    it saved. Then ``(Σ run_now − Σ adjusted) / (Σ run_now − B) × 100``, B the bound of ``out``'s own set
    (:func:`constraint_set`). On-time policies get their ``oracle_share`` against the on-time bound; a late
    policy can never rank above the on-time policy it would otherwise beat only by its lateness. NaN when
    ``out`` moved a running job (no bound models moves), its set has no finite bound, or the oracle saves
    nothing over run-now."""
    if n_migrated(out):
        return float("nan")
    b = (bounds or {}).get(constraint_set(out))
    if b is None or not np.isfinite(b.kg):
        return float("nan")
    if b.slack:
        raise ValueError(f"ontime_share: needs the on-time {b.constraint_set} bound, got a {b.slack!r} one")
    run_now = np.asarray(run_now_kg, dtype=np.float64)
    if run_now.shape != out.status.shape:
        raise ValueError(f"ontime_share: run_now_kg has {run_now.shape[0]} jobs, {out.policy} has {len(out.status)}")
    limit = np.where(b.covered, b.latest_finish, out.jobs.deadline_h)
    late = (out.status != DONE) | (out.finish > limit)
    own = out.carbon_op_kg + out.carbon_tr_kg
    adjusted = float(np.where(late, np.maximum(own, run_now), own).sum())
    saving = float(run_now.sum()) - b.kg
    return float((run_now.sum() - adjusted) / saving * 100.0) if saving > 0 else float("nan")


def policy_metrics(out: Outcome, perf_first_kg: float | None = None,
                   bounds: Mapping[str, OracleBound] | None = None, run_now_kg: np.ndarray | None = None,
                   ontime_bounds: Mapping[str, OracleBound] | None = None) -> dict[str, float]:
    """Flat metrics of ``out``; the comparisons need the Performance-First carbon (kgCO2e) and the oracle
    bounds by constraint set (``oracle_share`` uses the one :func:`oracle_comparison` picks); ``ontime_share``
    (:func:`ontime_share`) needs performance_first's kgCO2e per job (``run_now_kg``) and the on-time bounds
    (``ontime_bounds``; default ``bounds``) — NaN without them."""
    jobs = out.jobs
    done = out.status == DONE
    late = done & (out.finish > jobs.deadline_h)
    completion = (out.finish - jobs.submit_h)[done]
    carbon = float(out.carbon_op_kg.sum() + out.carbon_tr_kg.sum())
    energy = float(out.energy_kwh.sum())
    adapt = np.asarray(out.adapt_ms) if out.adapt_ms else np.array([np.nan])
    m = {
        "carbon_kg": carbon,
        "carbon_operational_kg": float(out.carbon_op_kg.sum()),
        "carbon_transfer_kg": float(out.carbon_tr_kg.sum()),
        "energy_mwh": energy / 1000.0,
        "deadline_rate": float(out.on_time.mean() * 100.0) if len(jobs) else float("nan"),
        "lateness_h_mean": float((out.finish - jobs.deadline_h)[late].mean()) if late.any() else 0.0,
        "renewable_share": float(out.renewable_kwh.sum() / energy * 100.0) if energy > 0 else float("nan"),
        "completion_h_mean": float(completion.mean()) if len(completion) else float("nan"),
        "completion_h_p95": float(np.percentile(completion, 95)) if len(completion) else float("nan"),
        "plan_seconds": float(out.plan_seconds),
        "adapt_ms_mean": float(np.mean(adapt)),
        "adapt_ms_p95": float(np.percentile(adapt, 95)),
        "adapt_ms_max": float(np.max(adapt)),
        "peak_mem_mb": float(out.peak_mem_mb),
        "n_jobs": float(len(jobs)),
        "n_late": float(late.sum()),
        "n_rejected": float((out.status == REJECTED).sum()),
        "n_unfinished": float((~done & (out.status != REJECTED)).sum()),
        "failures": float(out.failures.sum()),
        "forecast_fallback_share": (100.0 * out.fallback_job_h / out.planned_job_h if out.planned_job_h
                                    else float("nan")),
        "n_migrations": float(out.migrations.sum()) if out.migrations is not None else 0.0,
        "migration_gb": float(out.migration_gb.sum()) if out.migration_gb is not None else 0.0,
        "migration_kg": float(out.migration_kg.sum()) if out.migration_kg is not None else 0.0,
    }
    m["reduction_vs_perf_first"] = (float((perf_first_kg - carbon) / perf_first_kg * 100.0)
                                    if perf_first_kg else float("nan"))
    bound, _ = oracle_comparison(out, bounds)
    saving = None if perf_first_kg is None or bound is None else perf_first_kg - bound.kg
    m["oracle_share"] = (float((perf_first_kg - carbon) / saving * 100.0)
                         if perf_first_kg is not None and saving and saving > 0 else float("nan"))
    m["ontime_share"] = (ontime_share(out, run_now_kg, ontime_bounds if ontime_bounds is not None else bounds)
                         if run_now_kg is not None else float("nan"))
    m["oracle_bound_kg"] = float(bound.kg) if bound is not None else float("nan")
    m["oracle_bound_slack_matched"] = float(bool(bound.slack)) if bound is not None else float("nan")
    return m


def region_table(out: Outcome) -> pd.DataFrame:
    """Per-region allocation: jobs (by the region each job ran in, or ended in after a move), GPU-hours,
    energy share (%), carbon, energy-weighted intensity. Energy, operational carbon and renewables count
    where each hour ran (so a moved job's hours split between regions); a job's transfer carbon counts in
    the region it ran in (ended in)."""
    if out.carbon_op_region_kg is None or out.renewable_region_kwh is None:
        raise ValueError("region_table: the Outcome has no per-region carbon/renewables (not from simulate())")
    r = out.region
    ran = r >= 0
    R = len(out.regions)
    gpu_h = out.usage.sum(axis=1).astype(float)
    energy, renew = out.energy_hod.sum(axis=1), out.renewable_region_kwh
    carbon = out.carbon_op_region_kg + np.bincount(r[ran], weights=out.carbon_tr_kg[ran], minlength=R)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({
            "policy": out.policy, "region": out.regions, "jobs": np.bincount(r[ran], minlength=R),
            "gpu_hours": gpu_h, "energy_share_pct": energy / max(energy.sum(), 1e-12) * 100.0,
            "carbon_kg": carbon, "intensity_g_per_kwh": carbon * 1000.0 / energy,
            "renewable_share_pct": renew / energy * 100.0})


def hour_of_day_table(out: Outcome) -> pd.DataFrame:
    """Energy share (%) of each region by UTC hour of day (rows: hours 0–23, columns: regions)."""
    total = out.energy_hod.sum()
    df = pd.DataFrame((out.energy_hod / max(total, 1e-12) * 100.0).T, columns=out.regions)
    df.insert(0, "hour_utc", np.arange(24))
    df.insert(0, "policy", out.policy)
    return df
